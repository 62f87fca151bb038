"""A request's row count (instances, examples) read before its body becomes Python objects.

Past max_instances a body is refused anyway, but parsing 50 MB into lists takes seconds;
simdjson reads the same text into its own tape ~5x faster, and the row count is then a
length. Only a big body with at least max_instances commas pays for this second reading
(~20% of orjson's time, 0 for the dense bodies of api/codec/dense.py, which count their own).
"""
from __future__ import annotations

import simdjson

from api.codec.dense import thread_parser
from serving.config.limits import Limits

MIN_BYTES = 1 << 22  # below this the full decoder refuses about as fast as a legal body pays
_ROWS = {"predict": ("instances", "inputs"), "classify": ("examples",),
         "regress": ("examples",)}


def check(body: bytes, verb: str, limits: Limits) -> None:
    """Raise what the decoder would (LimitExceeded, same words) for a body that certainly
    holds more rows than max_instances; do nothing for any other, well-formed or not."""
    if len(body) < MIN_BYTES or body.count(b",") < limits.max_instances:
        return
    try:
        document = thread_parser().parse(body)
    except ValueError:  # not standard JSON (or NaN, 1e400): the full reader says what it is
        return
    try:
        rows, what = _rows(document, verb)
    finally:
        del document  # before raising: a traceback would keep it, and the parser busy
    if rows > limits.max_instances:
        limits.check_rows(rows, what)


def _rows(document, verb: str) -> tuple[int, str]:
    """(rows, the decoder's word for them), or (0, "") where the decoder would first refuse
    the body for something else (TF Serving's order: the body's shape before its size)."""
    if not isinstance(document, simdjson.Object):
        return 0, ""
    name = document.get("signature_name")
    if name is not None and not isinstance(name, str):
        return 0, ""
    present = [key for key in _ROWS[verb] if key in document]
    if len(present) != 1:
        return 0, ""
    key, = present
    value = document[key]
    if key == "examples":
        context = document.get("context")
        ok = context is None or isinstance(context, simdjson.Object)
        return (len(value), "examples") if ok and isinstance(value, simdjson.Array) else (0, "")
    if isinstance(value, simdjson.Array):
        return len(value), "instances"
    if key == "inputs" and isinstance(value, simdjson.Object) and "b64" not in value:
        # Named columns: the decoder counts the rows of the signature's inputs only, so
        # only lists all of one length are certain, whichever of them the signature names.
        columns = [value[column] for column in value.keys()]  # .values() would build lists
        if not all(isinstance(column, simdjson.Array) for column in columns):
            return 0, ""
        lengths = {len(column) for column in columns}
        return (lengths.pop(), "instances") if len(lengths) == 1 else (0, "")
    return 0, ""
