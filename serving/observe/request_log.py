"""--request_log_url: each sampled request and its response as two CloudEvents, sent to an
HTTP sink the way KServe's inference logger sends them (binary content mode: the body as it
was, the event in `ce-*` headers; request and response share `ce-id`).

A request only puts its pair on a bounded queue; one daemon thread (started with the first
event, so never before gunicorn forks) posts them. A full queue or a sink that fails drops
the event and counts it (serving_request_log_dropped_total): never a slower request.
"""
from __future__ import annotations

import datetime
import http.client
import logging
import os
import queue
import socket
import threading
from urllib.parse import urlsplit

from serving import metrics

log = logging.getLogger(__name__)
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
SEND_TIMEOUT = 2.0  # seconds a post may take; a sink slower than that loses events, not time


def events(exchange, source: str, namespace: str = "") -> list[tuple[dict, bytes]]:
    """(headers, body) of the request's event and of the response's."""
    common = {"ce-specversion": "1.0", "ce-id": exchange.event_id, "ce-source": source,
              "ce-time": datetime.datetime.fromtimestamp(exchange.wall, datetime.timezone.utc)
              .isoformat(), "ce-inferenceservicename": exchange.model,
              "ce-modelversion": exchange.version}
    if namespace:
        common["ce-namespace"] = namespace
    pair = []
    for kind, body, content_type in ((REQUEST_TYPE, exchange.request_body,
                                      exchange.request_type),
                                     (RESPONSE_TYPE, exchange.response_body,
                                      exchange.response_type)):
        headers = {**common, "ce-type": kind,
                   "content-type": content_type or "application/octet-stream"}
        pair.append((headers, bytes(body or b"")))
    return pair


class RequestLog:
    def __init__(self, url: str, capacity: int = 1000):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--request_log_url must be an http(s) URL, got {url!r}")
        self.url, self.parts = url, parts
        self.source = f"http://{socket.gethostname()}/model-server"
        self.namespace = os.environ.get("POD_NAMESPACE", "")
        self._queue: queue.Queue = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._connection = None

    def send(self, exchange, ended: float) -> None:
        """Queue the pair; drop (and count) it when the queue is full."""
        if self._thread is None:
            self._begin()
        for event in events(exchange, self.source, self.namespace):
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                metrics.request_log_dropped("queue_full")

    def _begin(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._post_all, name="request-log",
                                                daemon=True)
                self._thread.start()

    def _post_all(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._post(*event)
            except Exception as exc:  # noqa: BLE001 - a dead sink: drop, count, go on
                self._close_connection()
                metrics.request_log_dropped("send_failed")
                log.debug("request log: %s", exc)

    def _post(self, headers: dict, body: bytes) -> None:
        if self._connection is None:
            kind = (http.client.HTTPSConnection if self.parts.scheme == "https"
                    else http.client.HTTPConnection)
            self._connection = kind(self.parts.hostname, self.parts.port, timeout=SEND_TIMEOUT)
        path = self.parts.path or "/"
        if self.parts.query:
            path += "?" + self.parts.query
        self._connection.request("POST", path, body, headers)
        response = self._connection.getresponse()
        response.read()
        if response.status >= 300:
            raise OSError(f"the sink answered {response.status}")

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to `timeout`), then stop the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
