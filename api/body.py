"""The request body as both REST fronts read it (TF Serving's /v1 and the OIP's /v2): whole,
refused past --max_request_bytes (a chunked one too, which werkzeug would cut off silently),
and inflated when the client compressed it: gzip, as TF Serving accepts, or deflate
(tritonclient's request_compression_algorithm), never past the same limit (bombs). And an
answer compressed as the client asks (tritonclient's response_compression_algorithm)."""
from __future__ import annotations

import gzip
import zlib

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from serving.errors import InvalidArgument

_WINDOW = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def read(strict: bool = False) -> bytes:
    """`strict`: another Content-Encoding is refused (400); else it is ignored, as TF
    Serving ignores it."""
    body = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if len(body) >= limit and request.content_length is None:
        raise RequestEntityTooLarge(f"Request body exceeds {limit} bytes")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in _WINDOW:
        return inflate(body, encoding, limit)
    if strict and encoding not in ("", "identity"):
        raise InvalidArgument(f"unsupported Content-Encoding '{encoding}'")
    return body


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(_WINDOW[encoding])
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidArgument(f"Failed to decompress {encoding} request body: {exc}") from None
    if len(data) > limit:
        raise RequestEntityTooLarge(f"Uncompressed request body exceeds {limit} bytes")
    if not inflater.eof:
        raise InvalidArgument(f"Failed to decompress {encoding} request body: it is truncated")
    return data


def plain(body: bytes, encoding: str | None) -> bytes:
    """`body` as it was before gzip or deflate (another encoding, or a broken one: as it is):
    what the request log records, whichever way it travelled."""
    window = _WINDOW.get((encoding or "").strip().lower())
    if window is None:
        return body
    try:
        return zlib.decompress(body, window)
    except zlib.error:
        return body


def compressed(payload: bytes) -> tuple[bytes, str | None]:
    """`payload` gzipped or deflated (zlib's stream, as HTTP's deflate is) when the request's
    Accept-Encoding asks for it, as Triton answers inference; else as it is."""
    accepted = request.accept_encodings
    if accepted["gzip"] > 0:
        return gzip.compress(payload, 6), "gzip"
    if accepted["deflate"] > 0:
        return zlib.compress(payload), "deflate"
    return payload, None
