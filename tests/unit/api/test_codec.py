"""TF Serving's JSON ⇄ tensor rules (api/codec/tensors.py) and tf.Example bodies (api/codec/examples.py)."""
import json

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from api.codec import examples, jsonio, tensors
from serving.errors import InvalidArgument, Unimplemented
from wrappers.base import TensorSpec


def spec(dtype: str, alias: str = "x") -> TensorSpec:
    numpy = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT8": np.int8,
             "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_UINT8": np.uint8,
             "DT_UINT64": np.uint64, "DT_BOOL": np.bool_, "DT_STRING": object,
             "DT_COMPLEX64": np.complex64}[dtype]
    return TensorSpec(alias, f"{alias}:0", dtype, None, np.dtype(numpy))


def error_of(call, *args) -> str:
    with pytest.raises(InvalidArgument) as caught:
        call(*args)
    return caught.value.message


# -- JSON → tensor ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, value, expected", [
    ("DT_FLOAT", [1.5, 2], np.array([1.5, 2.0], np.float32)),
    ("DT_DOUBLE", [[0.1], [2]], np.array([[0.1], [2.0]])),
    ("DT_INT32", [1, -2], np.array([1, -2], np.int32)),
    ("DT_INT32", [2 ** 31 - 1, -2 ** 31], np.array([2 ** 31 - 1, -2 ** 31], np.int32)),
    ("DT_INT64", [2 ** 62], np.array([2 ** 62], np.int64)),
    ("DT_UINT64", [2 ** 64 - 1], np.array([2 ** 64 - 1], np.uint64)),
    ("DT_UINT8", [0, 255], np.array([0, 255], np.uint8)),
    ("DT_BOOL", [True, False], np.array([True, False])),
    ("DT_FLOAT", 3, np.array(3.0, np.float32)),
    ("DT_FLOAT", [], np.zeros((0,), np.float32)),
])
def test_numbers_keep_the_signature_dtype(dtype, value, expected):
    array = tensors.to_array(value, spec(dtype))
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("dtype, value, message", [
    ("DT_INT32", [1.0], "JSON Value: 1.0 Type: Number is not of expected type: int32"),
    ("DT_INT32", [2 ** 31], "JSON Value: 2147483648 Type: Number is not of expected type: int32"),
    ("DT_INT64", [2 ** 63], "is not of expected type: int64"),
    ("DT_UINT8", [-1], "is not of expected type: uint8"),
    ("DT_BOOL", [1, 0], "JSON Value: 1 Type: Number is not of expected type: bool"),
    ("DT_FLOAT", ["1.0"], 'JSON Value: "1.0" Type: String is not of expected type: float'),
    ("DT_FLOAT", [False], "JSON Value: false Type: False is not of expected type: float"),
    ("DT_FLOAT", {"b64": "AAAA"}, 'JSON Value: {"b64":"AAAA"} Type: Object is not of expected type'),
    ("DT_STRING", [1], "JSON Value: 1 Type: Number is not of expected type: string"),
    ("DT_STRING", [{"b64": 1}], 'JSON Value: {"b64":1} not formatted correctly for base64 data'),
])
def test_values_of_the_wrong_json_type_are_refused(fast, dtype, value, message):
    assert message in error_of(tensors.to_array, value, spec(dtype), fast)


def test_booleans_among_numbers_are_refused_on_the_exact_path():
    # numpy reads [1.0, true] as [1.0, 1.0]; the body holds a `true`, so callers pass fast=False.
    assert "Type: True is not of expected type: float" in \
        error_of(tensors.to_array, [1.0, True], spec("DT_FLOAT"), False)
    body = b'{"inputs": [1.0, true]}'
    with pytest.raises(InvalidArgument):
        tensors.decode_predict(jsonio.loads(body), {"x": spec("DT_FLOAT")},
                               b"true" not in body and b"false" not in body)


def test_unsupported_dtype_is_unimplemented():
    with pytest.raises(Unimplemented, match="Conversion of JSON Value: .* to type: complex64"):
        tensors.to_array([1.0], spec("DT_COMPLEX64"))


def test_nan_and_infinity_are_read_as_floats():
    array = tensors.to_array(jsonio.loads(b"[NaN, Infinity, -Infinity]"), spec("DT_FLOAT"))
    assert np.isnan(array[0]) and array[1] == np.inf and array[2] == -np.inf
    assert tensors.to_array([10 ** 400], spec("DT_FLOAT"))[0] == np.inf  # out of range → inf


def test_strings_are_utf8_or_base64():
    array = tensors.to_array(["héllo", {"b64": "aGVsbG8="}, {"b64": "aGVsbG8"}], spec("DT_STRING"))
    assert array.dtype == object
    assert array.tolist() == ["héllo".encode(), b"hello", b"hello"]  # padding may be left out
    web_safe = {"b64": "a-_b"}
    assert "Unable to base64 decode" in error_of(tensors.to_array, web_safe, spec("DT_STRING"))


@pytest.mark.parametrize("value, message", [
    ([[1.0, 2.0], [3.0]], "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    ([1.0, [2.0]], "Encountered list at unexpected level: 1"),
    ([[1.0], 2.0],
     "JSON Value: 2.0 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
])
def test_columnar_tensors_must_be_dense(value, message):
    assert message in error_of(tensors.to_array, value, spec("DT_FLOAT"))


def test_row_format_stacks_instances_and_names_the_bad_one():
    inputs = {"x": spec("DT_FLOAT")}
    feeds, columnar = tensors.decode_predict({"instances": [[1, 2], [3, 4]]}, inputs)
    assert not columnar and feeds["x"].shape == (2, 2)
    message = error_of(tensors.decode_predict, {"instances": [[1.0], [[2.0]]]}, inputs)
    assert message == ("Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
                       "Expecting shape [1] but got: [1,1]")


def test_several_inputs_row_needs_objects_with_exactly_those_keys():
    inputs = {"a": spec("DT_FLOAT", "a"), "b": spec("DT_INT64", "b")}
    body = {"instances": [{"a": 1.0, "b": 1}, {"a": 2.0, "b": 2}]}
    feeds, _ = tensors.decode_predict(body, inputs)
    assert feeds["a"].tolist() == [1.0, 2.0] and feeds["b"].dtype == np.int64
    assert "keys must be equal to: a,b" in \
        error_of(tensors.decode_predict, {"instances": [{"a": 1.0}]}, inputs)
    assert "instances is a plain list, but expecting list of objects" in \
        error_of(tensors.decode_predict, {"instances": [1.0]}, inputs)
    assert "[key: b]" in error_of(tensors.decode_predict,
                                  {"instances": [{"a": 1.0, "b": 1}, {"a": 1.0, "b": [1]}]}, inputs)


def test_several_inputs_columnar_ignores_extra_keys_but_needs_every_input():
    inputs = {"a": spec("DT_FLOAT", "a"), "b": spec("DT_INT64", "b")}
    feeds, columnar = tensors.decode_predict({"inputs": {"a": [1.0], "b": [1, 2], "c": 0}}, inputs)
    assert columnar and feeds["b"].shape == (2,)  # columnar inputs may differ in dim 0
    assert error_of(tensors.decode_predict, {"inputs": {"a": [1.0]}}, inputs) == \
        "Missing named input: b in 'inputs' object."
    assert "inputs is a plain value/list" in error_of(tensors.decode_predict, {"inputs": [1]}, inputs)


# -- tensor → JSON ----------------------------------------------------------------------------

def encoded(outputs, columnar):
    return json.loads(jsonio.dumps(tensors.encode_predict(outputs, columnar)))


def test_one_output_is_unnamed_several_are_keyed_by_alias():
    y = np.array([[1.0], [2.0]], np.float32)
    z = np.array([3, 4], np.int64)
    assert encoded({"y": y}, False) == {"predictions": [[1.0], [2.0]]}
    assert encoded({"y": y}, True) == {"outputs": [[1.0], [2.0]]}
    assert encoded({"y": y, "z": z}, False) == {"predictions": [{"y": [1.0], "z": 3},
                                                                {"y": [2.0], "z": 4}]}
    assert encoded({"y": y, "z": z}, True) == {"outputs": {"y": [[1.0], [2.0]], "z": [3, 4]}}


def test_ints_stay_ints_and_whole_floats_keep_their_point():
    text = jsonio.dumps(tensors.encode_predict(
        {"f": np.array([3.0, 0.1], np.float32), "i": np.array([3, 1], np.int32),
         "b": np.array([True, False])}, True))
    assert json.loads(text) == {"outputs": {"f": [3.0, 0.1], "i": [3, 1], "b": [True, False]}}
    assert b"[3.0,0.1]" in text and b"[3,1]" in text  # float32 0.1 is written short


def test_nan_and_infinity_are_written_bare():
    text = jsonio.dumps(tensors.encode_predict({"y": np.array([np.nan, np.inf, -np.inf, 1.5],
                                                              np.float32)}, True))
    assert text == b'{"outputs":[NaN,Infinity,-Infinity,1.5]}'


def test_string_outputs_are_text_unless_the_alias_ends_in_bytes():
    words = np.array([b"cat", b"d\xc3\xb6g"], dtype=object)
    assert encoded({"label": words}, True) == {"outputs": ["cat", "dög"]}
    assert encoded({"image_bytes": words}, False) == \
        {"predictions": [{"b64": "Y2F0"}, {"b64": "ZMO2Zw=="}]}
    assert encoded({"a_bytes": np.array(b"\x00\xff", dtype=object)}, True) == \
        {"outputs": {"b64": "AP8="}}


def test_row_format_needs_outputs_with_one_batch_size():
    assert error_of(tensors.encode_predict, {"y": np.array(1.0, np.float32)}, False) == \
        "Tensor name: y has no shape information"
    assert error_of(tensors.encode_predict, {"a": np.zeros(2), "b": np.zeros(1)}, False) == \
        "Tensor name: b has inconsistent batch size: 1 expecting: 2"
    assert encoded({"y": np.array(1.5, np.float32)}, True) == {"outputs": 1.5}


def test_outputs_json_cannot_express_are_a_client_error():
    assert "Failed to write JSON value for tensor type: complex64" in \
        error_of(tensors.encode_predict, {"y": np.zeros(1, np.complex64)}, True)


# -- tf.Example bodies ------------------------------------------------------------------------

def parsed(serialized: bytes) -> dict:
    example = example_pb2.Example.FromString(serialized)
    result = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        result[name] = (kind, list(getattr(feature, kind).value) if kind else [])
    return result


def test_json_values_become_typed_features():
    body = {"examples": [{"f": 2.0, "i": 2, "b": True, "s": "hi", "raw": {"b64": "AAE="},
                          "fl": [1.5, 2.5], "empty": []}]}
    (serialized,) = examples.decode_examples(body, "regress")
    features = parsed(serialized)
    assert features["f"] == ("float_list", [2.0])
    assert features["i"] == ("int64_list", [2]) and features["b"] == ("int64_list", [1])
    assert features["s"] == ("bytes_list", [b"hi"])
    assert features["raw"] == ("bytes_list", [b"\x00\x01"])
    assert features["fl"] == ("float_list", [1.5, 2.5])
    assert features["empty"] == (None, [])


def test_context_is_shared_and_an_example_value_wins():
    body = {"context": {"q": "pizza", "x": 1.0}, "examples": [{"x": 4.0}, {}]}
    first, second = examples.decode_examples(body, "classify")
    assert parsed(first) == {"q": ("bytes_list", [b"pizza"]), "x": ("float_list", [4.0])}
    assert parsed(second) == {"q": ("bytes_list", [b"pizza"]), "x": ("float_list", [1.0])}


@pytest.mark.parametrize("body, message", [
    ({}, "When method is classify, key 'examples' is expected and was not found"),
    ({"examples": {}}, "Expecting 'examples' value to be an list/array"),
    ({"examples": []}, "'examples' value is an empty array"),
    ({"examples": [1]}, "Example must be JSON object but got JSON Number"),
    ({"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
    ({"examples": [{"x": [[1.0]]}]}, "Feature: x has element with unexpected JSON type: Array"),
    ({"examples": [{"x": {"a": 1}}]}, "Feature: x has element with unexpected JSON type: Object"),
    ({"examples": [{"x": [1, 2.0]}]}, "Unexpected element type in feature: x expecting type: int64"),
    ({"examples": [{"x": 2 ** 63}]}, "Feature: x has uint64 element. Only int64 is supported."),
    ({"examples": [{"x": {"b64": "!"}}]}, "Unable to base64 decode"),
    ({"context": [], "examples": [{}]}, "'context' must be a JSON object"),
])
def test_malformed_examples_are_refused(body, message):
    assert message in error_of(examples.decode_examples, body, "classify")


def test_regress_results_are_one_float_per_example():
    from serving.inference import _regression
    column = np.array([[1.5], [2.0]], np.float32)
    assert examples.encode_regress(_regression(column, 2))["results"].tolist() == [1.5, 2.0]
    assert "[batch_size] or [batch_size, 1]" in \
        error_of(_regression, np.zeros((2, 2), np.float32), 2)


def test_classify_results_pair_labels_with_scores():
    from serving.inference import _classification
    classes = np.array([[b"cat", b"dog"]], dtype=object)
    scores = np.array([[0.75, 0.25]], np.float32)
    def classified(outputs):
        return json.loads(jsonio.dumps(examples.encode_classify(_classification(outputs, 1))))
    assert classified({"classes": classes, "scores": scores}) == \
        {"results": [[["cat", 0.75], ["dog", 0.25]]]}
    assert classified({"scores": scores}) == {"results": [[["", 0.75], ["", 0.25]]]}
