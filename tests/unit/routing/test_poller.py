"""Each worker's poller (serving/routing/poller.py) applies what another worker wrote, keeps
running through a bad tick, and stops when the worker closes."""
from __future__ import annotations

import json
import time

from serving.config.settings import Settings
from serving.routing.poller import Poller


def wait_for(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def poller(control, **settings) -> Poller:
    return Poller(control, Settings.load(environ={}, overrides={
        "file_system_poll_wait_seconds": 0.05, **settings}))


def test_a_pin_another_worker_wrote_reaches_this_one_within_a_tick(workers):
    (writer, reader), _ = workers
    polling = poller(reader)
    polling.start()
    try:
        writer.pin("m", 1)
        assert wait_for(lambda: reader.describe("m")["default"] == 1)
        writer.clear_route("m", "default")
        assert wait_for(lambda: reader.describe("m")["default"] is None)
    finally:
        polling.stop()


def test_a_tick_that_fails_is_logged_and_the_next_one_runs(workers, caplog):
    (writer, reader), state = workers
    polling = poller(reader)
    polling.start()
    try:
        state.write_text("{not json")                      # a hand edit gone wrong
        assert wait_for(lambda: "routing state" in caplog.text)
        state.write_text(json.dumps({"models": {"m": {"default": 2}}}))
        assert wait_for(lambda: reader.describe("m")["default"] == 2)
        assert polling._thread.is_alive()
    finally:
        polling.stop()
    assert not polling._thread.is_alive()


def test_with_every_poll_off_and_no_grpc_port_the_state_is_still_watched_every_second(workers):
    """/v2/repository's load and unload are always on: they reach the other workers by disk."""
    (_, reader), _ = workers
    polling = Poller(reader, Settings.load(environ={}, overrides={
        "file_system_poll_wait_seconds": 0, "model_config_file_poll_wait_seconds": 0,
        "port": 0}))
    assert polling.tick == 1.0
    polling.start()
    try:
        assert polling._thread.is_alive()
    finally:
        polling.stop()


def test_with_every_poll_off_a_grpc_port_still_watches_for_reloads_every_second(workers):
    (_, reader), _ = workers
    polling = Poller(reader, Settings.load(environ={}, overrides={
        "file_system_poll_wait_seconds": 0, "model_config_file_poll_wait_seconds": 0}))
    assert polling.tick == 1.0
