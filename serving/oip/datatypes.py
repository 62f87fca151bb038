"""The Open Inference Protocol's datatypes as TensorFlow and numpy know them, and tensors in
the protocol's two layouts: a list of values (JSON `data`, gRPC typed contents) and raw bytes
(the binary extension, gRPC `raw_*_contents`: little-endian, row-major, BYTES elements each
a uint32 length and then the bytes). Every size a client declares is checked against the
bytes it sent and the server's limits before a tensor is allocated.
"""
from __future__ import annotations

import struct
from typing import Sequence

import numpy as np

from serving.config.limits import Limits
from serving.errors import InvalidArgument

# (OIP name, TF DataType name, Triton config name, numpy dtype name)
_TABLE = (
    ("BOOL", "DT_BOOL", "TYPE_BOOL", "bool"),
    ("UINT8", "DT_UINT8", "TYPE_UINT8", "uint8"),
    ("UINT16", "DT_UINT16", "TYPE_UINT16", "uint16"),
    ("UINT32", "DT_UINT32", "TYPE_UINT32", "uint32"),
    ("UINT64", "DT_UINT64", "TYPE_UINT64", "uint64"),
    ("INT8", "DT_INT8", "TYPE_INT8", "int8"),
    ("INT16", "DT_INT16", "TYPE_INT16", "int16"),
    ("INT32", "DT_INT32", "TYPE_INT32", "int32"),
    ("INT64", "DT_INT64", "TYPE_INT64", "int64"),
    ("FP16", "DT_HALF", "TYPE_FP16", "float16"),
    ("FP32", "DT_FLOAT", "TYPE_FP32", "float32"),
    ("FP64", "DT_DOUBLE", "TYPE_FP64", "float64"),
    ("BYTES", "DT_STRING", "TYPE_STRING", "object"),
    ("BF16", "DT_BFLOAT16", "TYPE_BF16", "bfloat16"),
)
FROM_TF = {tf: oip for oip, tf, _, _ in _TABLE}
TRITON = {oip: triton for oip, _, triton, _ in _TABLE}
DATATYPES = tuple(row[0] for row in _TABLE)
_NUMPY_NAMES = {oip: name for oip, _, _, name in _TABLE}
_BY_NUMPY = {name: oip for oip, _, _, name in _TABLE}
_LENGTH = struct.Struct("<I")


def numpy_dtype(datatype: str) -> np.dtype:
    if datatype == "BF16":
        import ml_dtypes  # TensorFlow's own bfloat16 for numpy
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(_NUMPY_NAMES[datatype])


def of_tf(dtype_name: str) -> str:
    """The OIP datatype of a signature tensor ("DT_FLOAT" → "FP32"); "" when none fits."""
    return FROM_TF.get(dtype_name, "")


def of_array(array: np.ndarray) -> str:
    """The OIP datatype of an output array (strings of any numpy kind are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    found = _BY_NUMPY.get(array.dtype.name)
    if found is None:
        raise InvalidArgument(f"an output of type {array.dtype.name} has no Open Inference "
                              f"Protocol datatype")
    return found


def check_datatype(name: str, datatype) -> str:
    if datatype not in _NUMPY_NAMES:
        raise InvalidArgument(f"invalid datatype {datatype!r} for input '{name}': expected one "
                              f"of {', '.join(DATATYPES)}")
    return datatype


def check_shape(name: str, shape, limits: Limits) -> tuple[int, ...]:
    """A request's declared shape: a list of non-negative integers, not too many elements."""
    if not isinstance(shape, (list, tuple)) or any(
            isinstance(d, bool) or not isinstance(d, int) for d in shape):
        raise InvalidArgument(f"the shape of input '{name}' must be a list of integers, got "
                              f"{shape!r}")
    limits.check_rank(len(shape))
    count = 1
    for dim in shape:
        if dim < 0:
            raise InvalidArgument(f"the shape of input '{name}' has a negative dimension: "
                                  f"{list(shape)}")
        count *= dim
        if count > limits.max_tensor_elements:
            limits.check_elements(count)
    return tuple(shape)


def element_count(shape: Sequence[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


# -- raw bytes -------------------------------------------------------------------------------
def from_raw(name: str, datatype: str, shape: tuple[int, ...], data) -> np.ndarray:
    """An input from its raw bytes (a bytes-like object), size checked against the shape."""
    count = element_count(shape)
    if datatype == "BYTES":
        return _strings_from_raw(name, data, count).reshape(shape)
    dtype = numpy_dtype(datatype)
    if len(data) != count * dtype.itemsize:
        raise InvalidArgument(f"input '{name}' has {len(data)} bytes of raw data, but its shape "
                              f"{list(shape)} and datatype {datatype} need "
                              f"{count * dtype.itemsize}")
    array = np.frombuffer(data, dtype=dtype.newbyteorder("<"))
    if datatype == "BOOL" and count and array.view(np.uint8).max() > 1:
        raise InvalidArgument(f"input '{name}' holds a BOOL byte that is neither 0 nor 1")
    return array.astype(dtype, copy=False).reshape(shape)


def _strings_from_raw(name: str, data, count: int) -> np.ndarray:
    view, values, offset = memoryview(data), [], 0
    end = len(view)
    while offset < end:
        if offset + 4 > end:
            raise InvalidArgument(f"input '{name}': a BYTES element's 4-byte length prefix is "
                                  f"cut off at byte {offset} of {end}")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > end:
            raise InvalidArgument(f"input '{name}': a BYTES element claims {length} bytes, but "
                                  f"only {end - offset} remain")
        if len(values) == count:
            raise InvalidArgument(f"input '{name}' holds more BYTES elements than its shape's "
                                  f"{count}")
        values.append(bytes(view[offset:offset + length]))
        offset += length
    if len(values) != count:
        raise InvalidArgument(f"input '{name}' holds {len(values)} BYTES elements, but its "
                              f"shape needs {count}")
    array = np.empty(count, dtype=object)
    array[:] = values
    return array


def to_raw(array: np.ndarray) -> bytes:
    """An output's raw bytes: little-endian, row-major; strings length-prefixed."""
    if array.dtype.kind in "OSU":
        parts = []
        for value in array.reshape(-1):
            value = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            parts += (_LENGTH.pack(len(value)), value)
        return b"".join(parts)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


# -- lists of values -------------------------------------------------------------------------
_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}


def from_values(name: str, datatype: str, shape: tuple[int, ...], values) -> np.ndarray:
    """An input from a list of values, flat or nested as the shape says (JSON `data`, gRPC
    typed contents). JSON null reads as NaN in a floating-point tensor."""
    count = element_count(shape)
    if not isinstance(values, (list, tuple, np.ndarray)):
        values = [values]
    dtype = numpy_dtype(datatype)
    if datatype == "BYTES":
        array = _strings(name, values)
    else:
        try:
            array = np.asarray(values)
            if array.dtype == object and dtype.kind == "f":
                array = array.astype(np.float64)  # null → NaN, and nothing else passes
        except (ValueError, TypeError):
            raise InvalidArgument(f"the data of input '{name}' is not a regular array of "
                                  f"{datatype} values") from None
        if array.size and array.dtype.kind not in _KINDS.get(dtype.kind, "iuf"):
            raise InvalidArgument(f"the data of input '{name}' holds values of type "
                                  f"{array.dtype.name}, which datatype {datatype} cannot take")
        if array.size and dtype.kind in "iu":
            info = np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise InvalidArgument(f"the data of input '{name}' holds a value out of "
                                      f"{datatype}'s range")
        array = array.astype(dtype)
    if array.size != count:
        raise InvalidArgument(f"input '{name}' has {array.size} elements, but its shape "
                              f"{list(shape)} needs {count}")
    if array.ndim > 1 and array.shape != shape:
        raise InvalidArgument(f"the nesting of input '{name}'s data {list(array.shape)} does "
                              f"not match its shape {list(shape)}")
    return array.reshape(shape)


def _strings(name: str, values) -> np.ndarray:
    """BYTES from JSON strings (UTF-8) or gRPC bytes, nested or flat."""
    flat, shape = [], []

    def walk(value, depth):
        if isinstance(value, (list, tuple)):
            if len(shape) <= depth:
                shape.append(len(value))
            for item in value:
                walk(item, depth + 1)
        elif isinstance(value, str):
            flat.append(value.encode("utf-8", "surrogatepass"))
        elif isinstance(value, (bytes, bytearray)):
            flat.append(bytes(value))
        else:
            raise InvalidArgument(f"the data of BYTES input '{name}' holds a {type(value).__name__}"
                                  f"; expected strings")
    walk(list(values), 0)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    if len(shape) > 1 and element_count(shape) == len(flat):
        return array.reshape(shape)
    return array


def to_values(array: np.ndarray) -> list:
    """An output's values, flat, for JSON: strings as UTF-8 text (None when not UTF-8), other
    numbers as Python numbers (bfloat16 through float32)."""
    flat = array.reshape(-1)
    if array.dtype.kind in "OSU":
        out = []
        for value in flat:
            if isinstance(value, str):
                out.append(value)
                continue
            try:
                out.append(bytes(value).decode("utf-8"))
            except UnicodeDecodeError:
                return None
        return out
    if array.dtype.name == "bfloat16":
        flat = flat.astype(np.float32)
    return flat
