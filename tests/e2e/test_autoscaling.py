"""deploy/k8s/autoscaling/: scaling on requests in flight. The HPA and the KEDA ScaledObject
pass their schemas, and the exact queries they run (the adapter's template filled in as the
adapter fills it, KEDA's as written) return, from a real Prometheus scraping a real
two-worker server every second, the number of REST, gRPC and OIP requests held in flight."""
from __future__ import annotations

import copy
import json
import threading

import grpc
import jsonschema
import pytest
import requests
import yaml
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.helpers import ROOT, ServerProcess, eventually, write_config
from tests.support.kube import _strict, validate
from tests.support.prometheus import PrometheusProcess
from tests.support.slow_model import export_slow_model

pytestmark = pytest.mark.e2e
FOLDER = ROOT / "deploy" / "k8s" / "autoscaling"
METRICS_PATH = "/monitoring/prometheus/metrics"
NAMESPACE, POD = "default", "model-server-7f9c6b5d4-x2x7q"   # as a pod scrape job labels them
SLEEP_MS = 6000.0   # each held request: one slow-model run this long (batch-mates share it)


def load(name: str) -> dict:
    return yaml.safe_load((FOLDER / name).read_text())


def adapter_rule() -> dict:
    (rule,) = yaml.safe_load(load("prometheus-adapter.yaml")["data"]["config.yaml"])["rules"]
    return rule


def adapter_query(namespace: str, pods: list[str]) -> str:
    """The rule's metricsQuery as prometheus-adapter fills it for an HPA's Pods metric."""
    rule = adapter_rule()
    matchers = f'namespace="{namespace}",pod=~"{"|".join(pods)}"'
    return (rule["metricsQuery"].replace("<<.Series>>", rule["name"]["as"])
            .replace("<<.LabelMatchers>>", matchers).replace("<<.GroupBy>>", "pod"))


def keda_query() -> str:
    (trigger,) = load("keda-scaledobject.yaml")["spec"]["triggers"]
    return trigger["metadata"]["query"]


def test_the_hpa_passes_kubernetes_schema_and_scales_on_the_adapters_metric():
    hpa = load("hpa.yaml")
    validate(hpa)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == adapter_rule()["name"]["as"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "model-server"}
    validate(load("prometheus-adapter.yaml"))


def test_the_scaled_object_passes_kedas_published_schema_and_aims_where_the_hpa_does():
    crd = json.loads((FOLDER / "schemas" / "scaledobject-v1alpha1.json").read_text())
    assert (crd["group"], crd["version"], crd["kind"]) == ("keda.sh", "v1alpha1", "ScaledObject")
    schema = jsonschema.Draft7Validator(_strict(copy.deepcopy(crd["openAPIV3Schema"])))
    scaled = load("keda-scaledobject.yaml")
    assert list(schema.iter_errors(scaled)) == []
    wrong = copy.deepcopy(scaled)
    wrong["spec"]["triggers"][0]["metadata"]["threshold"] = 8      # metadata values are strings
    wrong["spec"]["minReplicas"] = 2                                # KEDA's is minReplicaCount
    assert len(list(schema.iter_errors(wrong))) == 2
    (trigger,) = scaled["spec"]["triggers"]
    hpa = load("hpa.yaml")["spec"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == hpa["metrics"][0]["pods"]["target"]["averageValue"]
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == \
        (hpa["minReplicas"], hpa["maxReplicas"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("autoscaling")
    export_slow_model(base / "slow" / "1")
    config = write_config(base / "models.config", {"slow": base / "slow"})
    process = ServerProcess(f"--model_config_file={config}", "--workers=2", ready_path="/readyz")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def prometheus(server, tmp_path_factory):
    scraper = PrometheusProcess(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{server.port}",
                                METRICS_PATH, {"namespace": NAMESPACE, "pod": POD})
    yield scraper
    scraper.stop()


def _rest(server, answers):
    reply = requests.post(server.url + "/v1/models/slow:predict",
                          json={"instances": [[SLEEP_MS]]}, timeout=60)
    answers.append(("REST", reply.status_code, reply.json()))


def _oip(server, answers):
    reply = requests.post(server.url + "/v2/models/slow/infer", json={"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [SLEEP_MS]}]}, timeout=60)
    answers.append(("OIP", reply.status_code, reply.json()["outputs"][0]["data"]))


def _grpc(server, answers):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "slow"
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[SLEEP_MS], tensor_shape=tensor_shape_pb2.
        TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)] * 2)))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request,
                                                                                  timeout=60)
    answers.append(("GRPC", 200, list(reply.outputs["y"].float_val)))


def totals(prometheus) -> tuple[float, float]:
    """(the HPA's metric for our pod, KEDA's value): what each autoscaler would read now."""
    hpa = {labels["pod"]: value for labels, value in
           prometheus.query(adapter_query(NAMESPACE, [POD, "model-server-7f9c6b5d4-other"]))}
    keda = [value for _, value in prometheus.query(keda_query())]
    return hpa.get(POD, 0.0), sum(keda)


def test_both_autoscalers_queries_count_the_requests_held_in_flight(server, prometheus):
    assert eventually(lambda: prometheus.query("up") == [
        ({"__name__": "up", "instance": f"127.0.0.1:{server.port}", "job": "model-server",
          "namespace": NAMESPACE, "pod": POD}, 1.0)], timeout=20)
    assert eventually(lambda: totals(prometheus) == (0.0, 0.0), timeout=20)
    answers: list[tuple] = []
    held = [threading.Thread(target=front, args=(server, answers))
            for front in (_rest, _rest, _grpc, _grpc, _oip, _oip)]
    for thread in held:
        thread.start()
    seen = []
    # Every request is held at least SLEEP_MS (a batch run); scrapes come every second.
    assert eventually(lambda: seen.append(totals(prometheus)) or seen[-1] == (6.0, 6.0),
                      timeout=SLEEP_MS / 1000 - 1, every=0.2), seen
    for thread in held:
        thread.join(60)
    assert sorted(answer[0] for answer in answers) == ["GRPC", "GRPC", "OIP", "OIP", "REST",
                                                       "REST"]
    assert all(answer[1] == 200 for answer in answers), answers
    assert eventually(lambda: totals(prometheus) == (0.0, 0.0), timeout=10)
