"""What operators' infrastructure talks to: liveness (/healthz), readiness (/readyz: every
configured model has an AVAILABLE version), Prometheus metrics and ProxyFix. Every request's
model, answering version, verb, status and latency go to the metrics and, through WSGI environ
keys, to the request's record (api/exchange.py: access log, traces, request log)."""
from __future__ import annotations

import re
import time
from urllib.parse import unquote

from flask import Blueprint, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from api import core
from serving import metrics
from serving.config.monitoring import metrics_path
from serving.errors import Unavailable

bp = Blueprint("ops", __name__)

# TF Serving's REST paths, loosely: enough to name the model and verb of any /v1 request.
_REST = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/\d+|/labels/[^/:]+)?"
                   r"(?::(\w+)|/(metadata))?/?", re.IGNORECASE)


@bp.get("/healthz")
def healthz():
    return {"status": "alive"}


@bp.get("/readyz")
def readyz():
    inference = core().inference
    waiting = inference.waiting_models()
    if waiting:
        raise Unavailable(f"not ready: no AVAILABLE version of model(s) {', '.join(waiting)}")
    return {"status": "ready", "models": inference.model_names()}


def _metrics():
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def describe(path: str, endpoint: str | None) -> tuple[str, str]:
    """(model name, verb) of a request path; verb is the Flask endpoint outside /v1/models."""
    match = _REST.fullmatch(path)
    if match is None:
        return "", endpoint or "unmatched"
    name, verb, metadata = match.groups()
    if verb:
        return unquote(name or ""), verb.lower()
    if metadata:
        return unquote(name or ""), "metadata"
    return (unquote(name), "status") if name else ("", "list")


@bp.before_app_request
def _start_clock():
    request.environ["serving.start"] = time.perf_counter()


@bp.after_app_request
def _account(response: Response) -> Response:
    environ = request.environ
    route = environ.get("serving.route")  # api/rest.py matched the URL already
    if route is not None:
        model, verb = route
    else:
        raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path).split("?")[0]
        model, verb = describe(raw, request.endpoint)
    version = response.headers.get("X-Model-Version", "")
    environ["serving.model"], environ["serving.version"] = model or "-", version or "-"
    environ["serving.verb"] = verb
    started = environ.get("serving.start")
    if started is not None:
        # Only configured names become label values: clients cannot mint new time series.
        known = model if core().inference.knows(model) else ""
        metrics.observe_request("REST", known, version if known else "", verb,
                                response.status_code,
                                time.perf_counter() - started)
    return response


def init_app(app, settings) -> None:
    """Register the probes, the metrics route (unless switched off) and ProxyFix (if asked)."""
    app.register_blueprint(bp)
    metrics.worker_up()
    path = metrics_path(settings.monitoring_config_file)
    if path is not None:
        app.add_url_rule(path, "metrics", _metrics)
    hops = settings.trusted_proxies
    if hops > 0:   # only behind a proxy that sets X-Forwarded-*: clients could forge them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
