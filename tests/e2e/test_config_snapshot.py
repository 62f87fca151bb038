"""Every worker of one server starts from the configuration the master read before forking,
as TensorFlow Serving's single process does: a config rewritten later reaches the workers
only through polling, never through a worker that happens to start (or restart) late."""
from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.support.helpers import ServerProcess, copy_model, wait_until, write_config
from tests.support.workers import booted_workers, listen_queues, worker_pids

pytestmark = pytest.mark.e2e


def models_seen(server, tries: int = 40) -> set[frozenset]:
    """The model sets the workers answer with, each asked on a fresh connection."""
    seen = set()
    for _ in range(tries):
        reply = requests.get(server.url + "/v1/models", headers={"Connection": "close"}, timeout=30)
        seen.add(frozenset(m["name"] for m in reply.json()["models"]))
    return seen


def test_a_worker_restarted_after_the_config_changed_serves_what_the_others_serve(tmp_path):
    first = copy_model("saved_model_half_plus_two_cpu", tmp_path / "first")
    second = copy_model("saved_model_half_plus_three", tmp_path / "second")
    config = write_config(tmp_path / "models.config", {"first": first})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--model_config_file_poll_wait_seconds=0")  # read once
    try:
        assert models_seen(server) == {frozenset({"first"})}
        write_config(config, {"second": second})  # not read again: polling is off
        victim = worker_pids(server)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(booted_workers(server)) == 3 and len(worker_pids(server)) == 2,
                   120, "gunicorn to boot a replacement worker")
        # A worker opens its socket only once its models are loaded: two sockets, so the
        # fresh connections below reach the replacement too.
        wait_until(lambda: len(listen_queues(server.port)) == 2, 120,
                   "the replacement worker to load and listen")
        assert models_seen(server, 60) == {frozenset({"first"})}
        other = requests.post(server.url + "/v1/models/second:predict", timeout=30,
                              json={"instances": [1.0]}, headers={"Connection": "close"})
        assert other.status_code == 404
    finally:
        server.stop()


def test_with_polling_on_every_worker_moves_to_the_rewritten_config(tmp_path):
    first = copy_model("saved_model_half_plus_two_cpu", tmp_path / "first")
    second = copy_model("saved_model_half_plus_three", tmp_path / "second")
    config = write_config(tmp_path / "models.config", {"first": first})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--model_config_file_poll_wait_seconds=1")
    try:
        write_config(config, {"first": first, "second": second})
        wait_until(lambda: models_seen(server, 20) == {frozenset({"first", "second"})}, 30,
                   "both workers to read the new config")
    finally:
        server.stop()
