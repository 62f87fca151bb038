"""JSON bytes in and out, fast: orjson first, the standard library for TF Serving's extras.

TF Serving accepts the non-standard tokens NaN/Infinity/-Infinity and writes them back bare;
orjson handles neither, so those (rare) bodies take the slower standard-library path.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from serving.config.limits import DEFAULT as DEFAULT_LIMITS
from serving.config.limits import Limits
from serving.errors import InvalidArgument

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_NON_FINITE = (b"NaN", b"Infinity")


def loads(body: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse a request body; errors read like TF Serving's `JSON Parse error: ...`.

    orjson refuses nesting deeper than 1024; only a body that may hold NaN/Infinity or a
    number beyond double's range gets a second, slower reading: a merely malformed body
    never costs two full parses.
    """
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if not body or not body.strip():
        raise InvalidArgument("JSON Parse error: The document is empty")
    limits.check_body(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        # TF Serving reads 1e400 as inf; orjson refuses it ("number is infinity ...").
        if "infinity" not in str(fast_error) and not any(t in body for t in _NON_FINITE):
            raise InvalidArgument(f"JSON Parse error: {fast_error}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidArgument(f"JSON Parse error: {fast_error}") from None


def load_request(body: bytes, limits: Limits = DEFAULT_LIMITS) -> dict:
    """A TF Serving request body: a JSON object whose `signature_name`, if any, is a string
    (TF Serving's first checks, before it looks the model up)."""
    from api.codec.text import json_text
    document = loads(body, limits)
    if not isinstance(document, dict):
        raise InvalidArgument(f"JSON Value: {json_text(document)} Is not object")
    name = document.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise InvalidArgument("'signature_name' key must be a string value.")
    return document


def dumps(payload: Any) -> bytes:
    """Serialize numpy arrays without a detour through Python floats (float32 stays short)."""
    try:
        text = orjson.dumps(payload, option=_OPTIONS)
    except TypeError:
        return _dumps_slow(payload)
    if b"null" in text and _has_non_finite(payload):
        return _dumps_slow(payload)
    return text


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and not np.isfinite(value).all()
    if isinstance(value, np.floating):
        return not np.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return isinstance(value, float) and not np.isfinite(value)


def _plain(value: Any) -> Any:
    """numpy → Python, keeping float32's shortest decimal form (0.1, not 0.10000000149)."""
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind == "f":
            return value.astype(str).astype(np.float64).tolist()
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _dumps_slow(payload: Any) -> bytes:
    """Standard library: writes NaN / Infinity bare, as TF Serving does."""
    return json.dumps(_plain(payload), separators=(",", ":")).encode()
