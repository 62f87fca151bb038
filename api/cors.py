"""CORS on /v1/ (TF Serving's --rest_api_enable_cors_support), by flask-cors.

flask-cors works its answer out on every response (~30 µs, a tenth of a small predict's
Python time). For a request that carries no Origin (every non-browser client) the answer
never changes, so flask-cors computes it once and it is reused; any other request still
goes through flask-cors.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Response, request

V1 = r"(?i)/v1/.*"                  # the resource CORS covers, as flask-cors matches it
_V1 = re.compile(V1)
# The request headers that change flask-cors's answer, as WSGI environ keys.
_ORIGIN, _PRIVATE_NETWORK = "HTTP_ORIGIN", "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK"


def options(settings) -> dict:
    """flask-cors's arguments: the origins from settings, TF Serving's methods, our headers."""
    return {"resources": {V1: {"origins": settings.cors_origins.split(",")}},
            "methods": ["GET", "POST"],
            "allow_headers": ["Content-Type", "Authorization", "X-API-Key"]}


def init_app(app, settings) -> None:
    if not settings.rest_api_enable_cors_support:
        return
    from flask_cors import CORS
    CORS(app, **options(settings))
    hooks = app.after_request_funcs[None]
    full = hooks[-1]  # the after-request hook CORS() has just registered
    with app.test_request_context("/v1/models/any:predict", method="POST"):
        plain = _added_by(full)

    def cors(response: Response) -> Response:
        environ = request.environ
        if (environ["REQUEST_METHOD"] == "OPTIONS" or _ORIGIN in environ
                or _PRIVATE_NETWORK in environ or "Access-Control-Allow-Origin" in response.headers):
            return full(response)
        if plain and _V1.match(unquote(request.path)):
            response.headers.extend(plain)
        return response

    hooks[-1] = cors


def _added_by(hook) -> list[tuple[str, str]]:
    response = Response()
    before = list(response.headers.items())
    return [item for item in hook(response).headers.items() if item not in before]
