"""Property: any JSON value either converts exactly to a tensor or is refused with a 4xx error;
numpy's fast whole-list reading never changes an answer; limits hold for any value; and no
JSON body, sent to the real app, ever gets a 5xx."""
import base64
import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.codec import jsonio, tensors
from api.errors import HTTP_STATUS
from scripts.make_test_models import ECHO_DTYPES
from serving.config.limits import DEFAULT as DEFAULT_LIMITS
from serving.config.limits import LimitError
from serving.errors import ServingError
from wrappers.base import TensorSpec

FLOAT = TensorSpec("x", "x:0", "DT_FLOAT", (-1,), np.dtype(np.float32))
INT32 = TensorSpec("x", "x:0", "DT_INT32", (-1,), np.dtype(np.int32))
INT64 = TensorSpec("x", "x:0", "DT_INT64", (-1,), np.dtype(np.int64))
STRING = TensorSpec("x", "x:0", "DT_STRING", (-1,), np.dtype(object))
BOOL = TensorSpec("x", "x:0", "DT_BOOL", (-1,), np.dtype(bool))
SPECS = [FLOAT, INT32, INT64, STRING, BOOL]

json_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
                | st.sampled_from([2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**63 - 1, 2**63])
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["x", "b64", "y"]), children, max_size=2),
    max_leaves=24)
PROPERTY = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
# Values once mishandled, or at an edge: every run tries them first.
EDGES = [[True, 1], [1, True], [1.0, True], [[1], [True]], [1, 2.5], [2**31], [-2**31 - 1],
         [2**63], [[1], [1, 2]], [[1], 1], {"b64": "AAAA"}, [{"b64": "AAAA"}], [float("nan")],
         [[[[[[[[1]]]]]]]], [], [[]], [[], []], "abc", None, [None], [[1, 2], [3, "4"]]]


def with_edges(test, **others):
    for value in EDGES:
        test = example(value=value, **others)(test)
    return test


def _client_error(error: ServingError) -> bool:
    return 400 <= HTTP_STATUS.get(error.code, 500) < 500 or isinstance(error, LimitError)


def _has_bool(value) -> bool:
    if isinstance(value, list):
        return any(map(_has_bool, value))
    if isinstance(value, dict):
        return any(map(_has_bool, value.values()))
    return isinstance(value, bool)


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
    return all(a == b and (type(b) is bool) == (spec.dtype == "DT_BOOL")
               for a, b in zip(array.reshape(-1).tolist(), expected.reshape(-1).tolist()))


def _convert(value, spec, fast=None):
    """to_array's answer or its error; fast=None: the default a caller gets (must be safe)."""
    try:
        if fast is None:
            return tensors.to_array(value, spec)
        return tensors.to_array(value, spec, fast)
    except ServingError as error:
        assert _client_error(error), error
        return error


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.dtype)
@PROPERTY
@given(value=json_values)
@with_edges
def test_any_json_value_converts_exactly_or_is_a_client_error(spec, value):
    array = _convert(value, spec)
    if not isinstance(array, ServingError):
        assert _exact(value, array, spec), (value, array)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.dtype)
@PROPERTY
@given(value=json_values)
@with_edges
def test_the_fast_path_gives_the_slow_paths_answer_for_bodies_without_booleans(spec, value):
    if _has_bool(value):
        return  # callers take the fast path only when the body holds no `true`/`false`
    fast, slow = _convert(value, spec, fast=True), _convert(value, spec, fast=False)
    if isinstance(slow, ServingError):
        assert isinstance(fast, ServingError) and fast.code == slow.code, (value, fast)
    else:
        assert not isinstance(fast, ServingError), (value, fast)
        assert fast.dtype == slow.dtype and fast.shape == slow.shape
        assert np.array_equal(fast, slow, equal_nan=spec.dtype == "DT_FLOAT"), (value, fast, slow)


@PROPERTY
@given(value=json_values, columnar=st.booleans())
@lambda test: with_edges(with_edges(test, columnar=False), columnar=True)
def test_any_predict_body_decodes_or_is_a_client_error(value, columnar):
    body = {"inputs" if columnar else "instances": value}
    try:
        feeds, _ = tensors.decode_predict(body, {"x": FLOAT})
    except ServingError as error:
        assert _client_error(error), error
        return
    assert feeds["x"].dtype == np.float32


@PROPERTY
@given(value=json_values, depth=st.integers(1, 8), rows=st.integers(1, 6),
       elements=st.integers(1, 30))
def test_no_value_past_a_limit_is_ever_accepted(value, depth, rows, elements):
    limits = dataclasses.replace(DEFAULT_LIMITS, max_json_depth=depth, max_instances=rows,
                                 max_tensor_elements=elements)
    body = {"instances": value}
    try:
        feeds, _ = tensors.decode_predict(body, {"x": FLOAT}, False, limits)
    except ServingError as error:
        assert _client_error(error), error
        return
    assert feeds["x"].ndim <= depth and feeds["x"].size <= elements
    assert feeds["x"].shape[0] <= rows


@PROPERTY
@given(text=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
@example(text="[" * 1100 + "]" * 1100)
@example(text="[1e400, NaN, -Infinity]")
@example(text='"\\ud800"')
def test_any_body_text_parses_or_is_a_client_error(text):
    try:
        jsonio.loads(text.encode("utf-8", "surrogatepass"))
    except ServingError as error:
        assert error.code == "INVALID_ARGUMENT"


@PROPERTY
@given(value=json_values, limit=st.integers(1, 60))
def test_error_messages_show_a_value_as_compact_json_cut_at_the_limit(value, limit):
    try:
        full = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return
    text = tensors.json_text(value, limit)
    assert text == (full if len(full) <= limit else full[:limit] + "...")


def test_error_messages_about_huge_or_deep_values_stay_short():
    first = json.dumps(list(range(100)), separators=(",", ":"))[:200] + "..."
    assert tensors.json_text(list(range(10**7))) == first
    deep = jsonio.loads(b"[" * 1000 + b"]" * 1000)
    assert tensors.json_text(deep) == "[" * 200 + "..."


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


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(value=json_values, key=st.sampled_from(["instances", "inputs", "examples", "context"]),
       verb=st.sampled_from(["predict", "classify", "regress"]))
@example(value=[True, 1], key="instances", verb="predict")
@example(value=[[[[[[[[1.0]]]]]]]] * 2, key="inputs", verb="predict")
def test_no_json_body_gets_a_server_error_from_the_app(client, value, key, verb):
    body = json.dumps({key: value, "signature_name": f"{verb}_x_to_y"
                       if verb != "predict" else "serving_default"}).encode()
    reply = client.post(f"/v1/models/half_plus_two:{verb}", data=body)
    assert reply.status_code < 500, reply.get_data(as_text=True)[:300]
    assert "error" in reply.get_json() or reply.status_code == 200


# b64 objects may stand anywhere a value may: a whole input, a row, a leaf deep in a list.
b64_objects = st.binary(max_size=6).map(lambda b: {"b64": base64.b64encode(b).decode()})
values_with_b64 = st.recursive(json_scalars | b64_objects,
                               lambda children: st.lists(children, max_size=3), max_leaves=12)
EDGES_WITH_B64 = [{"b64": "aGVsbG8="}, [{"b64": "aGVsbG8="}], [[{"b64": "aGk="}], ["x"]],
                  [{"b64": "aGk="}, "plain"], "plain", [["a"], ["b"]], [[{"b64": ""}]]]


def _decoded(value):
    """What an echoed DT_STRING input comes back as: text, b64 objects decoded."""
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    if isinstance(value, dict):
        return base64.b64decode(value["b64"]).decode("utf-8", "replace")
    return value


def _has_b64(value) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(map(_has_b64, value)))


@pytest.mark.parametrize("dtype", ECHO_DTYPES)
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(value=values_with_b64, columnar=st.booleans())
def test_b64_objects_at_any_level_are_answered_or_refused_for_every_dtype(client, dtype, value,
                                                                          columnar):
    for edge in EDGES_WITH_B64:  # hypothesis' @example cannot sit under parametrize here
        _check_echo(client, dtype, edge, columnar)
    _check_echo(client, dtype, value, columnar)


def _check_echo(client, dtype, value, columnar):
    body = {"signature_name": f"echo_{dtype}", "inputs" if columnar else "instances": value}
    reply = client.post("/v1/models/every_dtype:predict", data=json.dumps(body).encode())
    assert reply.status_code < 500, (body, reply.get_data(as_text=True)[:300])
    answer = reply.get_json()
    if reply.status_code != 200:
        assert set(answer) == {"error"}, answer
        return
    if dtype == "string":
        assert answer == {"outputs" if columnar else "predictions": _decoded(value)}, body
    else:
        assert not _has_b64(value), (body, answer)  # a b64 object is never a number
