"""Property: any JSON value either converts exactly to a tensor or is refused with a 4xx error."""
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving import jsonio, tensors
from serving.errors import ServingError
from wrappers.base import TensorSpec

FLOAT = TensorSpec("x", "x:0", "DT_FLOAT", (-1,), np.dtype(np.float32))
INT32 = TensorSpec("x", "x:0", "DT_INT32", (-1,), np.dtype(np.int32))
STRING = TensorSpec("x", "x:0", "DT_STRING", (-1,), np.dtype(object))
BOOL = TensorSpec("x", "x:0", "DT_BOOL", (-1,), np.dtype(bool))

json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["x", "b64", "y"]), children, max_size=2),
    max_leaves=24)
PROPERTY = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _client_error(error: ServingError) -> bool:
    return error.code in {"INVALID_ARGUMENT", "UNIMPLEMENTED", "FAILED_PRECONDITION"}


def _exact(value, array: np.ndarray, spec) -> bool:
    """The array holds the JSON value itself: same nesting, same numbers (after the cast)."""
    if spec.dtype == "DT_STRING":
        return True
    expected = np.asarray(value, dtype=np.float64 if spec.dtype == "DT_FLOAT" else object)
    if expected.shape != array.shape:
        return False
    if spec.dtype == "DT_FLOAT":
        with np.errstate(over="ignore"):
            cast = expected.astype(np.float32)
        return bool(np.array_equal(cast, array, equal_nan=True))
    return all(a == b and type(b) is not bool or spec.dtype == "DT_BOOL"
               for a, b in zip(array.reshape(-1).tolist(), expected.reshape(-1).tolist()))


@pytest.mark.parametrize("spec", [FLOAT, INT32, STRING, BOOL], ids=lambda s: s.dtype)
@PROPERTY
@given(value=json_values)
def test_any_json_value_converts_exactly_or_is_a_client_error(spec, value):
    try:
        array = tensors.to_array(value, spec)
    except ServingError as error:
        assert _client_error(error), error
        return
    assert _exact(value, array, spec), (value, array)


@PROPERTY
@given(value=json_values, columnar=st.booleans())
def test_any_predict_body_decodes_or_is_a_client_error(value, columnar):
    body = {"inputs" if columnar else "instances": value}
    try:
        feeds, _ = tensors.decode_predict(body, {"x": FLOAT})
    except ServingError as error:
        assert _client_error(error), error
        return
    assert feeds["x"].dtype == np.float32


@PROPERTY
@given(text=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_any_body_text_parses_or_is_a_client_error(text):
    try:
        jsonio.loads(text.encode("utf-8", "surrogatepass"))
    except ServingError as error:
        assert error.code == "INVALID_ARGUMENT"


@PROPERTY
@given(value=json_values)
def test_outputs_round_trip_through_json(value):
    try:
        array = tensors.to_array(value, FLOAT)
    except ServingError:
        return
    encoded = json.loads(jsonio.dumps(tensors.encode_predict({"y": array}, columnar=True)))
    decoded = np.asarray(encoded["outputs"], dtype=np.float64).astype(np.float32)
    assert np.array_equal(decoded, array, equal_nan=True) or not all(
        math.isfinite(v) for v in array.reshape(-1).tolist())
