"""TF Serving's JSON ⇄ tensor rules for :predict (row `instances` and columnar `inputs`).

Conversion tries numpy's C-speed `asarray` first and validates the result; only a body that
numpy cannot take whole (ragged, mixed, strings, huge integers) walks the Python values, which
is also where the precise TF Serving error messages are produced.
"""
from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Mapping

import numpy as np

from api.codec.text import json_text, json_type  # noqa: F401  (also used by importers)
from serving.config.limits import DEFAULT as DEFAULT_LIMITS
from serving.config.limits import LimitError, Limits
from serving.errors import InvalidArgument, Unimplemented

_UNSUPPORTED = {"DT_COMPLEX64", "DT_COMPLEX128", "DT_BFLOAT16", "DT_RESOURCE", "DT_VARIANT",
                "DT_QINT8", "DT_QUINT8", "DT_QINT32", "DT_QINT16", "DT_QUINT16"}


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _type_name(spec) -> str:
    return spec.dtype[3:].lower()


def _wrong_type(value: Any, spec) -> InvalidArgument:
    return InvalidArgument(f"JSON Value: {json_text(value)} Type: {json_type(value)} "
                           f"is not of expected type: {_type_name(spec)}")


def shape_of(value: Any) -> tuple[int, ...]:
    """Dense shape by TF Serving's rule: the first element at each level decides."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _check_dense(value: Any, shape: tuple[int, ...], level: int = 0) -> None:
    if level == len(shape):
        if isinstance(value, list):
            raise InvalidArgument(f"Encountered list at unexpected level: {level} expected "
                                  f"level: {len(shape)}")
        return
    if not isinstance(value, list):
        raise InvalidArgument(f"JSON Value: {json_text(value)} found at incorrect level: "
                              f"{level + 1} in the JSON DOM. Expected at level: {len(shape)}")
    if len(value) != shape[level]:
        raise InvalidArgument(f"Encountered list at unexpected size: {len(value)} at level: "
                              f"{level} expected size: {shape[level]}")
    for item in value:
        _check_dense(item, shape, level + 1)


def _leaves(value: Any):
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def b64_decode(text: str) -> bytes:
    """Standard-alphabet base64; like TF Serving (absl) the `=` padding may be left out."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"Unable to base64 decode: {json_text(text, 64)}") from None


def _string_leaf(value: Any, spec, limits: Limits = DEFAULT_LIMITS) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict):
        if is_b64(value) and isinstance(value["b64"], str):
            limits.check_b64(value["b64"])
            return b64_decode(value["b64"])
        raise InvalidArgument(f"JSON Value: {json_text(value)} not formatted correctly for "
                              f"base64 data")
    raise _wrong_type(value, spec)


def _numeric_leaf(value: Any, spec) -> Any:
    kind = spec.np_dtype.kind
    if kind == "b":
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        pass
    elif kind == "f":
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range: ±inf, as TF Serving reads it
            return math.inf if value > 0 else -math.inf
    elif isinstance(value, int):
        info = np.iinfo(spec.np_dtype)
        if info.min <= value <= info.max:
            return value
    raise _wrong_type(value, spec)


def to_array(value: Any, spec, fast: bool = False,
             limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """One JSON value (scalar, nested lists, b64 object) → an array of the signature's dtype.

    `fast=True` lets numpy read number lists whole, which would silently turn a `true` among
    numbers into 1: only callers that know the body holds no JSON boolean may pass it.
    """
    if spec.dtype in _UNSUPPORTED or spec.np_dtype is None:
        raise Unimplemented(f"Conversion of JSON Value: {json_text(value, 64)} to type: "
                            f"{_type_name(spec)}")
    if spec.dtype == "DT_STRING":
        return _slow_array(value, spec, lambda leaf, _: _string_leaf(leaf, spec, limits), limits)
    if (fast or spec.np_dtype.kind == "b") and not is_b64(value):
        try:
            whole = np.asarray(value)
        except (ValueError, OverflowError):
            whole = None
        if whole is not None and _fits(whole, spec.np_dtype):
            if whole.ndim > limits.max_json_depth:
                limits.check_rank(whole.ndim)
            with np.errstate(over="ignore"):  # beyond float32's range is ±inf, as in TF Serving
                return whole.astype(spec.np_dtype, copy=False)
    return _slow_array(value, spec, _numeric_leaf, limits)


def _fits(array: np.ndarray, dtype: np.dtype) -> bool:
    """Whether numpy's own reading of the JSON is exactly what TF Serving would accept."""
    kind = array.dtype.kind
    if dtype.kind == "b":
        return kind == "b"
    if dtype.kind in "fc":
        return kind in "if"
    if kind not in "iu":
        return False
    if array.size == 0:
        return True
    info = np.iinfo(dtype)
    return info.min <= array.min() and array.max() <= info.max


def _slow_array(value: Any, spec, convert, limits: Limits) -> np.ndarray:
    shape = shape_of(value)
    limits.check_rank(len(shape))  # also bounds _check_dense's recursion
    _check_dense(value, shape)
    leaves = [convert(leaf, spec) for leaf in _leaves(value)]
    if spec.dtype == "DT_STRING":
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    with np.errstate(over="ignore"):
        return np.array(leaves, dtype=spec.np_dtype).reshape(shape)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _stack_row(items: list, spec, key: str | None, fast: bool,
               limits: Limits) -> np.ndarray:
    """Row format: stack per-instance values; every instance must have the first one's shape."""
    try:
        array = to_array(items, spec, fast, limits)
    except LimitError:
        raise
    except InvalidArgument:
        array = None
    if array is not None and array.shape[:1] == (len(items),):
        return array
    first = shape_of(items[0])
    for index, item in enumerate(items):
        where = f"Failed to process element: {index}{f' [key: {key}]' if key else ''} of " \
                f"'instances' list. Error: INVALID_ARGUMENT: "
        try:
            item_array = to_array(item, spec, fast, limits)
        except InvalidArgument as exc:
            raise InvalidArgument(where + exc.message) from None
        if item_array.shape != first:
            if item_array.size != int(np.prod(first)):
                raise InvalidArgument(where + f"Expecting tensor size: {int(np.prod(first))} "
                                      f"but got: {item_array.size}")
            raise InvalidArgument(where + f"Expecting shape {_shape_text(first)} but got: "
                                  f"{_shape_text(item_array.shape)}")
    raise InvalidArgument("Failed to process 'instances' list")


def decode_instances(instances: Any, inputs: Mapping, fast: bool = False,
                     limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgument("Expecting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgument("No values in 'instances' array")
    limits.check_rows(len(instances))
    names = list(inputs)
    objects = [isinstance(i, dict) and not is_b64(i) for i in instances]
    if len(names) == 1 and not objects[0]:
        for index, is_object in enumerate(objects):
            if is_object:
                raise InvalidArgument(f"Expecting value/list but got object at item {index} "
                                      f"of input list")
        return {names[0]: _stack_row(instances, inputs[names[0]], None, fast, limits)}
    if not objects[0]:
        raise InvalidArgument("instances is a plain list, but expecting list of objects as "
                              "multiple input tensors required as per tensorinfo_map")
    expected = set(names)
    for index, item in enumerate(instances):
        if not objects[index]:
            raise InvalidArgument(f"Expecting object but got list at item {index} of input list")
        if set(item) != expected:
            raise InvalidArgument(f"Failed to process element: {index} of 'instances' list. "
                                  f"JSON object: {json_text(item)} keys must be equal to: "
                                  f"{','.join(sorted(expected))}")
    return {name: _stack_row([item[name] for item in instances], inputs[name], name, fast,
                             limits) for name in names}


def decode_inputs(columns: Any, inputs: Mapping, fast: bool = False,
                  limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    names = list(inputs)
    named = isinstance(columns, dict) and not is_b64(columns)
    if len(names) == 1 and not named:
        feeds = {names[0]: to_array(columns, inputs[names[0]], fast, limits)}
        _check_columns(feeds, limits)
        return feeds
    if not named:
        raise InvalidArgument("inputs is a plain value/list, but expecting an object as "
                              "multiple input tensors required as per tensorinfo_map")
    feeds = {}
    for name in names:
        if name not in columns:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        feeds[name] = to_array(columns[name], inputs[name], fast, limits)
    _check_columns(feeds, limits)
    return feeds


def _check_columns(feeds: Mapping[str, np.ndarray], limits: Limits) -> None:
    for array in feeds.values():
        if array.ndim:
            limits.check_rows(array.shape[0])


def decode_predict(body: Mapping, inputs: Mapping, fast: bool = False,
                   limits: Limits = DEFAULT_LIMITS) -> tuple[dict[str, np.ndarray], bool]:
    """The request's feeds by input alias, and whether it used the columnar format.

    `fast`: the body holds no JSON booleans, so numpy may read number lists whole.
    """
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances and has_inputs:
        raise InvalidArgument("Not formatted correctly expecting only one of 'inputs' or "
                              "'instances' keys to exist")
    if not (has_instances or has_inputs):
        raise InvalidArgument("Missing 'inputs' or 'instances' key")
    if has_inputs:
        feeds, columnar = decode_inputs(body["inputs"], inputs, fast, limits), True
    else:
        feeds, columnar = decode_instances(body["instances"], inputs, fast, limits), False
    limits.check_feeds(feeds)
    return feeds, columnar


def _output_value(alias: str, array: np.ndarray) -> Any:
    """Strings become text, or {"b64": ...} when the alias ends in `_bytes` (TF Serving's rule)."""
    if array.dtype != object and array.dtype.kind not in "SU":
        if array.dtype.kind not in "biuf":
            raise InvalidArgument(f"Failed to write JSON value for tensor type: {array.dtype}")
        return array
    if alias.endswith("_bytes"):
        return _map_strings(array, lambda b: {"b64": base64.b64encode(_as_bytes(b)).decode()})
    return _map_strings(array, lambda b: b.decode("utf-8", "replace")
                        if isinstance(b, bytes) else b)


def _as_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _map_strings(array: np.ndarray, convert) -> Any:
    if array.ndim == 0:
        return convert(array.item())
    flat = [convert(v) for v in array.reshape(-1).tolist()]
    result = np.empty(len(flat), dtype=object)
    result[:] = flat
    return result.reshape(array.shape).tolist()


def encode_predict(outputs: Mapping[str, np.ndarray], columnar: bool) -> dict:
    """`predictions` (row) or `outputs` (columnar), one output unnamed, several by alias."""
    if columnar:
        if len(outputs) == 1:
            (alias, array), = outputs.items()
            return {"outputs": _output_value(alias, array)}
        return {"outputs": {alias: _output_value(alias, a) for alias, a in outputs.items()}}
    batch = None
    for alias, array in outputs.items():
        if array.ndim == 0:
            raise InvalidArgument(f"Tensor name: {alias} has no shape information")
        if batch is None:
            batch = array.shape[0]
        elif array.shape[0] != batch:
            raise InvalidArgument(f"Tensor name: {alias} has inconsistent batch size: "
                                  f"{array.shape[0]} expecting: {batch}")
    if len(outputs) == 1:
        (alias, array), = outputs.items()
        return {"predictions": _output_value(alias, array)}
    columns = {alias: _output_value(alias, a) for alias, a in outputs.items()}
    return {"predictions": [{alias: column[i] for alias, column in columns.items()}
                            for i in range(batch or 0)]}
