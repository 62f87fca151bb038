"""Details a script written for Triton reads as Triton answers them, through tritonclient.http
and tritonclient.grpc against gunicorn with two workers and batching on (as tests/e2e/
test_oip.py): statistics without warmup and with the time of the last inference, input shapes
checked against the model's, the model config with every field Triton prints, and
classification labels written as Triton writes them."""
from __future__ import annotations

import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2, service_pb2
from tritonclient.utils import InferenceServerException

from tests.support.helpers import ROOT, ServerProcess, copy_model, write_config
from tests.support.triton_clients import grpc, http, triton_input  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("oip-conformance")
    models = {name: copy_model(source, base / name) for name, source in {
        "half_plus_two": "saved_model_half_plus_two_cpu", "every_dtype": "every_dtype",
        "tf2": "saved_model_half_plus_two_tf2_cpu"}.items()}
    models["warmed"] = ROOT / "models" / "half_plus_two"   # with its warmup file
    models["digits"] = ROOT / "models" / "digits"
    process = ServerProcess(f"--model_config_file={write_config(base / 'models.config', models)}",
                            "--workers=2", "--enable_batching=true")
    yield process
    process.stop()


def _client(request, name: str):
    return request.getfixturevalue(name), httpclient if name == "http" else grpcclient


# -- statistics ------------------------------------------------------------------------------
def test_statistics_leave_warmup_out_and_date_the_last_inference(http, grpc):
    def stats():
        answer = http.get_inference_statistics("warmed")
        assert grpc.get_inference_statistics("warmed") == json_format.ParseDict(
            answer, service_pb2.ModelStatisticsResponse())
        return answer["model_stats"][0]
    warmed = stats()                     # its warmup requests have run, in both workers
    assert (warmed["last_inference"], warmed["inference_count"]) == (0, 0)
    assert {duration["count"] for duration in warmed["inference_stats"].values()} == {0}
    before = time.time_ns() // 1_000_000
    http.infer("warmed", [triton_input(httpclient, "x", np.array([[1.0]], np.float32))])
    after = time.time_ns() // 1_000_000
    used = stats()
    assert before <= used["last_inference"] <= after          # milliseconds since the epoch
    assert (used["inference_count"], used["execution_count"]) == (1, 1)
    assert {name: duration["count"] for name, duration in used["inference_stats"].items()} == {
        "success": 1, "fail": 0, "queue": 1, "compute_input": 1, "compute_infer": 1,
        "compute_output": 1, "cache_hit": 0, "cache_miss": 0}


# -- input shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("client", ["http", "grpc"])
@pytest.mark.parametrize("model, name, shape, expected", [
    ("half_plus_two", "x", [3], "[-1,1]"), ("half_plus_two", "x", [1, 3], "[-1,1]"),
    ("digits", "image", [1, 4], "[-1,28,28,1]")])
def test_a_wrong_shape_is_refused_in_tritons_words(request, client, model, name, shape,
                                                   expected):
    c, module = _client(request, client)
    with pytest.raises(InferenceServerException) as raised:
        c.infer(model, [triton_input(module, name, np.zeros(shape, np.float32))])
    assert raised.value.status() == ("400" if client == "http"
                                     else "StatusCode.INVALID_ARGUMENT")
    got = "[" + ",".join(map(str, shape)) + "]"
    assert raised.value.message() == (f"unexpected shape for input '{name}' for model "
                                      f"'{model}'. Expected {expected}, got {got}")


def test_shapes_the_model_takes_still_pass(http):
    from tensorflow.core.example import example_pb2   # serialized Examples for classify
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    examples = np.array([example.SerializeToString()] * 2, dtype=object)     # shape [-1]
    scores = http.infer("tf2", [triton_input(httpclient, "inputs", examples)],
                        parameters={"signature_name": "classify_x_to_y"}).as_numpy("scores")
    assert scores.tolist() == [[3.0], [3.0]]
    # x is [1] (a fixed batch of one), and batching splits three rows into three runs.
    y = http.infer("tf2", [triton_input(httpclient, "x", np.array([1, 2, 3], np.float32))])
    assert y.as_numpy("y").tolist() == [2.5, 3.0, 3.5]


# -- model config ----------------------------------------------------------------------------
def _paths(value, prefix: str = "") -> set[str]:
    """Every field's dotted path (list items under their list's name)."""
    if isinstance(value, list):
        return {prefix} | {p for item in value for p in _paths(item, prefix)}
    if isinstance(value, dict):
        return {prefix} | {p for key, item in value.items()
                           for p in _paths(item, f"{prefix}.{key}")}
    return {prefix}


def test_the_config_holds_every_field_triton_prints(http):
    config = http.get_model_config("digits")
    message = json_format.ParseDict(config, model_config_pb2.ModelConfig())  # Triton's names
    assert _paths(config) == _paths(json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True))
    classes = next(output for output in config["output"] if output["name"] == "classes")
    assert classes["dims"] == [] == http.get_model_metadata("digits")["outputs"][0]["shape"][1:]
    assert classes["label_filename"] == "" and config["input"][0]["dims"] == [28, 28, 1]


def test_the_grpc_config_is_the_http_one(http, grpc):
    for model in ("digits", "half_plus_two"):
        assert grpc.get_model_config(model).config == json_format.ParseDict(
            http.get_model_config(model), model_config_pb2.ModelConfig())


# -- classification --------------------------------------------------------------------------
@pytest.mark.parametrize("client", ["http", "grpc"])
def test_integer_outputs_are_classified_with_integer_labels(request, client):
    c, module = _client(request, client)
    x = np.array([[1, 5, 3], [9, 0, 7]], dtype=np.int64)
    result = c.infer("every_dtype", [triton_input(module, "x", x)],
                     outputs=[module.InferRequestedOutput("y", class_count=2)],
                     parameters={"signature_name": "echo_int64"})
    assert result.as_numpy("y").tolist() == [[b"5:1", b"3:2"], [b"9:0", b"7:2"]]


# -- compressed answers ----------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_an_answer_is_compressed_as_the_client_asks(server, http, algorithm):
    """tritonclient's response_compression_algorithm sends Accept-Encoding; Triton answers
    compressed, and tritonclient inflates what says Content-Encoding."""
    x = np.array([[1.0], [2.0]], np.float32)
    answer = http.infer("half_plus_two", [triton_input(httpclient, "x", x)],
                        request_compression_algorithm=algorithm,
                        response_compression_algorithm=algorithm)
    assert answer.as_numpy("y").tolist() == [[2.5], [3.0]]
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 1], "data": [1, 2]}]}
    raw = server.post("/v2/models/half_plus_two/infer", json=body,
                      headers={"Accept-Encoding": algorithm})
    assert raw.headers["Content-Encoding"] == algorithm   # requests inflates it for .json()
    assert raw.json()["outputs"][0]["data"] == [2.5, 3.0]
    plain = server.post("/v2/models/half_plus_two/infer", json=body,
                        headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
