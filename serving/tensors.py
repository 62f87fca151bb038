"""TF Serving's JSON ⇄ tensor rules for :predict (row `instances` and columnar `inputs`).

Conversion tries numpy's C-speed `asarray` first and validates the result; only a body that
numpy cannot take whole (ragged, mixed, strings, huge integers) walks the Python values, which
is also where the precise TF Serving error messages are produced.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping

import numpy as np

from serving.errors import InvalidArgument, Unimplemented

_JSON_TYPE = {dict: "Object", list: "Array", str: "String", bool: "Bool", int: "Int",
              float: "Double", type(None): "Null"}
_UNSUPPORTED = {"DT_COMPLEX64", "DT_COMPLEX128", "DT_BFLOAT16", "DT_RESOURCE", "DT_VARIANT",
                "DT_QINT8", "DT_QUINT8", "DT_QINT32", "DT_QINT16", "DT_QUINT16"}


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _type_name(spec) -> str:
    return spec.dtype[3:].lower()


def _wrong_type(value: Any, spec) -> InvalidArgument:
    shown = value if not isinstance(value, str) else f'"{value}"'
    return InvalidArgument(f"JSON Value: {shown} Type: {_JSON_TYPE.get(type(value), 'Unknown')} "
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
        raise InvalidArgument(f"JSON Value: {value} found at incorrect level: {level + 1} "
                              f"in the JSON DOM. Expected at level: {len(shape)}")
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


def _string_leaf(value: Any, spec) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if is_b64(value) and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"Unable to base64 decode: {value['b64'][:64]}") from None
    raise _wrong_type(value, spec)


def _numeric_leaf(value: Any, spec) -> Any:
    kind = spec.np_dtype.kind
    if kind == "b":
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        pass
    elif kind == "f":
        return float(value)
    elif isinstance(value, int):
        info = np.iinfo(spec.np_dtype)
        if info.min <= value <= info.max:
            return value
    raise _wrong_type(value, spec)


def to_array(value: Any, spec) -> np.ndarray:
    """One JSON value (scalar, nested lists, b64 object) → an array of the signature's dtype."""
    if spec.dtype in _UNSUPPORTED or spec.np_dtype is None:
        raise Unimplemented(f"Conversion of JSON Value: {str(value)[:64]} to type: "
                            f"{_type_name(spec)}")
    if spec.dtype == "DT_STRING":
        return _slow_array(value, spec, _string_leaf)
    if not is_b64(value):
        try:
            fast = np.asarray(value)
        except (ValueError, OverflowError):
            fast = None
        if fast is not None and _fits(fast, spec.np_dtype):
            return fast.astype(spec.np_dtype, copy=False)
    return _slow_array(value, spec, _numeric_leaf)


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


def _slow_array(value: Any, spec, convert) -> np.ndarray:
    shape = shape_of(value)
    _check_dense(value, shape)
    leaves = [convert(leaf, spec) for leaf in _leaves(value)]
    if spec.dtype == "DT_STRING":
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    return np.array(leaves, dtype=spec.np_dtype).reshape(shape)


def _stack_row(items: list, spec, key: str | None) -> np.ndarray:
    """Row format: stack per-instance values; every instance must have the first one's shape."""
    try:
        array = to_array(items, spec)
    except InvalidArgument:
        array = None
    if array is not None and array.shape[:1] == (len(items),):
        return array
    first = shape_of(items[0])
    for index, item in enumerate(items):
        where = f"Failed to process element: {index}{f' [key: {key}]' if key else ''} of " \
                f"'instances' list. Error: INVALID_ARGUMENT: "
        try:
            item_array = to_array(item, spec)
        except InvalidArgument as exc:
            raise InvalidArgument(where + exc.message) from None
        if item_array.shape != first:
            if item_array.size != int(np.prod(first)):
                raise InvalidArgument(where + f"Expecting tensor size: {int(np.prod(first))} "
                                      f"but got: {item_array.size}")
            raise InvalidArgument(where + f"Expecting shape {list(first)} but got: "
                                  f"{list(item_array.shape)}".replace(" ", ""))
    raise InvalidArgument("Failed to process 'instances' list")


def decode_instances(instances: Any, inputs: Mapping) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgument("Expecting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgument("No values in 'instances' array")
    names = list(inputs)
    objects = [isinstance(i, dict) and not is_b64(i) for i in instances]
    if len(names) == 1 and not objects[0]:
        for index, is_object in enumerate(objects):
            if is_object:
                raise InvalidArgument(f"Expecting value/list but got object at item {index} "
                                      f"of input list")
        return {names[0]: _stack_row(instances, inputs[names[0]], None)}
    if not objects[0]:
        raise InvalidArgument("instances is a plain list, but expecting list of objects as "
                              "multiple input tensors required as per tensorinfo_map")
    expected = set(names)
    for index, item in enumerate(instances):
        if not objects[index]:
            raise InvalidArgument(f"Expecting object but got list at item {index} of input list")
        if set(item) != expected:
            raise InvalidArgument(f"Failed to process element: {index} of 'instances' list. "
                                  f"JSON object: {_short(item)} keys must be equal to: "
                                  f"{','.join(sorted(expected))}")
    return {name: _stack_row([item[name] for item in instances], inputs[name], name)
            for name in names}


def decode_inputs(columns: Any, inputs: Mapping) -> dict[str, np.ndarray]:
    names = list(inputs)
    named = isinstance(columns, dict) and not is_b64(columns)
    if len(names) == 1 and not named:
        return {names[0]: to_array(columns, inputs[names[0]])}
    if not named:
        raise InvalidArgument("inputs is a plain value/list, but expecting an object as "
                              "multiple input tensors required as per tensorinfo_map")
    feeds = {}
    for name in names:
        if name not in columns:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        feeds[name] = to_array(columns[name], inputs[name])
    return feeds


def decode_predict(body: Mapping, inputs: Mapping) -> tuple[dict[str, np.ndarray], bool]:
    """The request's feeds by input alias, and whether it used the columnar format."""
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances and has_inputs:
        raise InvalidArgument("Not formatted correctly expecting only one of 'inputs' or "
                              "'instances' keys to exist")
    if not (has_instances or has_inputs):
        raise InvalidArgument("Missing 'inputs' or 'instances' key")
    if has_inputs:
        return decode_inputs(body["inputs"], inputs), True
    return decode_instances(body["instances"], inputs), False


def _output_value(alias: str, array: np.ndarray) -> Any:
    """Strings become text, or {"b64": ...} when the alias ends in `_bytes` (TF Serving's rule)."""
    if array.dtype != object and array.dtype.kind not in "SU":
        return array
    if alias.endswith("_bytes"):
        return _map_strings(array, lambda b: {"b64": base64.b64encode(b).decode("ascii")})
    return _map_strings(array, lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b)


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
            raise InvalidArgument(f"Tensor name: {alias} has no shape information ")
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


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."
