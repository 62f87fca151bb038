"""The one place where errors become gRPC statuses: each core error type's canonical code is
the gRPC code of the same name (TF Serving's numbers), the details its bare message."""
from __future__ import annotations

import logging

import grpc

from serving.config.limits import LimitExceeded
from serving.errors import ServingError

log = logging.getLogger(__name__)
MAX_DETAILS = 1024   # TF Serving cuts longer messages (a DebugString often is) to this


def status_code(error: ServingError) -> grpc.StatusCode:
    if isinstance(error, LimitExceeded):  # a request past a size limit (REST's 413)
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    return getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN)


def details(message: str) -> str:
    raw = message.encode("utf-8")
    if len(raw) <= MAX_DETAILS:
        return message
    return raw[:MAX_DETAILS].decode("utf-8", "ignore") + "...TRUNCATED"


def abort(context, error: Exception):
    """Ends the call with the error's status (context.abort raises; nothing after runs)."""
    if isinstance(error, ServingError):
        context.abort(status_code(error), details(error.message))
    log.exception("unexpected error in a gRPC call")
    context.abort(grpc.StatusCode.INTERNAL, "Internal error; see the server log")
