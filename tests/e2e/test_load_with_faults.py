"""Load with faults: LOAD_SECONDS of 64 concurrent clients mixing correct requests with the
hostile corpus, while new versions of a served model appear and old ones disappear from its
base path. Every correct request gets its correct answer, every hostile one a 4xx, no
gunicorn worker is restarted, and worker memory comes back near where it started."""
from __future__ import annotations

import math
import os
import shutil
import statistics
import threading
import time

import pytest
import requests

from tests.support.guarded_server import LIMITS, TINY_PNG
from tests.support.helpers import ROOT, ServerProcess, copy_model, copy_version, write_config
from tests.support.hostile import MALFORMED, OVER_LIMITS
from tests.support.workers import booted_workers, rss_bytes, worker_pids

LOAD_SECONDS = 30        # what CI runs (7 version swaps); LOAD_FAULTS_SECONDS=60 for a longer one
CLIENTS = 64
SWAP_EVERY = 4.0         # seconds between a new version appearing and the next
RSS_SLACK = 96 * 1024 * 1024  # allocator arenas and caches a worker keeps after a peak

GOOD = [  # (method, path, JSON body or raw bytes, content type)
    ("POST", "/v1/models/versioned:predict", {"instances": [1.0, 2.0, 5.0]}, None),
    ("POST", "/v1/models/half_plus_two:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]}, None),
    ("POST", "/get_my_predictions", {"text": "hello world"}, None),
    ("POST", "/v1/images/digits:classify", TINY_PNG, "image/png"),
    ("GET", "/v1/models/half_plus_two", None, None),
]
BAD = [(method, path, body, headers) for _, method, path, body, headers in MALFORMED
       if path != "/"] + [case[1:5] for case in OVER_LIMITS]


@pytest.fixture(scope="module")
def churn_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("churn")
    versioned = base / "versioned"
    copy_version("saved_model_half_plus_two_cpu", versioned, 1)
    config = write_config(base / "models.config", {
        "versioned": versioned,
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two"),
        "model_a": ROOT / "models" / "model_a", "model_b": ROOT / "models" / "model_b",
        "digits": ROOT / "models" / "digits"})
    process = ServerProcess(f"--model_config_file={config}", "--enable_batching", "--workers=2",
                            "--file_system_poll_wait_seconds=1", ready_path="/readyz",
                            *(f"--{name}={value}" for name, value in LIMITS.items()))
    yield process, versioned
    process.stop()


def send(session, url: str, request) -> requests.Response:
    method, path, body, kind = request
    if isinstance(body, bytes):
        return session.request(method, url + path, data=body, timeout=60,
                               headers={"Content-Type": kind} if isinstance(kind, str) else kind)
    return session.request(method, url + path, json=body, timeout=60)


def answer(reply: requests.Response):
    return reply.status_code, reply.json()


def same(a, b) -> bool:
    """Equal, numbers to float32 precision: a batch of several rows may round differently."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)
    return a == b


class Churn(threading.Thread):
    """Adds version N+1 to the base path, waits until it serves, then removes version N."""

    def __init__(self, server, base, stop: threading.Event):
        super().__init__(daemon=True)
        self.server, self.base, self.stop, self.swaps, self.errors = server, base, stop, 0, []

    def run(self) -> None:
        version = 1
        while not self.stop.wait(SWAP_EVERY):
            copy_version("saved_model_half_plus_two_cpu", self.base, version + 1)
            if not self._serving(version + 1):
                self.errors.append(f"version {version + 1} never became AVAILABLE")
                return
            shutil.rmtree(self.base / str(version))
            version += 1
            self.swaps += 1

    def _serving(self, version: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.server.get("/v1/models/versioned").json()["model_version_status"]
            if {"version": str(version), "state": "AVAILABLE"}.items() <= states[0].items():
                return True
            time.sleep(0.2)
        return False


def test_correct_requests_never_fail_under_hostile_load_and_version_churn(churn_server):
    server, versioned = churn_server
    expected = {}
    with requests.Session() as session:  # warm every path, and learn the correct answers
        for request in GOOD:
            reply = send(session, server.url, request)
            assert reply.status_code == 200, (request[:2], reply.text[:300])
            expected[request[:2]] = answer(reply)
        session.headers["Connection"] = "close"
        for request in BAD:
            assert 400 <= send(session, server.url, request).status_code < 500, request[:2]
    workers, booted = worker_pids(server), booted_workers(server)
    baseline = {pid: rss_bytes(pid) for pid in workers}

    seconds = float(os.environ.get("LOAD_FAULTS_SECONDS", LOAD_SECONDS))
    stop, lock = threading.Event(), threading.Lock()
    failures, refused_wrongly, latencies, counts = [], [], [], {"good": 0, "bad": 0}

    def client(index: int) -> None:
        # A well-behaved client keeps its own connection; the hostile one sends each request on
        # a new connection: gunicorn closes a connection whose oversized body it did not read.
        with requests.Session() as session, requests.Session() as hostile:
            hostile.headers["Connection"] = "close"
            turn = index
            while not stop.is_set():
                turn += 1
                good = turn % 2 == 0
                request = GOOD[turn % len(GOOD)] if good else BAD[turn % len(BAD)]
                started = time.monotonic()
                try:
                    reply = send(session if good else hostile, server.url, request)
                    outcome = answer(reply) if good else reply.status_code
                except requests.ConnectionError as exc:  # refused to read it all: may reset
                    oversized = not good and len(request[2]) > LIMITS["max_request_bytes"]
                    outcome = 413 if oversized else repr(exc)
                except (requests.RequestException, ValueError) as exc:
                    outcome = repr(exc)
                with lock:
                    counts["good" if good else "bad"] += 1
                    if good:
                        latencies.append(time.monotonic() - started)
                        if not same(outcome, expected[request[:2]]):
                            failures.append((request[:2], str(outcome)[:300]))
                    elif not (isinstance(outcome, int) and 400 <= outcome < 500):
                        refused_wrongly.append((request[:2], outcome))

    churn = Churn(server, versioned, stop)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    started = time.monotonic()
    for thread in [churn, *threads]:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in [churn, *threads]:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    time.sleep(3.0)  # let the last unload finish and the allocator settle
    after = {pid: rss_bytes(pid) for pid in workers}
    latencies.sort()
    print(f"\nload with faults: {seconds:.0f} s, {CLIENTS} clients, {counts['good']} correct + "
          f"{counts['bad']} hostile requests ({sum(counts.values()) / elapsed:.0f}/s), "
          f"{churn.swaps} version swaps; correct-request latency p50 "
          f"{statistics.median(latencies) * 1000:.0f} ms, p99 "
          f"{latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms; worker RSS MB before/after: "
          f"{[(round(baseline[p] / 2**20), round(after[p] / 2**20)) for p in workers]}")

    assert failures == [], failures[:5]
    assert refused_wrongly == [], refused_wrongly[:5]
    assert churn.errors == [] and churn.swaps >= max(1, int(seconds / SWAP_EVERY) // 2)
    assert worker_pids(server) == workers and booted_workers(server) == booted
    for pid in workers:
        assert after[pid] - baseline[pid] < RSS_SLACK, (pid, baseline[pid], after[pid])
