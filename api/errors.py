"""The one place where errors become HTTP: core error types and HTTP errors → {"error": ...}."""
from __future__ import annotations

import logging

from flask import Response, request
from werkzeug.exceptions import HTTPException

from api.codec import jsonio
from serving.config.limits import LimitExceeded
from serving.errors import ServingError

log = logging.getLogger(__name__)

# TF Serving's canonical code → HTTP status table (http_server.cc).
HTTP_STATUS = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def error_response(message: str, status: int, headers=None) -> Response:
    return Response(jsonio.dumps({"error": message}), status=status,
                    mimetype="application/json", headers=headers)


def _serving_error(error: ServingError) -> Response:
    if isinstance(error, LimitExceeded):  # a size limit: 413 (its code stays INVALID_ARGUMENT)
        return error_response(error.message, 413)
    retry = getattr(error, "retry_after", None)  # a model that does not fit the memory budget
    if retry is not None:
        return error_response(error.message, 503, {"Retry-After": str(retry)})
    return error_response(error.message, HTTP_STATUS.get(error.code, 500))


def _http_error(error: HTTPException) -> Response:
    if error.code == 405 and request.path.lower().startswith("/v1/"):
        # TF Serving answers an unsupported verb on /v1/ as a malformed request.
        return error_response(f"Malformed request: {request.method} {request.path}", 400)
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return error_response(error.description or error.name, error.code or 500, headers)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response("Internal error; see the server log", 500)


def init_app(app) -> None:
    app.register_error_handler(ServingError, _serving_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
