"""Hostile request bodies for the hardening tests: bombs, fakes and malformed JSON, built small."""
from __future__ import annotations

import base64
import gzip
import io
import struct
import zlib

import numpy as np

from tests.support.guarded_server import LIMITS, TINY_PNG

PREDICT = "/v1/models/half_plus_two:predict"
CLASSIFY = "/v1/models/half_plus_two:classify"
IMAGE = "/v1/images/digits:classify"
GOOD_BODY = {"instances": [1.0, 2.0, 5.0]}
GOOD_ANSWER = {"predictions": [2.5, 3.0, 4.5]}


def png_claiming(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header claims width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def blank_png(width: int, height: int) -> bytes:
    """A real, valid, all-black PNG (compresses to a few KB whatever its size)."""
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(out, "PNG")
    return out.getvalue()


def nested(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


OVER_BODY = LIMITS["max_request_bytes"] + 1
JSON = {"Content-Type": "application/json"}

# (id, method, path, body bytes, extra headers) — every one must be answered 4xx.
MALFORMED = [
    ("empty body", "POST", PREDICT, b"", {}),
    ("whitespace body", "POST", PREDICT, b" \n\t ", {}),
    ("truncated json", "POST", PREDICT, b'{"instances": [1.0, 2.0', {}),
    ("truncated string", "POST", PREDICT, b'{"instances": ["abc', {}),
    ("trailing garbage", "POST", PREDICT, b'{"instances": [1.0]} xyz', {}),
    ("json null", "POST", PREDICT, b"null", {}),
    ("json array", "POST", PREDICT, b"[1.0, 2.0]", {}),
    ("json number", "POST", PREDICT, b"1e999", {}),
    ("bare NaN", "POST", PREDICT, b"NaN", {}),
    ("instances not a list", "POST", PREDICT, b'{"instances": "1.0"}', {}),
    ("string for a float", "POST", PREDICT, b'{"instances": ["1.0"]}', {}),
    ("bool for a float", "POST", PREDICT, b'{"instances": [true, 1.0]}', {}),
    ("null for a float", "POST", PREDICT, b'{"instances": [null]}', {}),
    ("object for a float", "POST", PREDICT, b'{"instances": [{"x": {"y": 1}}]}', {}),
    ("b64 for a float", "POST", PREDICT, b'{"instances": [{"b64": "AAAA"}]}', {}),
    ("ragged instances", "POST", PREDICT, b'{"instances": [[1.0], [1.0, 2.0]]}', {}),
    ("both formats", "POST", PREDICT, b'{"instances": [1.0], "inputs": [1.0]}', {}),
    ("neither format", "POST", PREDICT, b'{"signature": "x"}', {}),
    ("NaN signature name", "POST", PREDICT, b'{"signature_name": NaN, "instances": [1.0]}', {}),
    ("unknown signature", "POST", PREDICT, b'{"signature_name": "../x", "instances": [1.0]}', {}),
    ("bad base64", "POST", PREDICT,
     b'{"signature_name": "regress_x_to_y", "instances": [{"b64": "not base64!"}]}', {}),
    ("huge version", "POST", "/v1/models/half_plus_two/versions/99999999999999999999:predict",
     b'{"instances": [1.0]}', {}),
    ("huge int64 feature", "POST", CLASSIFY,
     b'{"signature_name": "classify_x_to_y", "examples": [{"x": 9223372036854775808}]}', {}),
    ("mixed feature types", "POST", CLASSIFY,
     b'{"signature_name": "classify_x_to_y", "examples": [{"x": [1, "a"]}]}', {}),
    ("examples not objects", "POST", CLASSIFY, b'{"examples": [[1.0]]}', {}),
    ("deep nesting past max_json_depth", "POST", PREDICT,
     ('{"instances": %s}' % nested(LIMITS["max_json_depth"] + 1)).encode(), {}),
    ("deep nesting past numpy's 64 dimensions", "POST", PREDICT,
     ('{"instances": %s}' % nested(70)).encode(), {}),
    ("deep nesting past the parser's 1024", "POST", PREDICT,
     ('{"instances": %s}' % nested(5000)).encode(), {}),
    ("deep nesting in an error message", "POST", PREDICT,
     ('{"instances": [[1.0], {"a": %s}]}' % nested(1000)).encode(), {}),
    ("invalid utf-8", "POST", PREDICT, b'{"instances": ["\xff\xfe"]}', {}),
    ("lone surrogate", "POST", PREDICT, b'{"instances": ["\\ud800"]}', {}),
    ("not gzip", "POST", PREDICT, b'{"instances": [1.0]}', {"Content-Encoding": "gzip"}),
    ("truncated gzip", "POST", PREDICT, gzipped(b'{"instances": [1.0]}')[:-12],
     {"Content-Encoding": "gzip"}),
    ("multipart to predict", "POST", PREDICT, b"--b\r\n\r\n--b--",
     {"Content-Type": "multipart/form-data; boundary=b"}),
    ("PUT on predict", "PUT", PREDICT, b'{"instances": [1.0]}', {}),
    ("unknown verb", "POST", "/v1/models/half_plus_two:explain", b'{"instances": [1.0]}', {}),
    ("bomb image (50000x50000 claimed)", "POST", IMAGE, png_claiming(50_000, 50_000),
     {"Content-Type": "image/png"}),
    ("image over max_image_pixels", "POST", IMAGE, blank_png(1100, 1000),
     {"Content-Type": "image/png"}),
    ("bomb image as b64 json", "POST", IMAGE,
     ('{"b64": "%s"}' % b64(png_claiming(50_000, 50_000))).encode(), JSON),
    ("pdf named .png", "POST", IMAGE,
     b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"digit.png\"\r\n"
     b"Content-Type: image/png\r\n\r\n%PDF-1.4 not a picture\r\n--b--\r\n",
     {"Content-Type": "multipart/form-data; boundary=b"}),
    ("truncated png", "POST", IMAGE, TINY_PNG[:40], {"Content-Type": "image/png"}),
    ("svg (script) as image", "POST", IMAGE, b"<svg onload=alert(1)></svg>",
     {"Content-Type": "image/svg+xml"}),
    ("empty image", "POST", IMAGE, b"", {"Content-Type": "image/png"}),
    ("image json without b64", "POST", IMAGE, b'{"image": "x"}', JSON),
    ("image json not json", "POST", IMAGE, b"{b64:", JSON),
    ("multipart without file", "POST", IMAGE, b"--b\r\n--b--\r\n",
     {"Content-Type": "multipart/form-data; boundary=b"}),
    ("bad top_k", "POST", IMAGE + "?top_k=-1", TINY_PNG, {"Content-Type": "image/png"}),
    ("legacy endpoint, instances not an object", "POST", "/get_my_predictions",
     b'{"instances": [1.0]}', {}),
    ("legacy endpoint, nothing to predict", "POST", "/get_my_predictions", b"{}", {}),
    ("upload form, non-ASCII CSRF token", "POST", "/",
     "--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--b--\r\n"
     .format("\u00e9" * 43).encode(), {"Content-Type": "multipart/form-data; boundary=b",
                                       "Cookie": "csrf_token=" + "a" * 43}),
    ("admin, no body", "PUT", "/v1/admin/models/half_plus_two/default", b"", {}),
    ("admin, version a string", "PUT", "/v1/admin/models/half_plus_two/default",
     b'{"version": "../1"}', {}),
]

# (id, method, path, body, extra headers, expected status, words the error must contain)
OVER_LIMITS = [
    ("body over max_request_bytes", "POST", PREDICT, b" " * OVER_BODY, {}, 413, ""),
    ("gzip inflating past max_request_bytes", "POST", PREDICT, gzipped(b" " * OVER_BODY * 4),
     {"Content-Encoding": "gzip"}, 413, "Uncompressed request body"),
    ("json values past max_json_elements", "POST", PREDICT,
     ('{"instances": [%s]}' % ",".join(["0"] * (LIMITS["max_json_elements"] + 1))).encode(), {},
     413, "max_json_elements"),
    ("tensor past max_tensor_elements", "POST", PREDICT,
     ('{"inputs": [[%s]]}' % ",".join(["0"] * (LIMITS["max_tensor_elements"] + 1))).encode(), {},
     413, "max_tensor_elements"),
    ("instances past max_instances", "POST", PREDICT,
     ('{"instances": [%s]}' % ",".join(["1.0"] * (LIMITS["max_instances"] + 1))).encode(), {},
     413, "max_instances"),
    ("columnar rows past max_instances", "POST", PREDICT,
     ('{"inputs": [%s]}' % ",".join(["[1.0]"] * (LIMITS["max_instances"] + 1))).encode(), {},
     413, "max_instances"),
    ("examples past max_instances", "POST", CLASSIFY,
     ('{"signature_name": "classify_x_to_y", "examples": [%s]}'
      % ",".join(['{"x": 1.0}'] * (LIMITS["max_instances"] + 1))).encode(), {}, 413,
     "max_instances"),
    ("b64 string past max_b64_bytes", "POST", PREDICT,
     ('{"signature_name": "regress_x_to_y", "instances": [{"b64": "%s"}]}'
      % ("A" * (LIMITS["max_b64_bytes"] * 4 // 3 + 8))).encode(), {}, 413, "max_b64_bytes"),
    ("b64 feature past max_b64_bytes", "POST", CLASSIFY,
     ('{"signature_name": "classify_x_to_y", "examples": [{"x": {"b64": "%s"}}]}'
      % ("A" * (LIMITS["max_b64_bytes"] * 4 // 3 + 8))).encode(), {}, 413, "max_b64_bytes"),
    ("tensor nested past max_json_depth", "POST", PREDICT,
     ('{"instances": %s}' % nested(LIMITS["max_json_depth"] + 1)).encode(), {}, 400,
     "max_json_depth"),
    ("picture past max_image_pixels", "POST", IMAGE, blank_png(1100, 1000),
     {"Content-Type": "image/png"}, 400, "1100x1000"),
    ("picture header claiming 2.5 gigapixels", "POST", IMAGE, png_claiming(50_000, 50_000),
     {"Content-Type": "image/png"}, 400, "megapixels"),
    ("picture past max_image_bytes", "POST", IMAGE,
     blank_png(64, 64) + b"\0" * LIMITS["max_image_bytes"], {"Content-Type": "image/png"}, 413,
     "too large"),
]
