"""Overload and timeouts through the real server with batching on: past the queue limit a
request is refused at once (503, TF Serving's "queue is full"), a request that waits past
rest_api_timeout_in_ms is answered 504 and never run, and the server recovers by itself.

The model sleeps as many milliseconds as its input says (tests/support/slow_model.py) and counts the
rows it ran, so "never run" is read from the model itself."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from serving.config.batching import PER_MODEL_FILE
from tests.support.helpers import ServerProcess, copy_model, write_config
from tests.support.slow_model import export_slow_model
from tests.support.workers import rss_bytes, worker_pids

TIMEOUT_MS = 1000
# One batch of one row at a time, and room for one more request in the queue.
TINY_QUEUE = ("max_batch_size { value: 1 } batch_timeout_micros { value: 0 } "
              "max_enqueued_batches { value: 1 } num_batch_threads { value: 1 }")


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("overload")
    export_slow_model(base / "slow" / "1")
    (base / "slow" / PER_MODEL_FILE).write_text(TINY_QUEUE)
    config = write_config(base / "models.config", {
        "slow": base / "slow",
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")})
    # One worker: the counts below are of one process's queue (each worker has its own).
    process = ServerProcess(f"--model_config_file={config}", "--enable_batching", "--workers=1",
                            f"--rest_api_timeout_in_ms={TIMEOUT_MS}", ready_path="/readyz")
    yield process
    process.stop()


def sleep_for(server, millis: float, session=None):
    """(status, seconds taken, JSON) of one request that runs `millis` ms in the model."""
    started = time.monotonic()
    reply = (session or requests).post(server.url + "/v1/models/slow:predict", timeout=60,
                                       json={"instances": [[millis]]})
    return reply.status_code, time.monotonic() - started, reply.json()


def rows_run(server) -> int:
    reply = server.post("/v1/models/slow:predict", {"signature_name": "runs", "instances": [[0]]})
    return reply.json()["predictions"][0]


def burst(server, count: int, millis: float) -> list:
    start = threading.Barrier(count)

    def one(_):
        start.wait()
        return sleep_for(server, millis)
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def settle(server, seconds: float = 3.5) -> None:
    """Wait out anything the burst left queued or running (two 1.5 s runs at most)."""
    time.sleep(seconds)


def test_a_full_queue_answers_503_at_once_and_a_request_past_its_deadline_504_unrun(slow_server):
    before = rows_run(slow_server)
    answers = burst(slow_server, 8, 1500)
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503, 504} and statuses.count(503) >= 4, answers
    for status, seconds, body in answers:
        if status == 503:
            assert seconds < 0.5 and "queue" in body["error"] and "full" in body["error"]
        if status == 504:
            assert seconds >= TIMEOUT_MS / 1000 and "Deadline exceeded" in body["error"]
    settle(slow_server)
    # Only what was answered 200 ever ran: a 504 was withdrawn before it could run.
    assert rows_run(slow_server) - before == statuses.count(200), answers


def test_the_server_recovers_by_itself_once_the_burst_is_over(slow_server):
    burst(slow_server, 8, 800)
    waited, deadline = [], time.monotonic() + 5.0
    while time.monotonic() < deadline:
        status, seconds, body = sleep_for(slow_server, 1)
        waited.append(status)
        if status == 200:
            break
        time.sleep(0.1)
    assert (status, body) == (200, {"predictions": [[2.0]]}) and set(waited) <= {200, 503}, waited
    other = slow_server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]})
    assert other.json() == {"predictions": [2.5]}


def test_a_flood_is_shed_with_503s_and_memory_stays_bounded(slow_server):
    (pid,) = worker_pids(slow_server)
    burst(slow_server, 16, 50)  # warm every path once
    baseline = rss_bytes(pid)
    stop, counts, lock = time.monotonic() + 8.0, {}, threading.Lock()

    def client(_):
        with requests.Session() as session:
            while time.monotonic() < stop:
                status = sleep_for(slow_server, 200, session)[0]
                with lock:
                    counts[status] = counts.get(status, 0) + 1

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(client, range(64)))
    print(f"\nflood: 64 clients for 8 s on a 1-slot queue: answers by status {counts}; worker RSS "
          f"{baseline / 2**20:.0f} MB before, {rss_bytes(pid) / 2**20:.0f} MB after")
    assert set(counts) <= {200, 503, 504} and counts.get(503, 0) > 10 * counts.get(200, 1), counts
    assert rss_bytes(pid) - baseline < 64 * 1024 * 1024, (baseline, rss_bytes(pid))
    assert worker_pids(slow_server) == [pid]
    assert sleep_for(slow_server, 1)[0] == 200
