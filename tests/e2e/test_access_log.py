"""--access_log: one JSON line per request, in one format for every protocol (TF Serving's
REST and gRPC, the Open Inference Protocol over REST and gRPC, /get_my_predictions and the
picture routes), written by the server itself with the model, the version that answered,
the status, the sizes and the batch, through the real two-worker server."""
from __future__ import annotations

import base64
import queue

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.helpers import ROOT, ServerProcess, wait_until
from tests.support.observe_sinks import access_lines
from tests.support.pictures import draw, encode

pytestmark = pytest.mark.e2e
FIELDS = ("time", "client", "protocol", "method", "target", "verb", "model", "version",
          "signature", "status", "latency", "bytes_in", "bytes_out", "batch", "queue_wait",
          "pid")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("access") / "access.log"
    process = ServerProcess(f"--models_dir={ROOT / 'models'}", "--workers=2",
                            f"--access_log={log}", ready_path="/readyz")
    process.access_log = log
    yield process
    process.stop()


def logged(server) -> list[dict]:
    text = server.access_log.read_text()
    lines = access_lines(text)
    assert len(lines) == len(text.splitlines()), "a line in the access log is not ours"
    return lines


def one_line(server, **match) -> dict:
    """The one line whose fields have these values (waited for: lines follow the answer)."""
    def found():
        return [line for line in logged(server)
                if all(line.get(key) == value for key, value in match.items())]
    wait_until(lambda: found(), 10, f"an access-log line with {match}")
    (line,) = found()
    assert set(FIELDS) <= set(line)
    return line


def predict_request(model: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0], tensor_shape=tensor_shape_pb2.
        TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2),
                              tensor_shape_pb2.TensorShapeProto.Dim(size=1)])))
    return request


def test_rest_predict_and_an_unknown_model(server):
    body = b'{"instances": [[1.0], [2.0]]}'
    answer = requests.post(server.url + "/v1/models/half_plus_two:predict?probe=1", data=body,
                           timeout=30)
    assert answer.status_code == 200
    line = one_line(server, target="/v1/models/half_plus_two:predict?probe=1")
    assert {key: line[key] for key in ("protocol", "method", "verb", "model", "version",
                                       "signature", "status", "bytes_in", "bytes_out",
                                       "batch", "client")} == {
        "protocol": "http", "method": "POST", "verb": "predict", "model": "half_plus_two",
        "version": "123", "signature": "serving_default", "status": 200,
        "bytes_in": len(body), "bytes_out": len(answer.content), "batch": 1,
        "client": "127.0.0.1"}
    assert line["queue_wait"] >= 0 and line["latency"] > 0 and line["pid"] > 0

    assert server.get("/v1/models/nope?probe=2").status_code == 404
    line = one_line(server, target="/v1/models/nope?probe=2")
    assert (line["model"], line["version"], line["status"], line["batch"]) == (
        "nope", "", 404, None)


def test_grpc_predict_and_its_errors(server):
    before = [line for line in logged(server) if line["protocol"] == "grpc"]
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        reply = stub.Predict(predict_request("half_plus_two"), timeout=30)
        with pytest.raises(grpc.RpcError):
            stub.Predict(predict_request("nope"), timeout=30)
    method = "/tensorflow.serving.PredictionService/Predict"
    wait_until(lambda: len([line for line in logged(server) if line["protocol"] == "grpc"])
               == len(before) + 2, 10, "two gRPC lines")
    ok = one_line(server, method=method, status="OK")
    assert (ok["model"], ok["version"], ok["verb"], ok["batch"]) == (
        "half_plus_two", "123", "predict", 1)
    assert ok["bytes_in"] == predict_request("half_plus_two").ByteSize()
    assert ok["bytes_out"] == reply.ByteSize() and ok["client"].startswith("ipv4:127.0.0.1:")
    missing = one_line(server, method=method, status="NOT_FOUND")
    assert (missing["model"], missing["version"], missing["batch"]) == ("nope", "", None)


def test_the_open_inference_protocol_over_rest_and_grpc_streams_included(server):
    document = {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32",
                            "data": [1.0, 2.0]}]}
    assert requests.post(server.url + "/v2/models/half_plus_two/infer", json=document,
                         timeout=30).status_code == 200
    line = one_line(server, target="/v2/models/half_plus_two/infer")
    assert (line["verb"], line["model"], line["version"], line["status"], line["batch"]) == (
        "infer", "half_plus_two", "123", 200, 1)

    client = grpcclient.InferenceServerClient(server.grpc_target)
    x = grpcclient.InferInput("x", [2, 1], "FP32")
    x.set_data_from_numpy(np.array([[1.0], [2.0]], np.float32))
    client.infer("half_plus_two", [x])
    line = one_line(server, method="/inference.GRPCInferenceService/ModelInfer")
    assert (line["protocol"], line["verb"], line["model"], line["version"], line["status"],
            line["batch"]) == ("grpc", "infer", "half_plus_two", "123", "OK", 1)

    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    client.async_stream_infer("half_plus_two", [x])
    client.async_stream_infer("nope", [x])
    answers.get(timeout=30), answers.get(timeout=30)
    client.stop_stream()
    stream = "/inference.GRPCInferenceService/ModelStreamInfer"
    assert one_line(server, method=stream, status="OK")["model"] == "half_plus_two"
    assert one_line(server, method=stream, status="NOT_FOUND")["model"] == "nope"


def test_the_legacy_route_and_the_picture_routes(server):
    picture = encode(draw(), ".png")
    body = {"text": "the quick brown fox", "image": {"b64": base64.b64encode(picture).decode()}}
    assert server.post("/get_my_predictions", json=body).status_code == 200
    line = one_line(server, target="/get_my_predictions")
    assert (line["method"], line["status"], line["protocol"]) == ("POST", 200, "http")
    assert line["model"] in ("digits", "model_a", "model_b")  # the last one it asked

    answer = requests.post(server.url + "/v1/images/digits:classify",
                           files={"image": ("seven.png", picture)}, timeout=30)
    assert answer.status_code == 200
    line = one_line(server, target="/v1/images/digits:classify")
    assert (line["model"], line["version"], line["status"]) == ("digits", "1", 200)
    assert line["bytes_in"] > len(picture) and line["bytes_out"] == len(answer.content)
