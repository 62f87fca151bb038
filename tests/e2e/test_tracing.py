"""Traces through the real two-worker server, received by a loopback OTLP/HTTP collector
that decodes what it gets: one trace per request over REST, gRPC and the Open Inference
Protocol (both), each parented by the client's W3C traceparent, with decode, queue-wait and
encode children; a batch run is one span that links every request that rode in it."""
from __future__ import annotations

import os
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.support import predict_requests
from tests.support.helpers import ServerProcess, copy_model, wait_until, write_config
from tests.support.observe_sinks import OtlpReceiver, attributes
from tests.support.slow_model import export_slow_model

pytestmark = pytest.mark.e2e
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER


def traceparent() -> tuple[str, str, str]:
    """(header, trace id, parent span id) of a fresh client span."""
    trace, parent = os.urandom(16).hex(), os.urandom(8).hex()
    return f"00-{trace}-{parent}-01", trace, parent


@pytest.fixture(scope="module")
def receiver():
    collector = OtlpReceiver()
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver):
    base = tmp_path_factory.mktemp("tracing")
    export_slow_model(base / "slow" / "1")
    config = write_config(base / "models.config", {
        "slow": base / "slow",
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")})
    process = ServerProcess(f"--model_config_file={config}", "--workers=2", "--tracing",
                            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                 "OTEL_BSP_SCHEDULE_DELAY": "50"}, ready_path="/readyz")
    yield process
    process.stop()


def trace_of(receiver, trace: str, count: int = 4) -> list:
    """The spans of one trace, once its request span and children have arrived."""
    def spans():
        return [span for span in receiver.snapshot() if span.trace_id.hex() == trace]
    wait_until(lambda: len(spans()) >= count, 15, f"{count} spans of trace {trace}")
    return spans()


def request_span(spans: list, parent: str):
    (span,) = [span for span in spans if span.kind == SERVER_KIND]
    assert span.parent_span_id.hex() == parent
    children = {child.name for child in spans if child.parent_span_id == span.span_id}
    assert {"decode", "queue wait", "encode"} <= children, children
    return span


def test_each_protocol_gives_one_trace_per_request_under_the_clients_parent(server, receiver):
    calls = {}
    header, trace, parent = traceparent()
    assert requests.post(server.url + "/v1/models/half_plus_two:predict",
                         json={"instances": [[1.0]]}, headers={"traceparent": header},
                         timeout=30).ok
    calls["rest"] = (trace, parent, "200")
    header, trace, parent = traceparent()
    with grpc.insecure_channel(server.grpc_target) as channel:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_requests.one_value("half_plus_two", 1.0), metadata=[("traceparent", header)],
            timeout=30)
    calls["grpc"] = (trace, parent, "OK")
    header, trace, parent = traceparent()
    document = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    assert requests.post(server.url + "/v2/models/half_plus_two/infer", json=document,
                         headers={"traceparent": header}, timeout=30).ok
    calls["oip-rest"] = (trace, parent, "200")
    header, trace, parent = traceparent()
    x = grpcclient.InferInput("x", [1, 1], "FP32")
    x.set_data_from_numpy(np.array([[1.0]], np.float32))
    grpcclient.InferenceServerClient(server.grpc_target).infer(
        "half_plus_two", [x], headers={"traceparent": header})
    calls["oip-grpc"] = (trace, parent, "OK")

    for protocol, (trace, parent, status) in calls.items():
        span = request_span(trace_of(receiver, trace), parent)
        given = attributes(span)
        assert (given["model.name"], given["model.version"], given["model.signature"],
                given["batch.size"]) == ("half_plus_two", "123", "serving_default", 1), protocol
        assert str(given.get("http.response.status_code", given.get(
            "rpc.response.status_code"))) == status, protocol
    names = {protocol: next(s for s in trace_of(receiver, trace) if s.kind == SERVER_KIND).name
             for protocol, (trace, _, _) in calls.items()}
    assert names == {"rest": "POST /v1/models/half_plus_two:predict",
                     "grpc": "tensorflow.serving.PredictionService/Predict",
                     "oip-rest": "POST /v2/models/half_plus_two/infer",
                     "oip-grpc": "inference.GRPCInferenceService/ModelInfer"}


def test_a_batch_span_links_every_request_that_rode_in_it(server, receiver):
    """A slow run (300 ms) holds its worker's batch slot; three requests that arrive
    meanwhile on that worker (one gRPC channel: one connection, one worker) queue and run
    as one batch."""
    riders: list[tuple[str, str]] = []
    answered: list[bool] = []
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.Predict(predict_requests.one_value("slow", 1.0), timeout=30)  # connected before the test
        slow = threading.Thread(target=stub.Predict, args=(predict_requests.one_value("slow", 300.0),),
                                kwargs={"timeout": 30})
        slow.start()
        time.sleep(0.1)
        threads = []
        for _ in range(3):
            header, trace, parent = traceparent()
            riders.append((trace, parent))
            threads.append(threading.Thread(target=lambda h=header: answered.append(bool(
                stub.Predict(predict_requests.one_value("slow", 1.0), metadata=[("traceparent", h)],
                             timeout=30)))))
        for thread in threads:
            thread.start()
        for thread in [slow, *threads]:
            thread.join(30)
    assert answered == [True] * 3
    requests_by_id = {}
    for trace, parent in riders:
        span = request_span(trace_of(receiver, trace), parent)
        requests_by_id[span.span_id] = span
        assert attributes(span)["batch.size"] == 3
    (batch,) = [span for span in receiver.snapshot() if span.name == "batch run"
                and {link.span_id for link in span.links} & set(requests_by_id)]
    assert {link.span_id for link in batch.links} == set(requests_by_id)
    assert {link.trace_id.hex() for link in batch.links} == {trace for trace, _ in riders}
    assert attributes(batch)["batch.size"] == 3 and attributes(batch)["model.name"] == "slow"
    for span in requests_by_id.values():
        (wait,) = [child for child in trace_of(receiver, span.trace_id.hex())
                   if child.name == "queue wait"]
        assert [link.span_id for link in wait.links] == [batch.span_id]
