"""--access_log: one JSON line per request, the same fields for every protocol.

Written with one os.write per line to a file opened in append mode (or stdout): each worker
writes whole lines, so lines from several workers never interleave (a line is far below
PIPE_BUF, and O_APPEND writes are atomic on a local file). No logging handler, no lock.
"""
from __future__ import annotations

import datetime
import os

import orjson


class AccessLog:
    def __init__(self, fd: int):
        self.fd = fd
        self.pid = os.getpid()

    @classmethod
    def open(cls, destination: str) -> "AccessLog":
        if destination == "-":
            return cls(1)
        return cls(os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))

    def write(self, exchange, ended: float) -> None:
        os.write(self.fd, orjson.dumps(line(exchange, ended, self.pid)) + b"\n")


def line(exchange, ended: float, pid: int) -> dict:
    """The fields of one request's line (tests/unit/observe/ pins them)."""
    record = {
        "time": datetime.datetime.fromtimestamp(exchange.wall, datetime.timezone.utc)
        .isoformat(timespec="milliseconds"),
        "client": exchange.client,
        "protocol": exchange.protocol,
        "method": exchange.method,
        "target": exchange.target,
        "verb": exchange.verb,
        "model": exchange.model,
        "version": exchange.version,
        "signature": exchange.signature,
        "status": exchange.status,
        "latency": round(ended - exchange.started, 6),
        "bytes_in": exchange.bytes_in,
        "bytes_out": exchange.bytes_out,
        "batch": exchange.batch,
        "queue_wait": None if exchange.queue_wait is None else round(exchange.queue_wait, 6),
        "pid": pid,
    }
    if exchange.span is not None:
        record["trace_id"] = format(exchange.span.get_span_context().trace_id, "032x")
    return record
