"""One record per request, from the front that took it to the single `finish` that writes
the access log, sends the request log and ends the span. The core reaches the request's
record through a contextvar (set on the request's thread); the batcher, which runs requests
on its own threads, is handed the records of the batch it ran (`batch_ran`)."""
from __future__ import annotations

import contextvars
import logging
import os
import random
import time
import uuid
from typing import Callable, Iterable, Mapping

log = logging.getLogger(__name__)
_current: contextvars.ContextVar["Exchange | None"] = contextvars.ContextVar(
    "serving_exchange", default=None)


class _Sinks:
    """This worker's outputs, set by `configure` after the fork (threads and files)."""
    access = None    # access_log.AccessLog
    tracer = None    # tracing.Tracer
    requests = None  # request_log.RequestLog
    sample_rate = 0.0


_sinks = _Sinks()
_active = False  # read on every request: the one `if` a server with nothing on pays


def active() -> bool:
    return _active


class Exchange:
    """What is known of one request: who asked what, which version answered, its batch."""

    __slots__ = ("protocol", "method", "target", "client", "verb", "model", "version",
                 "signature", "status", "bytes_in", "bytes_out", "batch", "queue_wait",
                 "wall", "started", "queued", "ran", "span", "event_id", "request_body",
                 "request_type", "response_body", "response_type")

    def __init__(self, protocol: str, method: str, target: str, client: str):
        self.protocol, self.method, self.target, self.client = protocol, method, target, client
        self.verb = self.model = self.version = self.signature = ""
        self.status: object = ""
        self.bytes_in = self.bytes_out = 0
        self.batch: int | None = None
        self.queue_wait: float | None = None
        self.wall, self.started = time.time(), time.monotonic()
        self.queued = self.ran = None  # monotonic: when it reached its batcher; batch end
        self.span = None
        self.event_id: str | None = None   # set when this request is sampled for the log
        self.request_body = self.response_body = None
        self.request_type = self.response_type = ""

    @property
    def sampled(self) -> bool:
        return self.event_id is not None

    def resolved(self, model: str, version, signature: str) -> None:
        """The core found the version that answers (the last lookup wins)."""
        self.model, self.version, self.signature = model, str(version), signature

    def epoch_ns(self, monotonic: float) -> int:
        """A monotonic instant of this request as the wall-clock nanoseconds spans use."""
        return int((self.wall + (monotonic - self.started)) * 1e9)


def configure(settings, environ: Mapping[str, str] = os.environ) -> None:
    """This worker's sinks from the settings; call after the fork (files, threads, SDK)."""
    global _active
    from serving.observe import access_log, request_log, tracing
    _sinks.access = access_log.AccessLog.open(settings.access_log) if settings.access_log \
        else None
    _sinks.tracer = tracing.start(settings, environ) if tracing.wanted(settings, environ) \
        else None
    url = settings.request_log_url
    _sinks.requests = request_log.RequestLog(url, settings.request_log_queue_size) if url \
        else None
    _sinks.sample_rate = settings.request_log_sample_rate if url else 0.0
    _active = bool(_sinks.access or _sinks.tracer or _sinks.requests)


def shutdown() -> None:
    """Flush what is buffered (spans, queued events); the worker is stopping."""
    for sink in (_sinks.tracer, _sinks.requests):
        if sink is not None:
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - stopping anyway
                log.exception("closing %s failed", type(sink).__name__)


def current() -> Exchange | None:
    return _current.get()


def begin(protocol: str, method: str, target: str, client: str,
          header: Callable[[str], str | None] = lambda name: None) -> Exchange:
    """A request arrives (call only when `active()`): its record, current on this thread.
    `header` reads the request's headers or metadata (traceparent, tracestate)."""
    exchange = Exchange(protocol, method, target, client)
    if _sinks.requests is not None and random.random() < _sinks.sample_rate:
        exchange.event_id = str(uuid.uuid4())
    if _sinks.tracer is not None:
        try:
            exchange.span = _sinks.tracer.request_span(exchange, header)
        except Exception:  # noqa: BLE001 - a bad traceparent or SDK error: no span
            log.debug("no span for this request", exc_info=True)
    _current.set(exchange)
    return exchange


def batch_ran(exchanges: Iterable["Exchange | None"], enqueued: Iterable[float], rows: int,
              started: float, ended: float, labels: tuple[str, str, str]) -> None:
    """The batcher ran one batch (monotonic `started`..`ended`) for these requests."""
    try:
        riders = [(exchange, queued) for exchange, queued in zip(exchanges, enqueued)
                  if exchange is not None]
        for exchange, queued in riders:
            exchange.batch, exchange.queue_wait = len(riders), max(0.0, started - queued)
            exchange.queued, exchange.ran = queued, ended
        if _sinks.tracer is not None and riders:
            _sinks.tracer.batch_span(riders, rows, started, ended, labels)
    except Exception:  # noqa: BLE001 - observing never fails a batch
        log.exception("recording a batch failed")


def finish(exchange: Exchange | None, status, bytes_out: int = 0) -> None:
    """The request's answer is made: write its line, send its events, end its span. Once."""
    if exchange is None:
        return
    _current.set(None)
    exchange.status, exchange.bytes_out = status, bytes_out
    ended = time.monotonic()
    for sink, step in ((_sinks.access, "write"), (_sinks.requests, "send"),
                       (_sinks.tracer, "end")):
        # The request log carries what a model was asked and answered, not probes or lists.
        if sink is None or (step == "send" and not (exchange.sampled and exchange.model)):
            continue
        try:
            getattr(sink, step)(exchange, ended)
        except Exception:  # noqa: BLE001 - logging or tracing never fails a request
            log.exception("observing a request failed (%s)", step)
