"""TensorFlow Serving's gRPC API through a real server (`python app.py`, two workers), called
with tensorflow-serving-api's own stubs and messages, as TF Serving's gRPC tests call it:
values, the model_spec echo, version and label selection, and the status code and message
for each mistake (shared/docs/tfserving_grpc.md has TF Serving's behaviour)."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from scripts.make_test_models import ECHO_DTYPES
from serving.inference import CLASSIFY, REGRESS
from tests.support.helpers import ServerProcess, copy_model, write_config
from tests.support.observe_sinks import access_lines

pytestmark = pytest.mark.e2e
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def grpc_server(served_config):
    process = ServerProcess(f"--model_config_file={served_config}", "--workers=2",
                            "--enable_grpc_healthcheck_service")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def stub(grpc_server):
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(grpc_server):
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        yield model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(model: str, inputs: dict, version=None, label=None, signature="",
                    output_filter=()) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto)
                                       else tf.make_tensor_proto(value))
    return request


def error_of(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value.code(), raised.value.details()


X = np.array([[1.0], [2.0]], np.float32)


# -- Predict ---------------------------------------------------------------------------------
def test_predict_answers_in_the_typed_fields_with_the_model_spec_echoed(stub):
    response = stub.Predict(predict_request("half_plus_two", {"x": X}), timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5, 3.0]
    assert not response.outputs["y"].tensor_content  # TF Serving's clients read float_val
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [2, 1]
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == ("half_plus_two", 123, "serving_default")


def test_inputs_may_come_as_tensor_content_or_as_typed_values_with_tf_servings_rules(stub):
    typed = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0])
    for size in (3, 1):
        typed.tensor_shape.dim.add(size=size)   # [3, 1] from one value: the last repeats
    response = stub.Predict(predict_request("half_plus_two", {"x": typed}), timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5, 2.5, 2.5]
    content = tf.make_tensor_proto(X)
    assert content.tensor_content  # what tf.make_tensor_proto writes for an array
    response = stub.Predict(predict_request("half_plus_two", {"x": content}), timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5, 3.0]


@pytest.mark.parametrize("version, label, expected", [(None, None, 124), (123, None, 123),
                                                      (None, "stable", 123),
                                                      (None, "canary", 124)])
def test_a_version_or_a_label_picks_the_version_that_answers(stub, version, label, expected):
    request = predict_request("two_versions", {"x": X}, version=version, label=label)
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.version.value == expected
    assert not response.model_spec.version_label  # the echo names the number, never a label


@pytest.mark.parametrize("request_, code, message", [
    (predict_request("nope", {"x": X}), Code.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    (predict_request("half_plus_two", {"x": X}, version=7), Code.NOT_FOUND,
     "Servable not found for request: Specific(half_plus_two, 7)"),
    (predict_request("two_versions", {"x": X}, label="beta"), Code.INVALID_ARGUMENT,
     "Unrecognized servable version label: beta"),
    (predict_request("half_plus_two", {"x": X}, signature="nope"), Code.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    (predict_request("half_plus_two", {"z": X}), Code.INVALID_ARGUMENT,
     "Signature input alias: x(feed name: x:0) not found in request and no default value "
     "provided. Inputs expected to be in the set {x}."),
    (predict_request("half_plus_two", {"x": X, "z": X}), Code.INVALID_ARGUMENT,
     "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
     "Missing but required: {}."),
    (predict_request("half_plus_two", {"x": X}, output_filter=["nope"]), Code.INVALID_ARGUMENT,
     "output tensor alias not found in signature: nope Outputs expected to be in the set {y}."),
    (predict_request("half_plus_two", {"x": X}, output_filter=["y", "y"]), Code.INVALID_ARGUMENT,
     "duplicate output tensor alias: y"),
    (predict_request("half_plus_two", {"x": tensor_pb2.TensorProto()}), Code.INVALID_ARGUMENT,
     "tensor parsing error: x"),
    (predict_pb2.PredictRequest(), Code.INVALID_ARGUMENT, "Missing ModelSpec"),
    (predict_request("", {"x": X}), Code.INVALID_ARGUMENT, "ModelSpec has no name specified."),
], ids=["unknown model", "unknown version", "unknown label", "unknown signature",
        "unknown input", "extra input", "unknown output filter", "duplicate output filter",
        "undecodable tensor", "no model spec", "empty name"])
def test_each_mistake_gets_tf_servings_code_and_message(stub, request_, code, message):
    assert error_of(stub.Predict, request_) == (code, message)


def test_a_wrong_dtype_is_refused_by_the_runtime_with_its_own_words(stub):
    code, message = error_of(stub.Predict, predict_request(
        "half_plus_two", {"x": np.array([[1]], np.int32)}))
    assert code == Code.INVALID_ARGUMENT and "Expects arg[0] to be float but int32" in message


def test_shapes_are_the_graphs_business_as_in_tf_serving(stub):
    # The signature's shapes are never checked: an elementwise graph takes any shape ...
    response = stub.Predict(predict_request("matrix", {"x": np.ones((1, 2, 2), np.float32)}),
                            timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5] * 4
    # ... and a shape an op refuses comes back as that op's INVALID_ARGUMENT.
    code, message = error_of(stub.Predict, predict_request(
        "model_a", {"x": np.ones((1, 3, 3), np.float32)}))
    assert code == Code.INVALID_ARGUMENT and message


def test_strings_and_ints_travel_in_their_typed_fields(stub):
    request = predict_request("multi_input", {
        "int_tensor": np.array([[1, 2], [3, 4]], np.int32),
        "str_tensor": np.array([b"foo", b"bar"], object), "bin_tensor": np.array(b"\x00\xff")})
    outputs = stub.Predict(request, timeout=30).outputs
    assert list(outputs["int_tensor"].int_val) == [1, 2, 3, 4]
    assert list(outputs["str_tensor"].string_val) == [b"foo", b"bar"]
    assert list(outputs["bin_tensor"].string_val) == [b"\x00\xff"]
    assert outputs["bin_tensor"].tensor_shape.dim == []  # a scalar: no dims, shape present


@pytest.mark.parametrize("dtype", [d for d in ECHO_DTYPES if d != "string"])
def test_every_dtype_round_trips(stub, dtype):
    values = np.array([[0, 1], [2, 3]]).astype(dtype)
    response = stub.Predict(predict_request("every_dtype", {"x": values},
                                            signature=f"echo_{dtype}"), timeout=30)
    echoed = tf.make_ndarray(response.outputs["y"])
    assert echoed.dtype == values.dtype and np.array_equal(echoed, values)


def test_half_precision_comes_in_and_goes_out_as_raw_16_bit_patterns(stub):
    half = tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF, half_val=[15872])  # 1.5
    half.tensor_shape.dim.add(size=1)
    response = stub.Predict(predict_request("every_dtype", {"x": half},
                                            signature="echo_float16"), timeout=30)
    assert list(response.outputs["y"].half_val) == [15872]


# -- Classify, Regress, MultiInference ------------------------------------------------------
def examples_input(message, *values, context=None):
    target = message.input.example_list_with_context if context else message.input.example_list
    for value in values:
        example = target.examples.add()
        if value is not None:
            example.features.feature["x"].float_list.value.append(value)
    if context:
        target.context.features.feature["x"].float_list.value.append(context)
    return message


def spec(message, model, signature):
    message.model_spec.name, message.model_spec.signature_name = model, signature
    return message


def test_classify_gives_scores_per_example_and_echoes_the_signature(stub):
    request = examples_input(spec(classification_pb2.ClassificationRequest(), "half_plus_two",
                                  "classify_x_to_y"), 2.0, 4.0)
    response = stub.Classify(request, timeout=30)
    assert [[(c.label, c.score) for c in row.classes]
            for row in response.result.classifications] == [[("", 3.0)], [("", 4.0)]]
    assert (response.model_spec.version.value, response.model_spec.signature_name) == \
        (123, "classify_x_to_y")


def test_regress_with_a_context_shared_by_the_examples(stub):
    request = examples_input(spec(regression_pb2.RegressionRequest(), "half_plus_two",
                                  "regress_x_to_y2"), None, None, context=2.0)
    response = stub.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [4.0, 4.0]


def test_a_tf2_export_classifies_although_its_methods_say_predict(stub):
    request = examples_input(spec(classification_pb2.ClassificationRequest(), "tf2",
                                  "classify_x_to_y"), 2.0)
    assert stub.Classify(request, timeout=30).result.classifications[0].classes[0].score == 3.0


@pytest.mark.parametrize("call, request_, message", [
    ("Classify", examples_input(spec(classification_pb2.ClassificationRequest(),
                                     "half_plus_two", "serving_default"), 1.0),
     "No classification inputs found in SignatureDef: "),
    ("Regress", examples_input(spec(regression_pb2.RegressionRequest(), "half_plus_two",
                                    "nope"), 1.0), "No signature was found with the name: nope"),
    ("Regress", spec(regression_pb2.RegressionRequest(), "half_plus_two", "regress_x_to_y"),
     "Input is empty."),
], ids=["classify a predict signature", "unknown signature", "no examples"])
def test_classify_and_regress_mistakes(stub, call, request_, message):
    code, details = error_of(getattr(stub, call), request_)
    assert code == Code.INVALID_ARGUMENT and details.startswith(message)


def multi(*tasks) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for model, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = model, signature
    return examples_input(request, 2.0)


def test_multi_inference_runs_each_task_over_the_same_examples(stub):
    response = stub.MultiInference(multi(("half_plus_two", "classify_x_to_y", CLASSIFY),
                                         ("half_plus_two", "regress_x_to_y2", REGRESS)),
                                   timeout=30)
    first, second = response.results
    assert first.classification_result.classifications[0].classes[0].score == 3.0
    assert second.regression_result.regressions[0].value == 4.0
    assert [(r.model_spec.name, r.model_spec.version.value, r.model_spec.signature_name)
            for r in response.results] == [("half_plus_two", 123, "classify_x_to_y"),
                                           ("half_plus_two", 123, "regress_x_to_y2")]


@pytest.mark.parametrize("tasks, code, message", [
    ([("half_plus_two", "regress_x_to_y", REGRESS)] * 2, Code.INVALID_ARGUMENT,
     "Duplicate evaluation of signature: regress_x_to_y"),
    ([("half_plus_two", "regress_x_to_y", "tensorflow/serving/predict")], Code.UNIMPLEMENTED,
     "Unsupported signature method_name: tensorflow/serving/predict"),
    ([("half_plus_two", "regress_x_to_y", REGRESS), ("tf2", "regress_x_to_y", REGRESS)],
     Code.INVALID_ARGUMENT, "All ModelSpecs in a MultiInferenceRequest must access the same "
                            "model name."),
    ([], Code.INVALID_ARGUMENT, "ModelSpec has no name specified."),
])
def test_multi_inference_mistakes(stub, tasks, code, message):
    assert error_of(stub.MultiInference, multi(*tasks)) == (code, message)


# -- GetModelMetadata, GetModelStatus, health --------------------------------------------
def metadata_request(model, fields=("signature_def",), version=None):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_metadata_packs_the_signature_def_map_in_an_any(stub):
    response = stub.GetModelMetadata(metadata_request("two_versions", version=123), timeout=30)
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signatures)
    assert set(signatures.signature_def) >= {"serving_default", "classify_x2_to_y3"}
    assert signatures.signature_def["serving_default"].inputs["x"].name == "x:0"
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == ("two_versions", 123, "")


@pytest.mark.parametrize("request_, message", [
    (metadata_request("half_plus_two", fields=()),
     "GetModelMetadataRequest must specify at least one metadata_field"),
    (metadata_request("nope", fields=("other",)), "Metadata field other is not supported"),
])
def test_metadata_fields_are_checked_before_the_model(stub, request_, message):
    assert error_of(stub.GetModelMetadata, request_) == (Code.INVALID_ARGUMENT, message)


def status_request(model, version=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_status_lists_versions_newest_first_with_tf_servings_states(models):
    State = get_model_status_pb2.ModelVersionStatus.State
    response = models.GetModelStatus(status_request("two_versions"), timeout=30)
    assert [(s.version, s.state, s.status.error_code, s.status.error_message)
            for s in response.model_version_status] == [(124, State.AVAILABLE, 0, ""),
                                                        (123, State.AVAILABLE, 0, "")]
    (bad,) = models.GetModelStatus(status_request("bad"), timeout=30).model_version_status
    assert bad.state == State.END and bad.status.error_code != 0
    assert "saved_model.pb" in bad.status.error_message


@pytest.mark.parametrize("request_, message", [
    (status_request("nope"), "Could not find any versions of model nope"),
    (status_request("half_plus_two", 9), "Could not find version 9 of model half_plus_two"),
])
def test_status_of_an_unknown_model_or_version_is_not_found(models, request_, message):
    assert error_of(models.GetModelStatus, request_) == (Code.NOT_FOUND, message)


@pytest.mark.parametrize("service, expected", [
    ("", health_pb2.HealthCheckResponse.SERVING),
    ("tensorflow.serving.PredictionService", health_pb2.HealthCheckResponse.SERVING),
    ("model/half_plus_two", health_pb2.HealthCheckResponse.SERVING),
    ("model/bad", health_pb2.HealthCheckResponse.NOT_SERVING)])
def test_the_health_service_answers_for_the_server_and_per_model(grpc_server, service, expected):
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
    assert reply.status == expected


def test_an_unknown_health_service_name_is_not_found(grpc_server):
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(service="model/nope"), timeout=30)
    assert raised.value.code() == Code.NOT_FOUND


def test_without_an_admin_token_a_reload_is_answered_as_tf_serving_answers_it(models):
    from tensorflow_serving.apis import model_management_pb2
    request = model_management_pb2.ReloadConfigRequest()  # checked, refused, nothing changes
    request.config.model_config_list.config.add(name="x", base_path="x",
                                                model_platform="tensorflow")
    code, message = error_of(models.HandleReloadConfigRequest, request)
    assert (code, message) == (Code.INVALID_ARGUMENT, "Expected model x to have an absolute "
                                                      "path or URI; got base_path()=x")


# -- Starting it the ways tensorflow_model_server starts --------------------------------------
def test_a_unix_socket_and_channel_arguments_are_served(tmp_path):
    model = copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    config = write_config(tmp_path / "models.config", {"half_plus_two": model})
    socket_path = tmp_path / "grpc.sock"
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           f"--grpc_socket_path={socket_path}",
                           "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,"
                           "grpc.so_reuseaddr=1")
    try:
        for target in (f"unix:{socket_path}", server.grpc_target):
            with grpc.insecure_channel(target) as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                response = stub.Predict(predict_request("half_plus_two", {"x": X}), timeout=30)
            assert list(response.outputs["y"].float_val) == [2.5, 3.0], target
    finally:
        server.stop()


def test_port_zero_serves_no_tcp_grpc(tmp_path):
    model = copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    config = write_config(tmp_path / "models.config", {"half_plus_two": model})
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", "--port=0")
    try:
        assert server.get("/v1/models/half_plus_two").status_code == 200
        assert "gRPC serving" not in server.log()
    finally:
        server.stop()


def test_grpc_calls_are_counted_by_entrypoint_and_logged_when_the_access_log_is_on(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families
    model = copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    config = write_config(tmp_path / "models.config", {"half_plus_two": model})
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", "--access_log=-")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for _ in range(3):
                stub.Predict(predict_request("half_plus_two", {"x": X}), timeout=30)
            error_of(stub.Predict, predict_request("nope", {"x": X}))
        page = server.get("/monitoring/prometheus/metrics").text
        counts = {(s.labels["entrypoint"], s.labels["verb"], s.labels["status"], s.labels["model"]):
                  s.value for family in text_string_to_metric_families(page)
                  for s in family.samples if s.name == "serving_requests_total"}
        assert counts[("GRPC", "predict", "OK", "half_plus_two")] == 3
        assert counts[("GRPC", "predict", "NOT_FOUND", "")] == 1
        lines = [(line["protocol"], line["method"], line["status"], line["model"],
                  line["version"]) for line in access_lines(server.log())]
        assert lines.count(("grpc", "/tensorflow.serving.PredictionService/Predict", "OK",
                            "half_plus_two", "123")) == 3
        assert ("grpc", "/tensorflow.serving.PredictionService/Predict", "NOT_FOUND", "nope",
                "") in lines
    finally:
        server.stop()


def test_reflection_lists_the_services_for_grpcurl_when_asked_for(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    model = copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    config = write_config(tmp_path / "models.config", {"half_plus_two": model})
    server = ServerProcess(f"--model_config_file={config}", "--workers=1",
                           "--enable_grpc_reflection")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            (reply,) = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30)
        names = {service.name for service in reply.list_services_response.service}
        assert {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"} <= names
    finally:
        server.stop()
