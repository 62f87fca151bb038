"""OIP tensors in numpy (serving/oip/datatypes.py): every datatype both ways, and every size a
client declares checked against what it sent and the limits before anything is allocated."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from serving.config.limits import DEFAULT
from serving.errors import InvalidArgument
from serving.oip import datatypes

NUMERIC = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
           "FP16", "FP32", "FP64", "BF16"]


def _sample(datatype):
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    return np.array([[1, 2], [3, 4]]).astype(datatypes.numpy_dtype(datatype))


@pytest.mark.parametrize("datatype", NUMERIC)
def test_numeric_tensors_round_trip_through_raw_bytes(datatype):
    array = _sample(datatype)
    back = datatypes.from_raw("x", datatype, (2, 2), datatypes.to_raw(array))
    assert back.dtype == array.dtype and back.tolist() == array.tolist()
    assert datatypes.of_array(back) == datatype


@pytest.mark.parametrize("datatype", [d for d in NUMERIC if d != "BF16"])
def test_numeric_tensors_read_from_json_values_flat_or_nested(datatype):
    array = _sample(datatype)
    for values in (array.reshape(-1).tolist(), array.tolist()):
        back = datatypes.from_values("x", datatype, (2, 2), values)
        assert back.dtype == array.dtype and back.tolist() == array.tolist()


def test_bytes_are_length_prefixed_and_survive_any_byte():
    array = np.array([b"", b"\xff\x00", "é".encode()], dtype=object)
    raw = datatypes.to_raw(array)
    assert raw[:4] == struct.pack("<I", 0)
    assert datatypes.from_raw("s", "BYTES", (3,), raw).tolist() == array.tolist()
    assert datatypes.to_values(array) is None          # not UTF-8: JSON cannot carry it
    assert datatypes.to_values(array[[0, 2]]) == ["", "é"]


def test_every_tensorflow_type_the_protocol_names_maps_to_its_datatype():
    assert datatypes.of_tf("DT_FLOAT") == "FP32" and datatypes.of_tf("DT_STRING") == "BYTES"
    assert datatypes.of_tf("DT_BFLOAT16") == "BF16" and datatypes.of_tf("DT_COMPLEX64") == ""
    assert datatypes.TRITON["BYTES"] == "TYPE_STRING"


@pytest.mark.parametrize("shape, words", [
    ([-1, 2], "negative"), ([2 ** 40, 2 ** 40], "max_tensor_elements"), ("2", "list"),
    ([1.5], "list"), ([True], "list"), ([1] * 100, "nested"),
])
def test_declared_shapes_are_checked_before_anything_is_built(shape, words):
    with pytest.raises(InvalidArgument, match=words):
        datatypes.check_shape("x", shape, DEFAULT)


@pytest.mark.parametrize("raw, words", [
    (b"\x01\x00", "cut off"),                                     # half a length prefix
    (struct.pack("<I", 100) + b"abc", "claims 100 bytes"),       # a prefix past the end
    (struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b", "more BYTES elements"),
    (b"", "holds 0 BYTES elements"),
])
def test_bad_bytes_framing_is_an_invalid_argument(raw, words):
    with pytest.raises(InvalidArgument, match=words):
        datatypes.from_raw("s", "BYTES", (1,), raw)


@pytest.mark.parametrize("datatype, shape, values, words", [
    ("FP32", (3,), [1, 2], "has 2 elements"),
    ("FP32", (1,), ["a"], "cannot take|not a regular array"),
    ("INT8", (1,), [300], "out of INT8's range"),
    ("INT32", (1,), [1.5], "cannot take"),
    ("BOOL", (1,), [1], "cannot take"),
    ("FP32", (2, 2), [[1, 2, 3], [4]], "not a regular array"),
    ("FP32", (2, 2), [[1], [2], [3], [4]], "nesting"),
    ("BYTES", (1,), [1], "expected strings"),
])
def test_values_that_do_not_fit_are_an_invalid_argument(datatype, shape, values, words):
    with pytest.raises(InvalidArgument, match=words):
        datatypes.from_values("x", datatype, shape, values)


def test_raw_sizes_must_match_the_shape_and_bool_bytes_are_0_or_1():
    with pytest.raises(InvalidArgument, match="need 8"):
        datatypes.from_raw("x", "FP32", (2,), b"\0" * 4)
    with pytest.raises(InvalidArgument, match="neither 0 nor 1"):
        datatypes.from_raw("x", "BOOL", (1,), b"\x02")


def test_json_null_is_nan_and_non_finite_outputs_stay_in_numpy_for_the_encoder():
    back = datatypes.from_values("x", "FP32", (2,), [None, 1.0])
    assert np.isnan(back[0]) and back[1] == 1.0
