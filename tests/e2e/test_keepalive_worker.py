"""The shipped gunicorn worker (deploy/worker.py): a kept-alive connection's next request is
answered in the same thread only while no other connection waits for one, so clients that
outnumber the threads are all served, and a quiet connection is handed back to the poller."""
from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from tests.support.helpers import ServerProcess, half_plus_two_config

pytestmark = pytest.mark.e2e
PREDICT = "/v1/models/half_plus_two:predict"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return half_plus_two_config(tmp_path_factory.mktemp("keepalive"))


@pytest.fixture(scope="module")
def two_threads(config):
    """One worker with two threads: six busy connections outnumber them three to one. The
    wait is long (300 ms, not the shipped 2), so a thread that kept its connection while
    others queue would starve them for good, not just for a while."""
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", "--threads=2",
                           "--port=0", "--keepalive_wait_ms=300")
    yield server
    server.stop()


def predict(connection: http.client.HTTPConnection, x: float) -> float:
    connection.request("POST", PREDICT, json.dumps({"instances": [x]}),
                       {"Content-Type": "application/json"})
    answer = connection.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 200, body
    return body["predictions"][0]


def test_one_connection_gets_every_answer_in_order(two_threads):
    connection = http.client.HTTPConnection("127.0.0.1", two_threads.port, timeout=10)
    try:
        assert [predict(connection, float(x)) for x in range(50)] == [x / 2 + 2
                                                                       for x in range(50)]
    finally:
        connection.close()


def test_connections_outnumbering_the_threads_are_all_served(two_threads):
    """Without the fairness rule two threads would keep their two connections and the other
    four would wait for as long as those stay busy."""
    counts, stop = [0] * 6, threading.Event()

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", two_threads.port, timeout=30)
        try:
            while not stop.is_set():
                assert predict(connection, float(index)) == index / 2 + 2
                counts[index] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert min(counts) > 0.2 * (sum(counts) / len(counts)), counts


def test_a_quiet_connection_holds_its_thread_no_longer_than_the_wait(two_threads):
    """Two idle kept-alive connections (as many as there are threads) keep their threads
    for the 300 ms wait at most: a third client is answered within it, and the idle
    connections still work afterwards."""
    idle = [http.client.HTTPConnection("127.0.0.1", two_threads.port, timeout=10)
            for _ in range(2)]
    other = http.client.HTTPConnection("127.0.0.1", two_threads.port, timeout=10)
    try:
        for connection in idle:
            assert predict(connection, 2.0) == 3.0
        started = time.monotonic()
        assert predict(other, 4.0) == 4.0
        assert time.monotonic() - started < 0.3 + 0.5
        assert [predict(connection, 6.0) for connection in idle] == [5.0, 5.0]
    finally:
        for connection in [*idle, other]:
            connection.close()


def test_plain_gthread_when_the_wait_is_zero(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", "--port=0",
                           "--keepalive_wait_ms=0")
    try:
        assert "Using worker: gthread" in server.log()
        assert server.post(PREDICT, json={"instances": [1.0]}).json() == {"predictions": [2.5]}
    finally:
        server.stop()


def test_the_shipped_worker_is_the_keepalive_one(server):
    """`server` is started with the shipped settings (no --keepalive_wait_ms)."""
    assert "Using worker: KeepAliveWorker" in server.log_path.read_text(errors="replace")


def test_a_positive_wait_runs_the_keepalive_worker(two_threads):
    assert "Using worker: KeepAliveWorker" in two_threads.log()
