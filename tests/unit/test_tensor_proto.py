"""TensorProto ⇄ numpy (serving/tensor_proto.py) with TensorFlow's reading rules, which are
not tf.make_ndarray's: TF Serving reads what TensorFlow's Tensor::FromProto reads."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.tensor_proto import TensorParseError, from_array, to_array

T = types_pb2


def proto(dtype, dims=(), **fields) -> tensor_pb2.TensorProto:
    message = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in dims:
        message.tensor_shape.dim.add(size=size)
    return message


@pytest.mark.parametrize("message, expected", [
    (proto(T.DT_FLOAT, (3,), float_val=[1.0]), [1.0, 1.0, 1.0]),           # the last repeats
    (proto(T.DT_FLOAT, (2,), float_val=[1.0, 2.0, 3.0]), [1.0, 2.0]),      # extras ignored
    (proto(T.DT_FLOAT, (2,)), [0.0, 0.0]),                                 # none: zeros
    (proto(T.DT_INT32, (2,), float_val=[5.0]), [0, 0]),                    # other fields ignored
    (proto(T.DT_UINT8, (2,), int_val=[300, 1]), [44, 1]),                  # narrow ints wrap
    (proto(T.DT_FLOAT, (), float_val=[7.0]), 7.0),                         # no dims: a scalar
    (proto(T.DT_STRING, (3,), string_val=[b"a", b"b"]), [b"a", b"b", b"b"]),
    (proto(T.DT_STRING, (2,)), [b"", b""]),
    (proto(T.DT_HALF, (1,), half_val=[15872]), [1.5]),                     # raw 16-bit pattern
    (proto(T.DT_BOOL, (2,), bool_val=[True]), [True, True]),
    (proto(T.DT_FLOAT, (0, 3)), np.zeros((0, 3)).tolist()),
])
def test_typed_fields_are_read_as_tensorflow_reads_them(message, expected):
    assert to_array(message).tolist() == expected


def test_tensor_content_wins_and_is_read_without_a_copy():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    message = tf.make_tensor_proto(values)
    message.float_val.append(99.0)  # ignored: content wins
    array = to_array(message)
    assert array.tolist() == values.tolist() and not array.flags.writeable


@pytest.mark.parametrize("message, words", [
    (tensor_pb2.TensorProto(), "dtype"),
    (proto(T.DT_FLOAT, (-1,)), "negative dimension"),
    (proto(T.DT_FLOAT, (3,), tensor_content=b"\0" * 8), "needs 12"),
    (proto(T.DT_BOOL, (1,), tensor_content=b"\x02"), "0 or 1"),
])
def test_what_tensorflow_would_not_read_is_refused(message, words):
    with pytest.raises(TensorParseError, match=words):
        to_array(message)


@pytest.mark.parametrize("array, dtype, field", [
    (np.array([[1.5, 2.5]], np.float32), "DT_FLOAT", "float_val"),
    (np.array([1, 2], np.int64), "DT_INT64", "int64_val"),
    (np.array([1, 2], np.uint8), "DT_UINT8", "int_val"),
    (np.array([True]), "DT_BOOL", "bool_val"),
    (np.array([1.5], np.float16), "DT_HALF", "half_val"),
    (np.array([b"x", b"yz"], object), "DT_STRING", "string_val"),
])
def test_outputs_go_to_the_typed_field_with_their_shape_and_round_trip(array, dtype, field):
    message = from_array(array, dtype)
    assert types_pb2.DataType.Name(message.dtype) == dtype and getattr(message, field)
    assert [d.size for d in message.tensor_shape.dim] == list(array.shape)
    assert not message.tensor_content
    assert to_array(message).tolist() == array.tolist()
    np.testing.assert_array_equal(tf.make_ndarray(message), array)


def test_outputs_as_tensor_content_when_asked_and_a_scalar_has_an_empty_shape():
    message = from_array(np.array([[1.0, 2.0]], np.float32), "DT_FLOAT", as_content=True)
    assert message.tensor_content and not message.float_val
    assert to_array(message).tolist() == [[1.0, 2.0]]
    scalar = from_array(np.array(3.0, np.float32), "DT_FLOAT")
    assert scalar.HasField("tensor_shape") and list(scalar.tensor_shape.dim) == []
    assert list(scalar.float_val) == [3.0]
