"""Signature tensors of reference type (a TF1 variable's DT_<TYPE>_REF) through a real server:
a run hands back the variable's value, so predict, classify and regress answer it in the base
type (DT_FLOAT, not DT_FLOAT_REF) on REST and gRPC, a ref-typed input is fed like its base
type, and metadata reports base types (scripts/make_test_models.py `ref_outputs`)."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from scripts.make_test_models import ECHO_DTYPES, REF_DTYPES, ref_value
from serving.inference import CLASSIFY, REGRESS
from tests.support.helpers import ServerProcess, copy_model, write_config

pytestmark = pytest.mark.e2e
MODEL = "ref_outputs"


@pytest.fixture(scope="module")
def ref_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref")
    config = write_config(base / "models.config", {MODEL: copy_model(MODEL, base / MODEL)})
    process = ServerProcess(f"--model_config_file={config}", "--workers=1")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def stub(ref_server):
    with grpc.insecure_channel(ref_server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def base_enum(dtype: str) -> int:
    return tf.as_dtype(dtype).as_datatype_enum


def as_json(dtype: str) -> list:
    return [v.decode() if isinstance(v, bytes) else v for v in ref_value(dtype).tolist()]


def predict(server, body: dict) -> dict:
    answer = server.post(f"/v1/models/{MODEL}:predict", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- REST ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ECHO_DTYPES)
def test_rest_row_predict_answers_a_variable_output_with_its_value(ref_server, dtype):
    values = as_json(dtype)
    answer = predict(ref_server, {"signature_name": f"out_{dtype}", "instances": values})
    assert answer == {"predictions": [{"y": value, "v": value} for value in values]}


@pytest.mark.parametrize("dtype", ECHO_DTYPES)
def test_rest_columnar_predict_answers_a_variable_output_with_its_value(ref_server, dtype):
    answer = predict(ref_server, {"signature_name": f"out_{dtype}", "inputs": {"x": []}})
    assert answer == {"outputs": {"y": [], "v": as_json(dtype)}}


@pytest.mark.parametrize("dtype", ECHO_DTYPES)
def test_rest_feeds_a_ref_typed_input_as_its_base_type(ref_server, dtype):
    values = as_json(dtype)
    assert predict(ref_server, {"signature_name": f"in_{dtype}", "instances": values}) == \
        {"predictions": values}
    assert predict(ref_server, {"signature_name": f"in_{dtype}", "inputs": values}) == \
        {"outputs": values}


def test_rest_b64_strings_reach_a_string_ref_input(ref_server):
    answer = predict(ref_server, {"signature_name": "in_string",
                                  "instances": [{"b64": "cmVm"}]})
    assert answer == {"predictions": ["ref"]}


def test_rest_refuses_a_mistyped_value_for_a_ref_input_in_its_base_type_words(ref_server):
    answer = ref_server.post(f"/v1/models/{MODEL}:predict",
                             json={"signature_name": "in_int32", "instances": ["a"]})
    assert answer.status_code == 400
    assert answer.json()["error"].endswith("is not of expected type: int32")


def test_rest_metadata_reports_base_types_for_ref_tensors(ref_server):
    answer = ref_server.get(f"/v1/models/{MODEL}/metadata")
    assert answer.status_code == 200
    signatures = answer.json()["metadata"]["signature_def"]["signature_def"]
    assert signatures["out_float32"]["outputs"]["v"]["dtype"] == "DT_FLOAT"
    assert signatures["out_float32"]["outputs"]["v"]["name"] == "out_float32:0"
    assert signatures["in_string"]["inputs"]["x"]["dtype"] == "DT_STRING"
    assert signatures["classify_variable"]["outputs"]["classes"]["dtype"] == "DT_STRING"
    dtypes = [info["dtype"] for signature in signatures.values()
              for side in ("inputs", "outputs") for info in signature[side].values()]
    assert len(dtypes) == 5 * len(REF_DTYPES) + 9  # x, y, v; x, y; and the four over Examples
    assert not [dtype for dtype in dtypes if dtype.endswith("_REF")]


def test_rest_classify_and_regress_answer_ref_outputs(ref_server):
    def call(verb, signature, *xs):
        answer = ref_server.post(f"/v1/models/{MODEL}:{verb}", json={
            "signature_name": signature, "examples": [{"x": x} for x in xs]})
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]
    assert call("classify", "classify_variable", 1.0) == [[["no", 0.25], ["yes", 0.75]]]
    assert call("regress", "regress_variable", 1.0) == [3.5]
    assert call("classify", "classify_assign", 2.0, 4.0) == [[["", 3.0]], [["", 4.0]]]
    assert call("regress", "regress_assign", 2.0, 4.0) == [3.0, 4.0]


# -- gRPC ----------------------------------------------------------------------------------
def predict_request(signature: str, x: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = MODEL, signature
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return request


@pytest.mark.parametrize("dtype", REF_DTYPES)
def test_grpc_predict_answers_a_variable_output_in_its_base_type(stub, dtype):
    value = ref_value(dtype)
    outputs = stub.Predict(predict_request(f"out_{dtype}", value), timeout=30).outputs
    assert outputs["v"].dtype == base_enum(dtype)
    answered = tf.make_ndarray(outputs["v"])
    assert answered.dtype == value.dtype and answered.tolist() == value.tolist()
    assert tf.make_ndarray(outputs["y"]).tolist() == value.tolist()


def test_grpc_predict_writes_a_ref_output_to_its_base_types_typed_field(stub):
    outputs = stub.Predict(predict_request("out_float32", np.zeros(0, np.float32)),
                           timeout=30).outputs
    assert list(outputs["v"].float_val) == [7.0, 3.0]
    assert [d.size for d in outputs["v"].tensor_shape.dim] == [2]


@pytest.mark.parametrize("dtype", REF_DTYPES)
def test_grpc_feeds_a_ref_typed_input_sent_in_its_base_type(stub, dtype):
    value = ref_value(dtype)
    outputs = stub.Predict(predict_request(f"in_{dtype}", value), timeout=30).outputs
    assert outputs["y"].dtype == base_enum(dtype)
    assert tf.make_ndarray(outputs["y"]).tolist() == value.tolist()


def test_grpc_metadata_reports_base_types_for_ref_tensors(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert stub.GetModelMetadata(request, timeout=30).metadata["signature_def"].Unpack(signatures)
    defs = signatures.signature_def
    assert defs["out_int64"].outputs["v"].dtype == types_pb2.DT_INT64
    assert defs["in_bool"].inputs["x"].dtype == types_pb2.DT_BOOL
    assert defs["regress_assign"].outputs["outputs"].dtype == types_pb2.DT_FLOAT
    names = [types_pb2.DataType.Name(info.dtype) for signature in defs.values()
             for side in (signature.inputs, signature.outputs) for info in side.values()]
    assert names and not [name for name in names if name.endswith("_REF")]


def examples(message, *xs):
    for x in xs:
        message.input.example_list.examples.add().features.feature["x"].float_list.value \
            .append(x)
    return message


def test_grpc_classify_answers_ref_scores_and_classes(stub):
    request = examples(classification_pb2.ClassificationRequest(), 1.0)
    request.model_spec.name, request.model_spec.signature_name = MODEL, "classify_variable"
    [row] = stub.Classify(request, timeout=30).result.classifications
    assert [(c.label, c.score) for c in row.classes] == [("no", 0.25), ("yes", 0.75)]
    request.model_spec.signature_name = "classify_assign"
    del request.input.example_list.examples[:]
    rows = stub.Classify(examples(request, 2.0, 4.0), timeout=30).result.classifications
    assert [[c.score for c in row.classes] for row in rows] == [[3.0], [4.0]]


def test_grpc_regress_answers_a_ref_output(stub):
    request = examples(regression_pb2.RegressionRequest(), 1.0)
    request.model_spec.name, request.model_spec.signature_name = MODEL, "regress_variable"
    assert [r.value for r in stub.Regress(request, timeout=30).result.regressions] == [3.5]
    request.model_spec.signature_name = "regress_assign"
    del request.input.example_list.examples[:]
    regressions = stub.Regress(examples(request, 2.0, 4.0), timeout=30).result.regressions
    assert [r.value for r in regressions] == [3.0, 4.0]


def test_grpc_multi_inference_answers_ref_outputs(stub):
    request = examples(inference_pb2.MultiInferenceRequest(), 2.0)
    for signature, method in (("classify_assign", CLASSIFY), ("regress_assign", REGRESS)):
        task = request.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = MODEL, signature
    first, second = stub.MultiInference(request, timeout=30).results
    assert first.classification_result.classifications[0].classes[0].score == 3.0
    assert second.regression_result.regressions[0].value == 3.0
