"""Optional token for the prediction API (--api_token): `Authorization: Bearer T` or `X-API-Key: T`.

Separate from the admin token (api/admin.py checks its own). Liveness, readiness, metrics,
the OpenAPI description, static files and CORS preflights stay open: probes and scrapers
carry no secrets. Several comma-separated tokens may be valid at once, for rotation.
"""
from __future__ import annotations

from flask import request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from serving.config.tokens import bearer, is_valid, tokens_from  # noqa: F401  (api.auth.*)

OPEN_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "metrics", "static", "openapi.spec",
                            "oip.live", "oip.ready"})  # /v2/health/*: the protocol's probes
OPEN_BLUEPRINTS = frozenset({"admin"})  # guarded by the admin token instead


def presented_tokens() -> tuple[bytes, bytes]:
    """(bearer token, X-API-Key); either may be b"". Both count, so a client may send the
    admin token as its bearer and the API token as X-API-Key."""
    return (bearer(request.headers.get("Authorization", "")),
            request.headers.get("X-API-Key", "").strip().encode())


def require_admin(token: str, what: str) -> None:
    """With --admin_token set, `what` needs it as the bearer token (401 otherwise); without
    one, it is open. The /v1/admin routes refuse outright instead (api/admin.py)."""
    if not token:
        return
    given, _ = presented_tokens()
    if not is_valid(given, (token.encode(),)):
        raise Unauthorized(f"Missing or wrong bearer token for {what}: send "
                           f"'Authorization: Bearer <admin token>'.",
                           www_authenticate=WWWAuthenticate("bearer", {"realm": "admin"}))


def init_app(app, settings) -> None:
    """Require a token on every route but the open ones, when --api_token is set."""
    tokens = tokens_from(settings.api_token)
    if not tokens:
        return  # off: not even a hook on the request path

    @app.before_request
    def _require_token():
        if (request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS
                or request.blueprint in OPEN_BLUEPRINTS):
            return None
        if not any(is_valid(given, tokens) for given in presented_tokens()):
            raise Unauthorized("Missing or wrong API token: send 'Authorization: Bearer <token>' "
                               "or 'X-API-Key: <token>'.",
                               www_authenticate=WWWAuthenticate("bearer", {"realm": "api"}))
        return None
