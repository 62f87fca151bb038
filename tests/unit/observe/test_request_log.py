"""--request_log_url: a sampled request and its response as two CloudEvents (KServe's
logger's shape, binary mode) sharing one id; never a slower or failed request: a full queue
or a dead sink drops the events and counts them."""
from __future__ import annotations

import socket

import pytest

from serving import observe
from serving.observe import request_log
from tests.support.helpers import eventually
from tests.support.observe_sinks import EventSink


def sampled_exchange():
    exchange = observe.begin("http", "POST", "/v1/models/m:predict", "127.0.0.1")
    exchange.resolved("m", 7, "serving_default")
    exchange.request_body, exchange.request_type = b'{"instances": [1]}', "application/json"
    exchange.response_body, exchange.response_type = b'{"predictions": [2]}', "application/json"
    return exchange


def test_the_pair_shares_an_id_and_carries_the_bodies_as_they_were(configure):
    configure(request_log_url="http://127.0.0.1:9/", request_log_sample_rate=1.0)
    exchange = sampled_exchange()
    assert exchange.sampled
    (asked, asked_body), (answered, answered_body) = request_log.events(
        exchange, "http://host/model-server", "team-a")
    assert asked["ce-id"] == answered["ce-id"] == exchange.event_id
    assert (asked["ce-type"], answered["ce-type"]) == (
        "org.kubeflow.serving.inference.request", "org.kubeflow.serving.inference.response")
    for headers in (asked, answered):
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-source"] == "http://host/model-server"
        assert headers["ce-inferenceservicename"] == "m"
        assert headers["ce-modelversion"] == "7"
        assert headers["ce-namespace"] == "team-a"
        assert headers["content-type"] == "application/json"
    assert (asked_body, answered_body) == (b'{"instances": [1]}', b'{"predictions": [2]}')
    observe.finish(exchange, 200)


def test_the_sample_rate_decides_which_requests_are_sent(configure):
    configure(request_log_url="http://127.0.0.1:9/", request_log_sample_rate=0.0)
    exchange = observe.begin("http", "POST", "/v1/models/m:predict", "127.0.0.1")
    assert not exchange.sampled
    observe.finish(exchange, 200)


def test_a_full_queue_drops_and_counts_without_waiting(monkeypatch):
    dropped = []
    monkeypatch.setattr(request_log.metrics, "request_log_dropped", dropped.append)
    log = request_log.RequestLog("http://127.0.0.1:9/", capacity=2)
    monkeypatch.setattr(log, "_begin", lambda: None)  # no sender: the queue only fills
    log._thread = object()
    with _exchange() as exchange:
        log.send(exchange, 0.0)   # the pair fills the queue
        log.send(exchange, 0.0)   # both dropped
    assert dropped == ["queue_full", "queue_full"]


def test_a_dead_sink_loses_the_events_and_counts_them(monkeypatch):
    dropped = []
    monkeypatch.setattr(request_log.metrics, "request_log_dropped", dropped.append)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = request_log.RequestLog(f"http://127.0.0.1:{port}/")
    with _exchange() as exchange:
        log.send(exchange, 0.0)
    assert eventually(lambda: dropped == ["send_failed", "send_failed"])
    log.close()


def test_a_live_sink_gets_both_events():
    sink = EventSink()
    log = request_log.RequestLog(sink.url + "/events")
    try:
        with _exchange() as exchange:
            log.send(exchange, 0.0)
        assert eventually(lambda: len(sink.snapshot()) == 2)
        (first, body), (second, _) = sink.snapshot()
        assert first["ce-id"] == second["ce-id"] and body == b'{"instances": [1]}'
    finally:
        log.close()
        sink.close()


@pytest.mark.parametrize("url", ["ftp://host/", "not a url", "http:///path"])
def test_a_url_that_is_not_http_stops_the_start(url):
    with pytest.raises(ValueError, match="request_log_url"):
        request_log.RequestLog(url)


class _exchange:
    def __enter__(self):
        exchange = observe.Exchange("http", "POST", "/v1/models/m:predict", "127.0.0.1")
        exchange.event_id = "id-1"
        exchange.resolved("m", 7, "serving_default")
        exchange.request_body, exchange.response_body = b'{"instances": [1]}', b"{}"
        return exchange

    def __exit__(self, *exc):
        return False
