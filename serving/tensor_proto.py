"""TensorFlow's TensorProto ⇄ numpy, with TensorFlow's own reading rules (Tensor::FromProto).

The gRPC front decodes requests with it, and warmup files (PredictionLogs) replay through it,
which is why it lives in the core and not beside the gRPC front: it is TensorFlow's tensor
format, not a protocol. `tf.make_ndarray` is not what TF Serving does (it refuses extra
values and shapeless lists), so the rules are written out here:

* `dtype` decides; DT_INVALID (unset) fails. No shape or no dims is a scalar; a negative dim
  fails. A non-empty `tensor_content` wins and must hold exactly N × itemsize little-endian
  bytes (read without a copy). Otherwise the dtype's typed field is read: extra values are
  ignored, missing ones repeat the last, none at all gives zeros (or empty strings).
* Outputs are written to the typed fields, with the shape always set (TF Serving's default:
  its clients read `outputs['y'].float_val`), or to `tensor_content` when asked.
"""
from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.errors import InvalidArgument

_T = types_pb2
# dtype → (numpy dtype, the typed field that carries it)
_TYPES = {
    _T.DT_FLOAT: (np.float32, "float_val"), _T.DT_DOUBLE: (np.float64, "double_val"),
    _T.DT_INT32: (np.int32, "int_val"), _T.DT_INT16: (np.int16, "int_val"),
    _T.DT_INT8: (np.int8, "int_val"), _T.DT_UINT8: (np.uint8, "int_val"),
    _T.DT_UINT16: (np.uint16, "int_val"), _T.DT_INT64: (np.int64, "int64_val"),
    _T.DT_UINT32: (np.uint32, "uint32_val"), _T.DT_UINT64: (np.uint64, "uint64_val"),
    _T.DT_BOOL: (np.bool_, "bool_val"), _T.DT_HALF: (np.float16, "half_val"),
    _T.DT_STRING: (object, "string_val"),
    _T.DT_COMPLEX64: (np.complex64, "scomplex_val"),
    _T.DT_COMPLEX128: (np.complex128, "dcomplex_val"),
}
_BY_NUMPY = {np.dtype(kind): dtype for dtype, (kind, _) in _TYPES.items() if kind is not object}


class TensorParseError(InvalidArgument):
    """A TensorProto TensorFlow would not read; the front names the input it came in."""


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """One TensorProto → an array of its own dtype and shape."""
    if proto.dtype not in _TYPES:
        name = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() \
            else str(proto.dtype)
        raise TensorParseError(f"unsupported or missing dtype {name}")
    kind, field = _TYPES[proto.dtype]
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise TensorParseError(f"negative dimension in shape {dims}")
    count = math.prod(dims)  # a Python int: np.prod wraps around past 2**63
    if proto.tensor_content:
        return _from_content(proto.tensor_content, kind, dims, count, proto.dtype)
    values = getattr(proto, field)
    if proto.dtype == _T.DT_STRING:
        array = np.empty(count, dtype=object)
        if count:
            given = list(values[:count]) or [b""]
            array[:len(given)] = given
            array[len(given):] = given[-1]
        return array.reshape(dims)
    if proto.dtype in (_T.DT_COMPLEX64, _T.DT_COMPLEX128):
        pairs = np.asarray(values, dtype=np.float64)
        flat = pairs[0::2] + 1j * pairs[1::2] if len(pairs) >= 2 else np.zeros(0)
    elif proto.dtype == _T.DT_HALF:
        flat = np.asarray(values, dtype=np.uint16).view(np.float16)
    else:
        # Narrow ints from int_val wrap as TensorFlow's static_cast does (uint8 300 → 44).
        flat = np.asarray(values).astype(kind, copy=False) if len(values) else np.zeros(0, kind)
    return _fill(flat.astype(kind, copy=False), count).reshape(dims)


def element_count(proto: tensor_pb2.TensorProto) -> int:
    """How many elements the proto's shape says, before anything is built: typed fields repeat
    their last value, so a few bytes of message can ask for gigabytes."""
    return math.prod(max(d.size, 0) for d in proto.tensor_shape.dim)


def _fill(flat: np.ndarray, count: int) -> np.ndarray:
    if len(flat) >= count:
        return flat[:count]
    if len(flat) == 0:
        return np.zeros(count, flat.dtype)
    return np.concatenate([flat, np.repeat(flat[-1:], count - len(flat))])


def _from_content(content: bytes, kind, dims: list[int], count: int, dtype: int) -> np.ndarray:
    if kind is object:
        raise TensorParseError("DT_STRING tensors in tensor_content are not supported; send "
                               "string_val")
    item = np.dtype(kind).newbyteorder("<")
    if len(content) != count * item.itemsize:
        raise TensorParseError(f"tensor_content holds {len(content)} bytes; shape {dims} of "
                               f"{types_pb2.DataType.Name(dtype)} needs {count * item.itemsize}")
    array = np.frombuffer(content, dtype=item)  # no copy: a view of the request's bytes
    if dtype == _T.DT_BOOL and array.size and array.view(np.uint8).max() > 1:
        raise TensorParseError("DT_BOOL tensor_content holds a byte other than 0 or 1")
    return array.reshape(dims)


def from_array(array: np.ndarray, dtype_name: str | None = None,
               as_content: bool = False) -> tensor_pb2.TensorProto:
    """An output as TF Serving writes it: shape always set, values in the typed field (or in
    tensor_content when `as_content`, for numeric types). `dtype_name` ("DT_FLOAT") is the
    signature's; without it the array's dtype decides."""
    array = np.asarray(array)
    if dtype_name:
        dtype = types_pb2.DataType.Value(dtype_name)
        if dtype not in _TYPES:
            raise InvalidArgument(f"Cannot write an output of type {dtype_name}")
    elif array.dtype == object or array.dtype.kind in "SU":
        dtype = _T.DT_STRING
    elif array.dtype in _BY_NUMPY:
        dtype = _BY_NUMPY[array.dtype]
    else:
        raise InvalidArgument(f"Cannot write an output of numpy type {array.dtype}")
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.SetInParent()  # present even for a scalar, as TF Serving writes it
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    kind, field = _TYPES[dtype]
    flat = array.reshape(-1)
    if dtype == _T.DT_STRING:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(flat, np.dtype(kind).newbyteorder("<")).tobytes()
    elif dtype == _T.DT_HALF:
        proto.half_val.extend(flat.astype(np.float16).view(np.uint16).tolist())
    elif dtype in (_T.DT_COMPLEX64, _T.DT_COMPLEX128):
        pairs = np.empty(flat.size * 2, np.float64)
        pairs[0::2], pairs[1::2] = flat.real, flat.imag
        getattr(proto, field).extend(pairs.tolist())
    else:
        getattr(proto, field).extend(flat.astype(kind, copy=False).tolist())
    return proto
