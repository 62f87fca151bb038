"""TensorFlow Serving's REST API (/v1/models/...), parsed with TF Serving's own URL grammar.

One catch-all route per verb, matched against TF Serving's regular expressions on the raw
(still percent-encoded) path, so `a%2Fb` names a model "a/b" and matching ignores case. The
views translate JSON into the core's tensors and back (api/codec/) and nothing else; TF
Serving's order of checks holds: JSON → body → signature_name → model → signature → tensors.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from api import body as request_body, core
from api.codec import dense, examples, jsonio, tensors
from serving.config.limits import LimitError
from serving.errors import InvalidArgument, NotFound, ServingError
from serving.inference import ModelSpec, SignatureNotFound

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


def raw_path() -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    if "://" in raw.split("?", 1)[0]:
        raw = urlsplit(raw).path  # absolute-form request target (sent to proxies)
    return raw.split("?", 1)[0]


def _match(pattern: re.Pattern):
    """(model name, version, label, verb) of this request's URL; the model and verb are left
    in the WSGI environ for api/ops.py, which then need not parse the URL again."""
    path = raw_path()
    match = pattern.fullmatch(path)
    if match is None:
        raise InvalidArgument(f"Malformed request: {request.method} {path}")
    name, version, label = (unquote(match.group(1)) if match.group(1) else None,
                            match.group(2), unquote(match.group(3)) if match.group(3) else None)
    verb = (match.group(4) or "").lower() or ("status" if name else "list")
    request.environ["serving.route"] = (name or "", verb)
    if version is not None:
        if int(version) > _INT64_MAX:
            raise InvalidArgument(f"Failed to convert version: {version} to numeric.")
        version = int(version)
    return name, version, label, match.group(4)


def _pictures(name: str):
    """Where a picture posted to the JSON API belongs: said only when the body is one."""
    def where() -> str:
        image_models = [choice.name for choice in core().images.choices()]
        if name in image_models or not image_models:
            return (f"To classify a picture, POST it to /v1/images/{name}:classify (the raw "
                    f"bytes, or a multipart field named 'image').")
        return (f"{name} is not an image model; to classify a picture, POST it to "
                f"/v1/images/{image_models[0]}:classify (image models here: "
                f"{', '.join(image_models)}).")
    return where


def _rest_signature(target):
    try:
        return target.signature()
    except SignatureNotFound as missing:  # TF Serving's REST layer words it so
        raise InvalidArgument(f'Serving signature name: "{missing.key}" not found in '
                              f'signature def') from None


def _predict_dense(name, version, label, body: bytes) -> Response | None:
    """A body that is one big float array, read straight into numpy (api/codec/dense.py).
    None when the body cannot be split or the model spec does not resolve: the general path
    then answers, with TF Serving's checks in TF Serving's order. A body that resolves but
    that the dense decoder declines goes on through the general path with the same target;
    one past a limit is refused at once (its rows are counted from the text's skeleton)."""
    quick = dense.split(body)
    if quick is None:
        return None
    signature_name, key, array = quick
    inference, limits = core().inference, core().limits
    limits.check_body(body)
    try:
        target = inference.resolve(ModelSpec(name, version, label, signature_name or ""))
    except ServingError:
        return None
    with target:
        try:
            feeds = dense.decode(key, array, _rest_signature(target).inputs, limits)
        except LimitError:
            raise
        except ServingError:
            feeds = None
        if feeds is None:
            document = jsonio.load_request(body, limits, "predict", _pictures(name))
            return _predict(target, document, body)
        return _answer(target, inference.predict(target, feeds), key == "inputs")


def _predict(target, document: dict, body: bytes) -> Response:
    signature = _rest_signature(target)
    if not signature.inputs:
        raise InvalidArgument("Failed to get input map for signature: "
                              f"{target.spec.signature_key}")
    # numpy may read number lists whole unless a JSON boolean could hide among them.
    fast = b"true" not in body and b"false" not in body
    feeds, columnar = tensors.decode_predict(document, signature.inputs, fast, core().limits)
    return _answer(target, core().inference.predict(target, feeds), columnar)


def _answer(target, outputs, columnar: bool) -> Response:
    return _json(tensors.encode_predict(outputs, columnar), version=target.version)


def _classify_or_regress(verb: str, spec: ModelSpec, document: dict) -> Response:
    inference = core().inference
    serialized = examples.decode_examples(document, verb, core().limits)
    with inference.resolve(spec) as target:
        if verb == "classify":
            payload = examples.encode_classify(inference.classify(target, serialized))
        else:
            payload = examples.encode_regress(inference.regress(target, serialized))
    return _json(payload, version=target.version)


@bp.route("/<v1:_api>/<path:_rest>", methods=["POST"])
def post(_api, _rest):
    name, version, label, verb = _match(_POST)
    # The URL matches in any case, but TF Serving then compares the verb exactly.
    if verb not in ("predict", "classify", "regress"):
        raise InvalidArgument(f"Malformed request: {request.method} {raw_path()}")
    body = request_body.read()
    if verb == "predict":
        answer = _predict_dense(name, version, label, body)
        if answer is not None:
            return answer
    document = jsonio.load_request(body, core().limits, verb, _pictures(name))
    spec = ModelSpec(name, version, label, document.get("signature_name") or "")
    if verb == "predict":
        with core().inference.resolve(spec) as target:
            return _predict(target, document, body)
    return _classify_or_regress(verb, spec, document)


@bp.route("/<v1:_api>/<path:_rest>", methods=["GET"])
def get(_api, _rest):
    name, version, label, metadata = _match(_GET)
    inference = core().inference
    if name is None:
        if version is not None or label is not None or metadata:
            raise InvalidArgument("Missing model name in request.")
        # Our addition: TF Serving answers 400 here; we list every model and its versions.
        return _json({"models": [{"name": model, "model_version_status": _statuses(model)}
                                 for model in inference.model_names()]})
    if metadata == "metadata":  # any other case of it asks for the status, as in TF Serving
        answered, signatures = inference.metadata(ModelSpec(name, version, label))
        return _json({"model_spec": {"name": name, "signature_name": "",
                                     "version": str(answered)},
                      "metadata": {"signature_def": _signature_def_json(signatures)}})
    # TF Serving does not resolve a label for status: it lists every version.
    return _json({"model_version_status": _statuses(name, version, strict=True)})


def _statuses(name: str, version: int | None = None, strict: bool = False) -> list[dict]:
    try:
        statuses = core().inference.status(name, version)
    except NotFound:
        if strict:
            raise
        return []  # a model with no version on disk yet
    return [{"version": str(s.version), "state": s.state,
             "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for s in statuses]


def _signature_def_json(signatures) -> dict:
    """The SignatureDefMap as TF Serving prints it (proto3 JSON, snake_case, defaults shown)."""
    from google.protobuf import json_format
    return json_format.MessageToDict(signatures, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


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
            raw_path(), []
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
