"""Big numeric tensors straight from the request's JSON text into numpy, without building the
nested Python lists: the path for `{"instances": [[[...]]]}` bodies whose nesting matches the
signature's one float input (an image as [N,224,224,3] floats, a feature vector).

Parsing `[[[0.1], [0.2], ...]]` builds a Python list per innermost element, and turning those
into an array walks them again; here the text's bracket-and-comma skeleton is compared with
the one the input's shape implies (one C-speed byte operation), then simdjson parses and
validates the array and writes its numbers into one flat buffer of doubles, with no Python
object per number (a 224×224×3 image: 4 ms instead of 30). Any body this does not cover exactly (other keys, strings, booleans,
NaN, a ragged or mis-nested list, a shape the signature does not fix) returns None, and the
general decoder (api/codec/tensors.py) reads it, with TF Serving's rules and messages.
"""
from __future__ import annotations

import functools
import re
import threading

import numpy as np
import simdjson

from serving.config.limits import Limits

_NUMBER_BYTES = b"0123456789.-+eE \t\r\n"
_FLOATS = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16}
# Possessive `\s*+`, and text before and after the array looked at only within _EDGE bytes:
# a body of 50 MB of blanks costs microseconds here, not seconds of backtracking.
_NAME = rb'"signature_name"\s*+:\s*+"([^"\\]*+)"\s*+'
_HEAD = re.compile(rb'\s*+\{\s*+(?:' + _NAME + rb',\s*+)?"(instances|inputs)"\s*+:\s*+(?=\[)')
_TAIL = re.compile(rb'\s*+(?:,\s*+' + _NAME + rb')?\}\s*+')
MIN_BYTES = 2048  # below this the general path is as fast
_EDGE = 4096
# Rows of plain numbers ([[...], ...]): orjson builds flat lists of floats and np.array reads
# them quickly, so the split pays only for big bodies (one MLP row of 784: 32 µs general,
# 49 µs here). Nested rows ([N,28,28,1]) gain at any size (179 → 57 µs).
FLAT_MIN_BYTES = 1 << 16
_OPENING = re.compile(rb'(?:\[\s*)+')
_parsers = threading.local()  # a simdjson parser serves one document at a time


def split(body: bytes):
    """(signature_name or None, "instances" | "inputs", the array's bytes) of a body that is
    exactly one numeric array and maybe a signature name; None for any other body."""
    if len(body) < MIN_BYTES:
        return None
    head = _HEAD.match(body, 0, _EDGE)
    if head is None:
        return None
    end = body.rfind(b"]")
    if len(body) - end > _EDGE:
        return None
    tail = _TAIL.fullmatch(body, end + 1)
    if tail is None or (head.group(1) is not None and tail.group(1) is not None):
        return None
    array = body[head.end():end + 1]
    if len(array) < FLAT_MIN_BYTES and _OPENING.match(array).group().count(b"[") <= 2:
        return None
    if b'"' in array:  # another key, or a string: not one numeric array
        return None
    name = head.group(1) if head.group(1) is not None else tail.group(1)
    return (name.decode() if name is not None else None), head.group(2).decode(), array


@functools.lru_cache(maxsize=64)
def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a dense JSON array of this shape, numbers left out."""
    if not shape:
        return b""
    inner = _skeleton(shape[1:])
    return b"[" + b",".join([inner] * shape[0]) + b"]"


def decode(key: str, array: bytes, inputs, limits: Limits):
    """{alias: array} for a one-input float signature whose inner shape is fixed, read from
    the array's bytes; None when the text is not exactly such an array (or the signature
    has no such input). LimitExceeded for more rows than max_instances, from the skeleton."""
    if len(inputs) != 1:
        return None
    (alias, spec), = inputs.items()
    dtype = _FLOATS.get(spec.dtype)
    shape = spec.shape
    if dtype is None or shape is None or not shape or any(d < 0 for d in shape[1:]):
        return None
    inner = _skeleton(tuple(shape[1:]))
    skeleton = array.translate(None, _NUMBER_BYTES)
    if len(skeleton) < 2 or (len(skeleton) - 1) % (len(inner) + 1):
        return None
    rows = (len(skeleton) - 1) // (len(inner) + 1)
    if shape[0] >= 0 and rows != shape[0]:
        return None
    if skeleton != b"[" + (inner + b",") * (rows - 1) + inner + b"]":  # rows >= 1 here
        return None
    limits.check_rows(rows)  # raised, not declined: the general path would only say it later
    values = _doubles(array)
    if values is None or values.size != rows * int(np.prod(shape[1:], dtype=np.int64)):
        return None
    with np.errstate(over="ignore"):  # a double beyond float32 becomes inf, as in TF Serving
        return {alias: values.astype(dtype).reshape((rows, *shape[1:]))}


def thread_parser() -> simdjson.Parser:
    """This thread's simdjson parser (it keeps its buffers between documents, and parses one
    at a time: whoever reads a document deletes it before returning)."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    return parser


def _doubles(array: bytes) -> np.ndarray | None:
    """Every number of a JSON array, flattened, as float64; None when the text is not valid
    JSON or holds something else than numbers (NaN, 1e400, true, null: the general path
    says what is wrong, or reads TF Serving's extras)."""
    try:
        document = thread_parser().parse(array)
        try:
            return np.frombuffer(document.as_buffer(of_type="d"), np.float64)
        finally:
            del document  # the parser refuses a new document while this one lives
    except (ValueError, TypeError):
        return None
