"""TensorFlow Serving's REST API (/v1/models/...), parsed with TF Serving's own URL grammar.

One catch-all route per verb, matched against TF Serving's regular expressions on the raw
(still percent-encoded) path, so `a%2Fb` names a model "a/b" and matching ignores case.
"""
from __future__ import annotations

import re
import zlib
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from api import core
from serving import inference, jsonio
from serving.errors import InvalidArgument
from serving.limits import DEFAULT as DEFAULT_LIMITS

bp = Blueprint("rest", __name__)

_POST = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:"
                   r"(classify|regress|predict)", re.IGNORECASE | re.ASCII)
_GET = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?"
                  r"(?:/(metadata))?", re.IGNORECASE | re.ASCII)
_INT64_MAX = 2 ** 63 - 1


class _V1(BaseConverter):
    """The `/v1` prefix in any case: TF Serving matches its URLs case-insensitively."""

    regex = "[vV]1"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("v1", _V1))


def _json(payload, status: int = 200, version: int | None = None) -> Response:
    response = Response(jsonio.dumps(payload), status=status, mimetype="application/json")
    if version is not None:
        response.headers["X-Model-Version"] = str(version)
    return response


def _raw_path() -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    if "://" in raw.split("?", 1)[0]:
        raw = urlsplit(raw).path  # absolute-form request target (sent to proxies)
    return raw.split("?", 1)[0]


def _match(pattern: re.Pattern):
    path = _raw_path()
    match = pattern.fullmatch(path)
    if match is None:
        raise InvalidArgument(f"Malformed request: {request.method} {path}")
    name, version, label = (unquote(match.group(1)) if match.group(1) else None,
                            match.group(2), unquote(match.group(3)) if match.group(3) else None)
    if version is not None:
        if int(version) > _INT64_MAX:
            raise InvalidArgument(f"Failed to convert version: {version} to numeric.")
        version = int(version)
    return name, version, label, match.group(4)


def _body() -> bytes:
    """The request body, inflated when the client sent it gzip-compressed (as TF Serving does)."""
    body = request.get_data(cache=False)
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 100 * 1024 * 1024
    if len(body) >= limit and request.content_length is None:
        # A chunked body is cut off silently at the limit by werkzeug: refuse, not truncate.
        raise RequestEntityTooLarge(f"Request body exceeds {limit} bytes")
    if request.headers.get("Content-Encoding", "").strip().lower() != "gzip":
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)  # never inflates past the limit (bombs)
    except zlib.error as exc:
        raise InvalidArgument(f"Failed to decompress gzip request body: {exc}") from None
    if len(data) > limit:
        raise RequestEntityTooLarge(f"Uncompressed request body exceeds {limit} bytes")
    if not inflater.eof:
        raise InvalidArgument("Failed to decompress gzip request body: it is truncated")
    return data


@bp.route("/<v1:_api>/<path:_rest>", methods=["POST"])
def post(_api, _rest):
    name, version, label, verb = _match(_POST)
    manager, limits = core().manager, current_app.extensions.get("limits", DEFAULT_LIMITS)
    # The URL matches in any case, but TF Serving then compares the verb exactly.
    if verb == "predict":
        servable, payload = inference.predict(manager, name, version, label, _body(), limits)
    elif verb in ("classify", "regress"):
        servable, payload = inference.classify_or_regress(manager, verb, name,
                                                          version, label, _body(), limits)
    else:
        raise InvalidArgument(f"Malformed request: {request.method} {_raw_path()}")
    return _json(payload, version=servable.version)


@bp.route("/<v1:_api>/<path:_rest>", methods=["GET"])
def get(_api, _rest):
    name, version, label, metadata = _match(_GET)
    manager = core().manager
    if name is None:
        if version is not None or label is not None or metadata:
            raise InvalidArgument("Missing model name in request.")
        # Our addition: TF Serving answers 400 here; we list every model and its versions.
        return _json(inference.models_payload(manager))
    if metadata == "metadata":  # any other case of it asks for the status, as in TF Serving
        return _json(inference.metadata_payload(manager, name, version, label))
    # TF Serving does not resolve a label for status: it lists every version.
    return _json(inference.status_payload(manager, name, version))


@bp.after_request
def _json_content_type(response: Response) -> Response:
    """Every /v1 response is JSON, the empty CORS preflight answer included (as TF Serving's)."""
    if request.method == "OPTIONS":
        response.mimetype = "application/json"
    return response


@bp.after_app_request
def _allow(response: Response) -> Response:
    """OPTIONS on /v1: `Allow` lists what this path really takes. The catch-all routes match
    every /v1 path for GET and POST; TF Serving's URL grammar decides which one applies."""
    if request.method == "OPTIONS" and request.path[:4].lower() == "/v1/":
        adapter, path, allowed = current_app.url_map.bind_to_environ(request.environ), \
            _raw_path(), []
        for method in ("GET", "POST", "PUT", "DELETE"):
            try:
                endpoint, _ = adapter.match(method=method)
            except HTTPException:
                continue
            grammar = {"rest.post": _POST, "rest.get": _GET}.get(endpoint)
            if grammar is None or grammar.fullmatch(path):
                allowed += [method, "HEAD"] if method == "GET" else [method]
        response.headers["Allow"] = ", ".join(allowed + ["OPTIONS"])
    return response
