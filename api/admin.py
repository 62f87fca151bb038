"""Version-switching routes (registered under /v1/admin): list, pin, label, split, reload.

    GET    /v1/admin/models                        every model: versions, labels, route
    GET    /v1/admin/models/{name}                 one model
    PUT    /v1/admin/models/{name}/default         {"version": N}: unversioned requests go to N
    DELETE /v1/admin/models/{name}/default         back to the newest AVAILABLE version
    PUT    /v1/admin/models/{name}/labels/{label}  {"version": N}: set or move a label
    DELETE /v1/admin/models/{name}/labels/{label}
    PUT    /v1/admin/models/{name}/traffic         {"split": {"123": 90, "124": 10}}
    DELETE /v1/admin/models/{name}/traffic         back to the newest AVAILABLE version
    POST   /v1/admin/reload                        re-read config and rescan base paths now
  Under --model_memory_budget (README "Many models in limited memory"):
    POST   /v1/admin/models/{name}:load            load it now in every worker
    POST   /v1/admin/models/{name}:unload          unload it now in every worker (it loads
                                                   again on its next request); 400 if pinned
    PUT    /v1/admin/models/{name}/resident        pin it in memory: loaded, never unloaded
    DELETE /v1/admin/models/{name}/resident        back to least-recently-used unloading

Every call needs `Authorization: Bearer <admin_token>`; with no token configured the routes
are off (403). A change is saved to disk and reaches every worker within one poll interval.
"""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.routing import BaseConverter

from api import auth
from api.codec import jsonio
from serving.errors import InvalidArgument

bp = Blueprint("admin", __name__)


class _ModelName(BaseConverter):
    """A model name: no `/` and no `:`, so `/models/m:load` is the load verb's URL alone
    (not also `GET /models/<name>` for a model called "m:load"), as in TF Serving's URLs."""

    regex = "[^/:]+"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("model", _ModelName))


def _control():
    return current_app.extensions["serving"].control


def _json(payload) -> Response:
    return Response(jsonio.dumps(payload), mimetype="application/json")


def _model(name: str) -> Response:
    """One model as this worker now holds it: after a change, what the change wrote."""
    return _json({**_control().describe(name), "worker_pid": os.getpid()})


def _version_from_body():
    document = jsonio.loads(request.get_data(cache=False))
    if not isinstance(document, dict) or "version" not in document:
        raise InvalidArgument('expected a JSON object {"version": N}')
    return document["version"]


@bp.before_request
def _authenticate():
    token = current_app.config["SETTINGS"].admin_token
    if not token:
        raise Forbidden("The admin routes are off: start the server with --admin_token=... "
                        "(or the ADMIN_TOKEN environment variable) to turn them on.")
    bearer, _ = auth.presented_tokens()
    if not auth.is_valid(bearer, (token.encode(),)):
        raise Unauthorized("Missing or wrong bearer token for the admin routes.",
                           www_authenticate=WWWAuthenticate("bearer", {"realm": "admin"}))


@bp.get("/models")
def list_models():
    return _json(_control().describe_all())


@bp.get("/models/<model:name>")
def show_model(name):
    return _model(name)


@bp.put("/models/<model:name>/default")
def pin_default(name):
    _control().pin(name, _version_from_body())
    return _model(name)


@bp.delete("/models/<model:name>/default")
def unpin_default(name):
    _control().clear_route(name, "default")
    return _model(name)


@bp.put("/models/<model:name>/labels/<label>")
def set_label(name, label):
    _control().set_label(name, label, _version_from_body())
    return _model(name)


@bp.delete("/models/<model:name>/labels/<label>")
def delete_label(name, label):
    _control().delete_label(name, label)
    return _model(name)


@bp.put("/models/<model:name>/traffic")
def set_traffic(name):
    document = jsonio.loads(request.get_data(cache=False))
    if not isinstance(document, dict) or "split" not in document:
        raise InvalidArgument('expected a JSON object {"split": {"version": weight, ...}}')
    _control().set_split(name, document["split"])
    return _model(name)


@bp.delete("/models/<model:name>/traffic")
def clear_traffic(name):
    _control().clear_route(name, "split")
    return _model(name)


@bp.post("/models/<model:name>:load")
def load_model(name):
    _control().load_model(name)
    return _model(name)


@bp.post("/models/<model:name>:unload")
def unload_model(name):
    _control().unload_model(name)
    return _model(name)


@bp.put("/models/<model:name>/resident")
def pin_resident(name):
    _control().set_resident(name, True)
    return _model(name)


@bp.delete("/models/<model:name>/resident")
def unpin_resident(name):
    _control().set_resident(name, False)
    return _model(name)


@bp.post("/reload")
def reload():
    _control().reload()
    return _json(_control().describe_all())
