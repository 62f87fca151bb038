"""The Open Inference Protocol (KServe v2) over HTTP, under /v2 beside TF Serving's /v1.

    GET  /v2                                        server metadata and extensions
    GET  /v2/health/live, /v2/health/ready          {"live"|"ready": true}, else 503 {"error"}
    GET  /v2/models/{m}[/versions/{v}]              model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready        200 {"ready": true}; not ready 400; unknown 404
    GET  /v2/models/{m}[/versions/{v}]/config       Triton's model configuration
    GET  /v2/models[/{m}[/versions/{v}]]/stats      Triton's statistics
    POST /v2/models/{m}[/versions/{v}]/infer        JSON or binary tensors (api/oip/codec.py)
    POST /v2/repository/index                       every model and version, with its state
    POST /v2/repository/models/{m}/load | /unload   guarded by the admin token when one is set
    GET  /v2/{system,cuda}sharedmemory[/region/{r}]/status        [] (none registered), or 404
    POST /v2/{system,cuda}sharedmemory[/region/{r}]/register      501: not supported here
    POST /v2/{system,cuda}sharedmemory[/region/{r}]/unregister    200: nothing to unregister
    GET|POST /v2/logging, /v2[/models/{m}]/trace/setting          the settings; changing: 501

The views translate HTTP into serving/oip/service.py's verbs and nothing else.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from api import auth, body as request_body, core
from api.codec import jsonio
from api.oip import codec, errors
from serving.errors import InvalidArgument
from serving.oip.service import OpenInference

bp = Blueprint("oip", __name__)
errors.init_blueprint(bp)


def _oip() -> OpenInference:
    found = current_app.extensions.get("oip")
    if found is None:
        found = current_app.extensions["oip"] = OpenInference(core())
    return found


def _json(payload, status: int = 200, version: str | None = None) -> Response:
    response = Response(codec.dumps(payload), status=status, mimetype="application/json")
    if version:
        response.headers["X-Model-Version"] = version  # the access log and metrics read it
    return response


def _account(name: str, verb: str) -> None:
    request.environ["serving.route"] = (name, verb)


def _document() -> dict:
    """A small JSON object body, or {} when the body is empty (tritonclient sends none)."""
    body = request_body.read(strict=True)
    if not body.strip():
        return {}
    document = jsonio.loads(body, core().limits)
    if not isinstance(document, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return document


# -- server ----------------------------------------------------------------------------------
@bp.get("")
@bp.get("/")
def server_metadata():
    return _json(_oip().server_metadata())


@bp.get("/health/live")
def live():
    return _json({"live": True})


@bp.get("/health/ready")
def ready():
    ok, why = _oip().server_ready()
    return _json({"ready": True}) if ok else errors.error_response(why, 503, ready=False)


# -- models ----------------------------------------------------------------------------------
@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name, version=""):
    _account(name, "metadata")
    answer = _oip().model_metadata(name, version, request.args.get("signature_name", ""))
    return _json(answer, version=version or None)


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name, version=""):
    _account(name, "ready")
    if _oip().model_ready(name, version):
        return _json({"name": name, "ready": True})
    which = f"version {version} of model '{name}'" if version else f"model '{name}'"
    return errors.error_response(f"{which} is not ready", 400, name=name, ready=False)


@bp.get("/models/<name>/config")
@bp.get("/models/<name>/versions/<version>/config")
def model_config(name, version=""):
    _account(name, "config")
    return _json(_oip().model_config(name, version, request.args.get("signature_name", "")))


@bp.get("/models/stats")
@bp.get("/models/<name>/stats")
@bp.get("/models/<name>/versions/<version>/stats")
def model_statistics(name="", version=""):
    _account(name, "stats")
    return _json(_oip().statistics(name, version))


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name, version=""):
    _account(name, "infer")
    body = request_body.read(strict=True)
    decoded = codec.decode(body, request.headers.get(codec.HEADER), core().limits)
    result = _oip().infer(name, version, decoded.inputs, decoded.outputs, decoded.signature,
                          classes=decoded.classification)
    payload, headers = codec.encode(decoded, result)
    payload, encoding = request_body.compressed(payload)
    response = Response(payload, status=200, headers=headers)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Model-Version"] = result.model_version
    return response


# -- model repository ------------------------------------------------------------------------
@bp.post("/repository/index")
def repository_index():
    document = _document()
    ready_only = document.get("ready", False)
    if not isinstance(ready_only, bool):
        raise InvalidArgument("'ready' must be true or false")
    return _json(_oip().repository.index(ready_only))


def _repository_parameters() -> dict:
    parameters = _document().get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidArgument("'parameters' must be a JSON object")
    return parameters


@bp.post("/repository/models/<name>/load")
def load(name):
    _account(name, "load")
    auth.require_admin(current_app.config["SETTINGS"].admin_token, "the model repository")
    _oip().repository.load(name, _repository_parameters())
    return _json({})


@bp.post("/repository/models/<name>/unload")
def unload(name):
    _account(name, "unload")
    auth.require_admin(current_app.config["SETTINGS"].admin_token, "the model repository")
    _oip().repository.unload(name, _repository_parameters())
    return _json({})


# -- Triton's APIs for what this server lacks: answered as Triton does with the feature off --
_MEMORY = "<any(systemsharedmemory, cudasharedmemory):memory>"


def _changing() -> list[str]:
    """The settings a POST body sets (a null one changes nothing); a GET sets none."""
    if request.method != "POST":
        return []
    return [name for name, value in _document().items() if value is not None]


@bp.get(f"/{_MEMORY}/status")
@bp.get(f"/{_MEMORY}/region/<region>/status")
def shared_memory_status(memory, region=""):
    return _json(_oip().server_settings.shared_memory_status(memory.removesuffix("sharedmemory"), region))


@bp.post(f"/{_MEMORY}/register")
@bp.post(f"/{_MEMORY}/region/<region>/register")
def register_shared_memory(memory, region=""):
    _oip().server_settings.register_shared_memory(memory.removesuffix("sharedmemory"), region)
    return _json({})


@bp.post(f"/{_MEMORY}/unregister")
@bp.post(f"/{_MEMORY}/region/<region>/unregister")
def unregister_shared_memory(memory, region=""):
    _oip().server_settings.unregister_shared_memory(memory.removesuffix("sharedmemory"), region)
    return _json({})


@bp.route("/logging", methods=["GET", "POST"])
def log_settings():
    return _json(_oip().server_settings.log_settings(_changing()))


@bp.route("/trace/setting", methods=["GET", "POST"])
@bp.route("/models/<name>/trace/setting", methods=["GET", "POST"])
def trace_settings(name=""):
    if name:
        _account(name, "trace")
    return _json(_oip().server_settings.trace_settings(name, _changing()))
