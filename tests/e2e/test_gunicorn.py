"""gunicorn as shipped (`python app.py`): every worker builds its own TensorFlow after the fork,
metrics add up over workers, a dead worker is replaced, and SIGTERM loses no request."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_deploy_files import dockerfile_instructions
from tests.support.helpers import ServerProcess, half_plus_two_config, wait_until
from tests.support.observe_sinks import access_lines
from tests.support.workers import listen_queues, worker_pids

pytestmark = pytest.mark.e2e
PREDICT = "/v1/models/half_plus_two:predict"


def answer_for(x: float) -> dict:
    return {"predictions": [x / 2 + 2]}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return half_plus_two_config(tmp_path_factory.mktemp("gunicorn"))


@pytest.fixture(scope="module")
def two_workers(config):
    """Two workers, a metrics directory we can look into, a GPU flag on a CPU machine, and the
    access log on (it names the worker that answered)."""
    metrics_dir = config.parent / "metrics"
    server = ServerProcess(f"--model_config_file={config}", "--workers=2", "--visible_gpus=0",
                           "--access_log=-",
                           env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, ready_path="/readyz")
    server.metrics_dir = metrics_dir
    wait_until(lambda: scrape(server, "serving_workers") == 2, 90, "both workers to load their models")
    yield server
    server.stop()


def scrape(server, name: str, **labels) -> float:
    page = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(page) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def maps_tensorflow(pid: int) -> bool:
    return "libtensorflow_framework" in Path(f"/proc/{pid}/maps").read_text()


def answering_pids(server) -> set[int]:
    log = server.log_path.read_text(errors="replace")
    return {line["pid"] for line in access_lines(log)
            if (line["method"], line["target"], line["status"]) == ("POST", PREDICT, 200)}


def predict_on_fresh_connections(server, count: int) -> None:
    """`count` predicts from 8 threads, one new connection each, every answer checked."""
    def one(i):
        reply = requests.post(server.url + PREDICT, json={"instances": [float(i)]},
                              headers={"Connection": "close"}, timeout=30)
        assert (reply.status_code, reply.json()) == (200, answer_for(i))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def test_each_worker_loads_its_own_models_after_the_fork(two_workers):
    workers = set(worker_pids(two_workers))
    assert len(workers) == 2
    # The classic TensorFlow-and-fork deadlock cannot happen: the master never loads TF.
    assert not maps_tensorflow(two_workers.process.pid)
    assert all(maps_tensorflow(pid) for pid in workers)
    deadline = time.monotonic() + 60
    while answering_pids(two_workers) != workers and time.monotonic() < deadline:
        predict_on_fresh_connections(two_workers, 32)
    assert answering_pids(two_workers) == workers


def test_metrics_add_up_over_all_workers(two_workers):
    labels = dict(model="half_plus_two", version="123", verb="predict", status="200")
    before = scrape(two_workers, "serving_requests_total", **labels)
    predict_on_fresh_connections(two_workers, 40)
    for _ in range(4):   # whichever worker answers the scrape reports every worker's count
        assert scrape(two_workers, "serving_requests_total", **labels) == before + 40
    assert scrape(two_workers, "serving_workers") == 2


def test_a_killed_worker_is_replaced_and_stops_counting(two_workers):
    before = set(worker_pids(two_workers))
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(set(worker_pids(two_workers)) - before) == 1, 90, "a replacement worker")
    (fresh,) = set(worker_pids(two_workers)) - before
    deadline = time.monotonic() + 60   # the replacement loads its models, then answers too
    while fresh not in answering_pids(two_workers) and time.monotonic() < deadline:
        predict_on_fresh_connections(two_workers, 16)
    assert fresh in answering_pids(two_workers)
    # child_exit dropped the dead worker's live gauges: 2 workers serve, not 3.
    assert not (two_workers.metrics_dir / f"gauge_livesum_{victim}.db").exists()
    assert scrape(two_workers, "serving_workers") == 2


def test_the_dockerfile_healthcheck_command_runs_outside_docker(two_workers):
    command = json.loads(dict(dockerfile_instructions())["HEALTHCHECK"].split(" CMD ", 1)[1])
    run = lambda port: subprocess.run(command, env={**os.environ, "REST_API_PORT": str(port)},
                                      capture_output=True, timeout=30).returncode
    assert run(two_workers.port) == 0
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        assert run(closed.getsockname()[1]) != 0   # nothing listens there


def accept_queue(port: int) -> int:
    """Connections the kernel holds for the listeners that no worker has accepted yet."""
    queues = listen_queues(port)
    assert queues, f"no listener on port {port}"
    return sum(queues)


def test_sigterm_finishes_every_accepted_request(config):
    """24 predicts are in flight (more than the 16 threads: some wait in gunicorn's queue),
    each with half its body sent, when the master gets SIGTERM; all must be answered."""
    server = ServerProcess(f"--model_config_file={config}", "--threads=16", ready_path="/readyz")
    try:
        pending = []
        for i in range(24):
            body = json.dumps({"instances": [float(i)]}).encode()
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: test\r\nContent-Type: "
                         f"application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                         + body[:6])
            pending.append((i, sock, body[6:]))
        wait_until(lambda: accept_queue(server.port) == 0, 30, "the worker to accept all")
        os.kill(server.process.pid, signal.SIGTERM)   # what docker stop / Kubernetes send
        wait_until(lambda: "Handling signal: term" in server.log(), 30, "the master to act")
        for i, sock, rest in pending:
            sock.sendall(rest)
        for i, sock, _ in pending:
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            assert (reply.status, json.loads(reply.read())) == (200, answer_for(i))
            sock.close()
        assert server.process.wait(timeout=30) == 0
        log = server.log_path.read_text(errors="replace")
        assert "models unloaded, batchers drained" in log
    finally:
        server.stop()


def test_the_access_log_is_off_unless_asked_for(server, two_workers):
    """TF Serving writes none and nginx logs every request in front of us; one line per
    request cost about a fifth of a small request's CPU (bench/README.md)."""
    def predicts(running):
        return [line for line in access_lines(running.log_path.read_text())
                if line["target"] == PREDICT and line["verb"] == "predict"]
    for running in (server, two_workers):  # started without and with --access_log=-
        assert running.post(PREDICT, json={"instances": [1.0]}).status_code == 200
    wait_until(lambda: predicts(two_workers), 10, "the access-log line")
    assert not predicts(server)
    assert not re.search(r'"POST /v1/models/half_plus_two:predict HTTP/1\.1" 200',
                         two_workers.log_path.read_text())  # gunicorn's own line is gone
