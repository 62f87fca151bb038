"""The REST front's side of serving/observe: each request's record begun before its view
(client, method, path, W3C traceparent, the body when the request log samples it, as it was
before any gzip or deflate) and finished after it, with the model and verb api/ops.py found and the response's status and
size. No hook at all while nothing observes requests."""
from __future__ import annotations

import logging

from flask import Response, request

from api import body as request_body
from serving import observe

log = logging.getLogger(__name__)


def _begin() -> None:
    query = request.environ.get("QUERY_STRING")
    exchange = observe.begin("http", request.method,
                             f"{request.path}?{query}" if query else request.path,
                             request.remote_addr or "", request.headers.get)
    exchange.bytes_in = request.content_length or 0
    if exchange.sampled:
        # Read (and kept) here; the view's own get_data(cache=False) is then served from it.
        exchange.request_body = request_body.plain(request.get_data(cache=True),
                                                   request.headers.get("Content-Encoding"))
        exchange.request_type = request.content_type or ""


def _finish(response: Response) -> Response:
    exchange = observe.current()
    if exchange is None:
        return response
    try:
        _fill(exchange, response)
    except Exception:  # noqa: BLE001 - what is logged never changes what is answered
        log.exception("recording a request failed")
    observe.finish(exchange, response.status_code, response.content_length or 0)
    return response


def _fill(exchange, response: Response) -> None:
    environ = request.environ
    exchange.verb = environ.get("serving.verb", "")
    if not exchange.model:  # the core did not resolve it: the model the URL names
        model = environ.get("serving.model", "")
        exchange.model = "" if model == "-" else model
    if not exchange.version:
        exchange.version = response.headers.get("X-Model-Version", "")
    if exchange.sampled and not response.is_streamed:
        exchange.response_body = request_body.plain(response.get_data(),
                                                    response.headers.get("Content-Encoding"))
        exchange.response_type = response.content_type or ""


def init_app(app) -> None:
    """Register first: Flask runs after-request hooks in reverse, so this one runs last and
    sees the response as it leaves (api/ops.py's model and verb, CORS headers)."""
    if not observe.active():
        return
    app.before_request(_begin)
    app.after_request(_finish)
