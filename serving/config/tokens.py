"""The API and admin tokens (--api_token, --admin_token), and the one way both fronts check
a presented token: in constant time, against every valid token (several allow rotation)."""
from __future__ import annotations

import hmac


def tokens_from(setting: str) -> tuple[bytes, ...]:
    return tuple(token.strip().encode() for token in setting.split(",") if token.strip())


def is_valid(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time against every token (no early exit: the timing tells nothing)."""
    return bool(given) and sum(hmac.compare_digest(given, token) for token in tokens) > 0


def bearer(authorization: str) -> bytes:
    """The token of an `Authorization: Bearer <token>` value, or b""."""
    scheme, _, value = authorization.partition(" ")
    return value.strip().encode() if scheme.lower() == "bearer" else b""
