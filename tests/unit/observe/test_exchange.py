"""One record per request: begun by a front, filled by the core and the batcher, finished
once into one JSON access-log line with the same fields for every protocol."""
from __future__ import annotations

import json
import os
import threading

import numpy as np

from serving import observe
from serving.batching.batcher import Batcher
from serving.config.batching import BatchingOptions

FOREVER = 1000 * 1000 * 1000  # µs: a batch window that never closes by itself


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_nothing_on_means_no_record_at_all(configure):
    configure()
    assert not observe.active()
    assert observe.current() is None


def test_a_request_leaves_one_json_line_with_what_answered_it(configure, tmp_path):
    log = tmp_path / "access.log"
    configure(access_log=str(log))
    assert observe.active()
    exchange = observe.begin("grpc", "/tensorflow.serving.PredictionService/Predict", "",
                             "ipv4:127.0.0.1:5000")
    assert observe.current() is exchange
    exchange.verb, exchange.bytes_in = "predict", 42
    exchange.resolved("half_plus_two", 123, "serving_default")
    observe.batch_ran([exchange], [exchange.started], 1, exchange.started + 0.25,
                      exchange.started + 0.5, ("half_plus_two", "123", "serving_default"))
    observe.finish(exchange, "OK", 63)
    assert observe.current() is None
    (line,) = lines(log)
    assert {key: line[key] for key in ("client", "protocol", "method", "verb", "model",
                                       "version", "signature", "status", "bytes_in",
                                       "bytes_out", "batch", "queue_wait", "pid")} == {
        "client": "ipv4:127.0.0.1:5000", "protocol": "grpc",
        "method": "/tensorflow.serving.PredictionService/Predict", "verb": "predict",
        "model": "half_plus_two", "version": "123", "signature": "serving_default",
        "status": "OK", "bytes_in": 42, "bytes_out": 63, "batch": 1, "queue_wait": 0.25,
        "pid": os.getpid()}
    assert line["time"].endswith("+00:00") and line["latency"] >= 0
    assert "trace_id" not in line  # tracing is off


def test_a_failing_log_never_fails_the_request(configure, tmp_path, caplog):
    log = tmp_path / "access.log"
    configure(access_log=str(log))
    from serving.observe import exchange as module
    os.close(module._sinks.access.fd)  # every write now fails (EBADF)
    module._sinks.access.fd = os.open(os.devnull, os.O_RDONLY)
    observe.finish(observe.begin("http", "GET", "/v1/models", "127.0.0.1"), 200, 10)
    assert "observing a request failed (write)" in caplog.text
    assert observe.current() is None


class _Gate:
    """y = 2x; holds its first run until released, so later requests queue behind it."""

    def __init__(self):
        self.entered, self.release, self.rows = threading.Event(), threading.Event(), []

    def __call__(self, feeds):
        self.rows.append(len(feeds["x"]))
        if len(self.rows) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return {"y": feeds["x"] * 2}


def test_the_batcher_tells_each_request_its_batch_and_queue_wait(configure, tmp_path):
    log = tmp_path / "access.log"
    configure(access_log=str(log))
    model = _Gate()
    batcher = Batcher(model, BatchingOptions(max_batch_size=3, batch_timeout_micros=FOREVER,
                                             num_batch_threads=1), ("m", "1", "sig"))
    def first():
        exchange = observe.begin("http", "POST", "/first", "client")
        batcher.run({"x": np.array([[1.0]], np.float32)}, 1, timeout=10)
        observe.finish(exchange, 200)

    try:
        alone = threading.Thread(target=first)
        alone.start()
        assert model.entered.wait(10)  # runs inline and holds the only slot
        riders = []
        for i in range(3):  # each queued with its own record (the current one at submit)
            riders.append((observe.begin("http", "POST", f"/rider{i}", "client"),
                           batcher.submit({"x": np.array([[float(i)]], np.float32)}, 1)))
        model.release.set()
        alone.join(10)
        for exchange, future in riders:
            future.result(10)
            observe.finish(exchange, 200)
    finally:
        batcher.shutdown()
    assert model.rows == [1, 3]
    by_target = {line["target"]: line for line in lines(log)}
    assert by_target["/first"]["batch"] == 1
    assert [by_target[f"/rider{i}"]["batch"] for i in range(3)] == [3, 3, 3]
    assert all(by_target[f"/rider{i}"]["queue_wait"] > 0 for i in range(3))
