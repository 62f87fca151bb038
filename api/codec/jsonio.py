"""JSON bytes in and out, fast: orjson first, the standard library for TF Serving's extras.

TF Serving accepts the non-standard tokens NaN/Infinity/-Infinity and writes them back bare;
orjson handles neither, so those (rare) bodies take the slower standard-library path.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import orjson

from api.codec import rows
from serving.config.limits import DEFAULT as DEFAULT_LIMITS
from serving.config.limits import Limits
from serving.errors import InvalidArgument

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_NON_FINITE = (b"NaN", b"Infinity")
_PICTURES = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
             (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"))


def loads(body: bytes, limits: Limits = DEFAULT_LIMITS, verb: str | None = None,
          pictures: Callable[[], str] | None = None) -> Any:
    """Parse a request body; errors read like TF Serving's `JSON Parse error: ...`.

    orjson refuses nesting deeper than 1024; only a body that may hold NaN/Infinity or a
    number beyond double's range gets a second, slower reading: a merely malformed body
    never costs two full parses. `verb`: refuse a body past max_instances before parsing
    it (api/codec/rows.py); `pictures`: where to send a picture, said when the body is one.
    """
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if not body or not body.strip():
        raise InvalidArgument("JSON Parse error: The document is empty")
    limits.check_body(body)
    if verb is not None:
        rows.check(body, verb, limits)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        # TF Serving reads 1e400 as inf; orjson refuses it ("number is infinity ...").
        if "infinity" not in str(fast_error) and not any(t in body for t in _NON_FINITE):
            raise _not_json(body, fast_error, pictures) from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _not_json(body, fast_error, pictures) from None


def picture_kind(body: bytes) -> str | None:
    """What a body that is not JSON looks like ("a PNG image"), by its first bytes; None
    when it looks like no picture or form upload."""
    for magic, kind in _PICTURES:
        if body.startswith(magic):
            return kind
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "a WebP image"
    if body[:2] == b"BM" and body[6:10] == b"\0\0\0\0":  # BMP's reserved fields are zero
        return "a BMP image"
    head = body[:4096].lstrip().lower()
    if head.startswith(b"--") and b"content-disposition: form-data" in head:
        return "a multipart/form-data upload"
    return None


def _not_json(body: bytes, error: orjson.JSONDecodeError, pictures) -> InvalidArgument:
    """TF Serving's prefix (clients match on it), then what is wrong in plain words: orjson's
    own for JSON with a mistake, which byte for binary, where pictures go for a picture."""
    kind = picture_kind(body)
    if kind is not None:
        hint = f" {pictures()}" if pictures is not None else ""
        return InvalidArgument(f"JSON Parse error: the request body is {kind}, not JSON.{hint}")
    if "UTF-8" in str(error):  # orjson words it "str is not valid UTF-8: surrogates not allowed"
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            return InvalidArgument(
                f"JSON Parse error: the request body is not JSON: it is not UTF-8 text "
                f"(byte 0x{body[bad.start]:02x} at offset {bad.start}); JSON is UTF-8 text")
    return InvalidArgument(f"JSON Parse error: {error}")


def load_request(body: bytes, limits: Limits = DEFAULT_LIMITS, verb: str | None = None,
                 pictures: Callable[[], str] | None = None) -> dict:
    """A TF Serving request body: a JSON object whose `signature_name`, if any, is a string
    (TF Serving's first checks, before it looks the model up). `verb`, `pictures`: loads'."""
    from api.codec.text import json_text
    document = loads(body, limits, verb, pictures)
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
