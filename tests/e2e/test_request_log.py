"""--request_log_url through the real two-worker server, received by a loopback CloudEvents
sink: each request and its response arrive as two events with one id (KServe's logger's
shape), the bodies as they were sent and answered; once the sink is dead, requests still
succeed and what could not be sent is counted in the metrics."""
from __future__ import annotations

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.helpers import ROOT, ServerProcess, wait_until
from tests.support.observe_sinks import EventSink

pytestmark = pytest.mark.e2e
REQUEST, RESPONSE = ("org.kubeflow.serving.inference.request",
                     "org.kubeflow.serving.inference.response")


@pytest.fixture(scope="module")
def sink():
    receiver = EventSink()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def server(sink):
    process = ServerProcess(f"--models_dir={ROOT / 'models'}", "--workers=2",
                            f"--request_log_url={sink.url}/events", ready_path="/readyz")
    yield process
    process.stop()


def pair(sink, body: bytes) -> tuple[dict, dict, bytes]:
    """(request event's headers, response event's headers, response body) of the request
    whose event carried `body`."""
    def find():
        events = sink.snapshot()
        asked = [headers for headers, sent in events
                 if headers["ce-type"] == REQUEST and sent == body]
        if len(asked) != 1:
            return None
        answers = [(headers, sent) for headers, sent in events
                   if headers["ce-type"] == RESPONSE and headers["ce-id"] == asked[0]["ce-id"]]
        return (asked[0], *answers[0]) if len(answers) == 1 else None
    wait_until(lambda: find() is not None, 10, "both events of one request")
    return find()


def test_rest_and_grpc_requests_arrive_as_a_request_and_a_response_event(server, sink):
    body = b'{"instances": [[1.0], [7.0]]}'
    answer = requests.post(server.url + "/v1/models/half_plus_two:predict", data=body,
                           headers={"Content-Type": "application/json"}, timeout=30)
    asked, answered, sent = pair(sink, body)
    assert sent == answer.content
    for headers in (asked, answered):
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-inferenceservicename"] == "half_plus_two"
        assert headers["ce-modelversion"] == "123"
        assert headers["ce-source"].startswith("http://")
        assert headers["content-type"].startswith("application/json")
    assert asked["ce-id"] == answered["ce-id"] and asked["ce-id"]

    document = b'{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [5]}]}'
    answer = requests.post(server.url + "/v2/models/half_plus_two/infer", data=document,
                           timeout=30)
    assert pair(sink, document)[2] == answer.content

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[9.0], tensor_shape=tensor_shape_pb2.
        TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)] * 2)))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30)
    asked, answered, sent = pair(sink, request.SerializeToString())
    assert predict_pb2.PredictResponse.FromString(sent) == reply
    assert asked["content-type"] == answered["content-type"] == "application/x-protobuf"


def test_probes_and_listings_are_not_sent(server, sink):
    before = len(sink.snapshot())
    assert server.get("/readyz").ok and server.get("/v1/models").ok
    assert requests.post(server.url + "/v1/models/half_plus_two:predict",
                         data=b'{"instances": [[3.5]]}', timeout=30).ok
    pair(sink, b'{"instances": [[3.5]]}')
    assert len(sink.snapshot()) == before + 2


def test_a_dead_sink_fails_no_request_and_its_losses_are_counted(server, sink):
    sink.close()
    for value in range(10):
        answer = requests.post(server.url + "/v1/models/half_plus_two:predict",
                               json={"instances": [[float(value)]]}, timeout=30)
        assert answer.status_code == 200
    wait_until(lambda: dropped(server) >= 20, 20, "20 events counted as dropped")
    assert dropped(server) == 20


def dropped(server) -> float:
    page = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(page)
               for sample in family.samples
               if sample.name == "serving_request_log_dropped_total"
               and sample.labels["reason"] == "send_failed")
