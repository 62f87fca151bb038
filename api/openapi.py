"""GET /openapi.json: the OpenAPI 3 description of every route (api/openapi.yaml).

The YAML file is the source; it is read and converted once per process, and tests keep it
true (every Flask rule is described, every described path routes, examples get their status).
"""
from __future__ import annotations

import functools
import os

from flask import Blueprint, Response

from api.codec import jsonio

bp = Blueprint("openapi", __name__)
SPEC_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.yaml")


@functools.cache
def spec() -> dict:
    """The description as a dict (its YAML anchors resolved, their block dropped)."""
    import yaml
    with open(SPEC_FILE, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    document.pop("x-shared-responses", None)
    return document


@functools.cache
def spec_json() -> bytes:
    return jsonio.dumps(spec())


@bp.get("/openapi.json", endpoint="spec")
def serve_spec():
    return Response(spec_json(), mimetype="application/json")
