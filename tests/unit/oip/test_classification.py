"""Triton's classification extension (serving/oip/classification.py): labels written as
Triton's server writes them (server src/classification.cc: std::to_string of the value)."""
from __future__ import annotations

import numpy as np
import pytest

from serving.errors import InvalidArgument
from serving.oip.classification import classify


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64"])
def test_integers_are_labelled_as_integers(dtype):
    assert classify(np.array([8, 3, 120], dtype), 2, False).tolist() == [b"120:2", b"8:0"]


def test_a_64_bit_integer_keeps_every_digit_and_its_place():
    values = np.array([2 ** 63 - 2, 2 ** 63 - 1, -2 ** 63], dtype=np.int64)
    assert classify(values, 3, False).tolist() == [
        b"9223372036854775807:1", b"9223372036854775806:0", b"-9223372036854775808:2"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floats_are_written_as_printf_f_writes_them(dtype):
    values = np.array([0.1, -2.5, 1e7, np.inf, -np.inf], dtype)
    assert classify(values, 5, False).tolist() == [
        b"inf:3", b"10000000.000000:2", b"0.100000:0", b"-2.500000:1", b"-inf:4"]


def test_nan_comes_last():
    assert classify(np.array([np.nan, 1.0], np.float32), 2, False).tolist() == [
        b"1.000000:1", b"nan:0"]


def test_batched_rows_are_classified_each_on_its_own_ties_by_lower_index():
    rows = np.array([[1, 5, 3], [7, 0, 7]], np.int32)
    assert classify(rows, 2, True).tolist() == [[b"5:1", b"3:2"], [b"7:0", b"7:2"]]


@pytest.mark.parametrize("array, datatype", [
    (np.array([1.0, 2.0], np.float16), "FP16"), (np.array([True, False]), "BOOL"),
    (np.array([b"a", b"b"], object), "BYTES")])
def test_what_triton_cannot_classify_is_refused_in_its_words(array, datatype):
    with pytest.raises(InvalidArgument) as raised:
        classify(array, 1, False)
    assert raised.value.message == (f"class result not available for output due to "
                                    f"unsupported type '{datatype}'")
