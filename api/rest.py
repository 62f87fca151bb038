"""TensorFlow Serving's REST API (/v1/models/...), parsed with TF Serving's own URL grammar.

One catch-all route per verb, matched against TF Serving's regular expressions on the raw
(still percent-encoded) path, so `a%2Fb` names a model "a/b" and matching ignores case.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Blueprint, Response, request

from api import core
from serving import inference, jsonio
from serving.errors import InvalidArgument

bp = Blueprint("rest", __name__)

_POST = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:"
                   r"(classify|regress|predict)", re.IGNORECASE)
_GET = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?"
                  r"(?:/(metadata))?", re.IGNORECASE)
_INT64_MAX = 2 ** 63 - 1


def _json(payload, status: int = 200, version: int | None = None) -> Response:
    response = Response(jsonio.dumps(payload), status=status, mimetype="application/json")
    if version is not None:
        response.headers["X-Model-Version"] = str(version)
    return response


def _raw_path() -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
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


@bp.route("/v1/<path:_rest>", methods=["POST"])
def post(_rest):
    name, version, label, verb = _match(_POST)
    body = request.get_data(cache=False)
    serving = core()
    if verb.lower() == "predict":
        servable, payload = inference.predict(serving.manager, name, version, label, body)
    else:
        servable, payload = inference.classify_or_regress(serving.manager, verb.lower(), name,
                                                          version, label, body)
    return _json(payload, version=servable.version)


@bp.route("/v1/<path:_rest>", methods=["GET"])
def get(_rest):
    name, version, label, metadata = _match(_GET)
    manager = core().manager
    if name is None:
        if version is not None or label is not None or metadata:
            raise InvalidArgument("Missing model name in request.")
        return _json(inference.models_payload(manager))
    if metadata:
        return _json(inference.metadata_payload(manager, name, version, label))
    # TF Serving does not resolve a label for status: it lists every version.
    return _json(inference.status_payload(manager, name, version))


@bp.route("/v1/models", methods=["GET"])
def list_models():
    """Our addition: TF Serving answers 400 here; we list every model and its versions."""
    return _json(inference.models_payload(core().manager))
