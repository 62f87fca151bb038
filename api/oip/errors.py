"""The OIP front's error table: core error types → HTTP status and `{"error": "..."}`.

As Triton 2.51, OpenVINO Model Server and MLServer answer: 400 for a bad request (a size
limit too: the protocol has no 413 for a declared shape), 404 for an unknown model or
version, 503 when the server cannot take the request now. Registered on the /v2 blueprints,
so TF Serving's table (api/errors.py) keeps answering /v1.
"""
from __future__ import annotations

import logging

from flask import Response
from werkzeug.exceptions import HTTPException

from api.errors import HTTP_STATUS  # the canonical code → HTTP table, shared
from api.oip.codec import dumps
from serving.errors import ServingError

log = logging.getLogger(__name__)



def error_response(message: str, status: int, **extra) -> Response:
    return Response(dumps({"error": message, **extra}), status=status,
                    mimetype="application/json")


def _serving_error(error: ServingError) -> Response:
    retry = getattr(error, "retry_after", None)  # a model that does not fit the memory budget
    response = error_response(error.message, 503 if retry else HTTP_STATUS.get(error.code, 500))
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


def _http_error(error: HTTPException) -> Response:
    response = error_response(error.description or error.name, error.code or 500)
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error in an Open Inference Protocol call")
    return error_response("Internal error; see the server log", 500)


def init_blueprint(bp) -> None:
    bp.register_error_handler(ServingError, _serving_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
