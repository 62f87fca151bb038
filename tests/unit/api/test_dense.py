"""Big float arrays read straight from the JSON text (api/codec/dense.py): exactly what the
general decoder gives for the bodies it takes, and None (the general path) for anything else."""
import json

import numpy as np
import pytest

from api.codec import dense, jsonio, tensors
from serving.config.limits import DEFAULT as LIMITS
from wrappers.base import TensorSpec

IMAGE = {"image": TensorSpec("image", "image:0", "DT_FLOAT", (-1, 16, 16, 3),
                             np.dtype(np.float32))}
RNG = np.random.default_rng(5)


def body(value, key="instances", **extra) -> bytes:
    return json.dumps({**extra, key: value}).encode()


def general(raw: bytes):
    document = jsonio.load_request(raw)
    return tensors.decode_predict(document, IMAGE)[0]


@pytest.mark.parametrize("key", ["instances", "inputs"])
@pytest.mark.parametrize("rows", [1, 3])
def test_a_dense_body_decodes_to_what_the_general_decoder_gives(key, rows):
    value = RNG.normal(size=(rows, 16, 16, 3)).round(4).tolist()
    raw = body(value, key, signature_name="serving_default")
    name, found, array = dense.split(raw)
    assert (name, found) == ("serving_default", key)
    fast = dense.decode(found, array, IMAGE, LIMITS)["image"]
    assert fast.dtype == np.float32 and np.array_equal(fast, general(raw)["image"])


@pytest.mark.parametrize("value", [
    np.zeros((1, 16, 16, 2)).tolist(),                    # another inner shape
    np.zeros((1, 16, 16)).tolist(),                       # another rank
    [[[[1.0, "2", 3.0]] * 16] * 16],                      # a string among the numbers
    [[[[1.0, True, 3.0]] * 16] * 16],                     # a boolean
    [[[[1.0, None, 3.0]] * 16] * 16],                     # null
])
def test_anything_but_exactly_the_signatures_shape_of_numbers_is_left_to_the_general_path(value):
    raw = body(value) + b" " * dense.MIN_BYTES
    split = dense.split(raw)
    if b'"2"' in raw:                                     # a string: not even split
        assert split is None
    else:                                                 # split, then declined by decode
        assert split is not None and dense.decode(split[1], split[2], IMAGE, LIMITS) is None


@pytest.mark.parametrize("raw", [
    b'{"instances": [1.0], "inputs": [2.0]}' + b" " * dense.MIN_BYTES,
    b'{"signature_name": 3, "instances": [1.0]}' + b" " * dense.MIN_BYTES,
    b'[[1.0]]' + b" " * dense.MIN_BYTES,
    b'{"instances": [1.0]}',                              # small: not worth it
])
def test_bodies_with_other_keys_or_no_object_are_not_split(raw):
    assert dense.split(raw) is None


def test_rows_of_plain_numbers_are_split_only_when_big():
    # One row of 784 floats is as fast through orjson + np.array; 20,000 rows are not.
    row = body(RNG.normal(size=(1, 784)).round(6).tolist())
    assert len(row) > dense.MIN_BYTES and dense.split(row) is None
    rows = body(RNG.normal(size=(20, 1000)).round(6).tolist())
    assert len(rows) > dense.FLAT_MIN_BYTES and dense.split(rows) is not None
    nested = body(RNG.normal(size=(1, 16, 16, 3)).round(4).tolist())
    assert len(nested) < dense.FLAT_MIN_BYTES and dense.split(nested) is not None


def test_integers_and_numbers_beyond_float32_read_as_the_general_decoder_reads_them():
    value = RNG.integers(-300, 300, size=(1, 16, 16, 3)).tolist()
    value[0][0][0] = [1e39, -1e39, 5e-324]  # inf, -inf and 0 in float32, as TF Serving casts
    raw = body(value)
    fast = dense.decode(*dense.split(raw)[1:], IMAGE, LIMITS)["image"]
    assert np.array_equal(fast, general(raw)["image"])
    assert np.isinf(fast[0, 0, 0, :2]).all()


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"1e400", b".5", b"01", b"1.", b"+1",
                                    b"1.2.3", b"--1"])
def test_numbers_json_does_not_allow_or_only_tf_serving_reads_go_to_the_general_path(number):
    raw = body(np.zeros((1, 16, 16, 3)).tolist()).replace(b"0.0", number, 1)
    split = dense.split(raw)
    assert split is not None and dense.decode(split[1], split[2], IMAGE, LIMITS) is None


def test_a_ragged_list_with_the_right_skeleton_length_is_refused():
    raw = body([[[1.0, 2.0]], [[3.0]]]).replace(b"3.0]", b"3.0,]")
    split = dense.split(raw + b" " * dense.MIN_BYTES)
    spec = {"x": TensorSpec("x", "x:0", "DT_FLOAT", (-1, 1, 2), np.dtype(np.float32))}
    assert split is not None and dense.decode(split[1], split[2], spec, LIMITS) is None


@pytest.fixture
def digits_client():
    from app import create_app
    from tests.support.helpers import ROOT
    app = create_app({"model_name": "digits", "model_base_path": str(ROOT / "models" / "digits"),
                      "file_system_poll_wait_seconds": 0})
    yield app.test_client()
    app.extensions["serving"].close()


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_through_the_rest_view_the_dense_path_answers_exactly_as_the_general_one(
        digits_client, monkeypatch, key):
    pictures = RNG.uniform(size=(3, 28, 28, 1)).round(3).tolist()
    raw = body(pictures, key)
    decoded, decode = [], dense.decode
    monkeypatch.setattr(dense, "decode", lambda *a: decoded.append(decode(*a)) or decoded[-1])
    fast = digits_client.post("/v1/models/digits:predict", data=raw)
    assert decoded and decoded[-1] is not None           # the dense path answered it
    monkeypatch.setattr(dense, "split", lambda body: None)
    slow = digits_client.post("/v1/models/digits:predict", data=raw)
    assert fast.status_code == slow.status_code == 200
    assert fast.get_json() == slow.get_json()
    # A mistake still gets the general path's answer, in TF Serving's order of checks.
    monkeypatch.undo()
    broken = digits_client.post("/v1/models/nope:predict", data=raw.replace(b"0.", b"0..", 1))
    assert broken.status_code == 400 and "JSON Parse error" in broken.get_json()["error"]
