"""The /v2 body codec (api/oip/codec.py): JSON and binary inputs side by side, binary outputs
as asked, and the framing checked before a byte is sliced."""
from __future__ import annotations

import json

import numpy as np
import pytest

from api.oip import codec
from serving.config.limits import DEFAULT
from serving.errors import InvalidArgument
from serving.oip.service import InferResult


def _body(document, *blobs):
    head = json.dumps(document).encode()
    return head + b"".join(blobs), str(len(head))


def test_json_and_binary_inputs_mix_and_binary_ones_are_sliced_in_order():
    body, length = _body({"id": 7, "inputs": [
        {"name": "a", "datatype": "INT32", "shape": [1], "parameters": {"binary_data_size": 4}},
        {"name": "b", "datatype": "FP32", "shape": [2], "data": [1, 2]},
        {"name": "c", "datatype": "UINT8", "shape": [2], "parameters": {"binary_data_size": 2}}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}]},
        b"\x01\0\0\0", b"\x05\x06")
    request = codec.decode(body, length, DEFAULT)
    assert [bytes(t.raw) if t.raw is not None else t.values for t in request.inputs] == \
        [b"\x01\0\0\0", [1, 2], b"\x05\x06"]
    assert request.id == 7 and request.outputs == ["y"] and request.binary == {"y": True}


@pytest.mark.parametrize("length", ["x", "-1", "99999", "0"])
def test_a_bad_header_length_is_an_invalid_argument(length):
    body, _ = _body({"inputs": []})
    with pytest.raises(InvalidArgument):
        codec.decode(body, length, DEFAULT)


def test_binary_outputs_follow_the_json_header_with_its_length_in_the_header():
    request = codec.decode(json.dumps({"inputs": [], "parameters": {"binary_data_output": True}})
                           .encode(), None, DEFAULT)
    result = InferResult("m", "1", [("y", np.array([1.5, 2.5], np.float32))])
    body, headers = codec.encode(request, result)
    head = json.loads(body[:int(headers[codec.HEADER])])
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(body[int(headers[codec.HEADER]):], np.float32).tolist() == [1.5, 2.5]


def test_json_outputs_have_no_nan_literals():
    request = codec.decode(b'{"inputs": []}', None, DEFAULT)
    result = InferResult("m", "1", [("y", np.array([np.nan, np.inf], np.float64))])
    body, headers = codec.encode(request, result)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["outputs"][0]["data"] == [None, None]




def _values(body: bytes):
    from serving.oip.datatypes import from_values
    tensor = codec.decode(body, None, DEFAULT).inputs[0]
    return from_values(tensor.name, tensor.datatype, tuple(tensor.shape), tensor.values)


def test_a_bare_nan_in_float_data_reads_as_nan_on_the_fast_path(monkeypatch):
    slow = []
    monkeypatch.setattr(codec.jsonio, "loads", lambda *a, **k: slow.append(1))
    body = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1.5, NaN, 2]}]}'
    array = _values(body)
    assert np.isnan(array[1]) and array[[0, 2]].tolist() == [1.5, 2.0] and not slow


@pytest.mark.parametrize("body, expected", [
    # a string holding the token keeps it: the standard library reads the body
    (b'{"id": "NaN", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1], '
     b'"data": [NaN]}]}', "NaN"),
    (b'{"id": "a,NaN,b", "inputs": [{"name": "x", "datatype": "FP64", "shape": [2], '
     b'"data": [NaN, Infinity]}]}', "a,NaN,b"),
])
def test_strings_holding_nan_and_infinite_values_keep_their_meaning(body, expected):
    request = codec.decode(body, None, DEFAULT)
    assert request.id == expected
    from serving.oip.datatypes import from_values
    tensor = request.inputs[0]
    array = from_values(tensor.name, tensor.datatype, tuple(tensor.shape), tensor.values)
    assert np.isnan(array[0]) and (array.size == 1 or np.isposinf(array[1]))


def test_a_nan_where_an_integer_belongs_is_still_refused():
    body = b'{"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [NaN]}]}'
    with pytest.raises(InvalidArgument, match="'x'"):
        _values(body)
