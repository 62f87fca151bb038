"""Many models in limited memory (--model_memory_budget), on a real server with two gunicorn
workers: models load on their first request and the least recently used go to make room.

Each worker has its own budget and LRU. Requests on one kept-alive HTTP connection (or one
gRPC channel) all reach the same worker, whose admin listing, asked on that connection, says
what it holds. Sizes: "tiny" (pinned) pays TensorFlow's first-load costs (~6 MiB); m0..m3
hold 12 MiB of weights each (12.3-13.1 MiB measured): the 50 MiB budget takes tiny and
three of them (~46 MiB), not four (~55 MiB); "huge" (56 MiB of files) never fits.
"""
from __future__ import annotations

import concurrent.futures
import time

import grpc
import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import ROOT, ServerProcess, wait_until, write_config
from tests.support.openapi_examples import MEMORY, example_request, success
from tests.support.pictures import draw, encode
from tests.support.sized_model import export_sized_model
from tests.support.slow_model import export_slow_model

pytestmark = pytest.mark.e2e
TOKEN = "memory-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LRU_MODELS = ["m0", "m1", "m2", "m3"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    models = {}
    for index, name in enumerate(LRU_MODELS):
        models[name] = export_sized_model(root / name / "1", 12, index + 1).parent
    models["tiny"] = export_sized_model(root / "tiny" / "1", 0.01, 100).parent
    models["huge"] = export_sized_model(root / "huge" / "1", 56, 200).parent
    models["slow"] = export_slow_model(root / "slow" / "1").parent
    models["digits"] = ROOT / "models" / "digits"  # an image model, for the page
    config = write_config(root / "models.config", models)
    process = ServerProcess(f"--model_config_file={config}", "--workers=2",
                            "--model_memory_budget=50MiB", "--pinned_models=tiny",
                            "--file_system_poll_wait_seconds=1", env={"ADMIN_TOKEN": TOKEN})
    process.models_root = root
    yield process
    process.stop()


def predict(session, server, name: str, value: float = 1.0):
    return session.post(f"{server.url}/v1/models/{name}:predict",
                        json={"instances": [value]}, timeout=60)


def listing(session, server) -> dict:
    reply = session.get(f"{server.url}/v1/admin/models", headers=AUTH, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def resident(listing_: dict) -> set[str]:
    return {m["name"] for m in listing_["models"]
            if any(v.get("resident") for v in m["model_version_status"])}


def metric(server, name: str, **labels) -> float:
    text = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v
                                              for k, v in labels.items()))


def every_worker(server, check, timeout: float = 30.0) -> None:
    """Until both workers' admin listings (fresh connections) satisfy check(listing)."""
    seen, deadline = {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = requests.get(f"{server.url}/v1/admin/models",
                             headers={**AUTH, "Connection": "close"}, timeout=30).json()
        seen[reply["worker_pid"]] = check(reply)
        if len(seen) == 2 and all(seen.values()):
            return
    raise AssertionError(f"workers agreeing after {timeout}s: {seen}")


def admin(server, method: str, path: str):
    return requests.request(method, f"{server.url}/v1/admin{path}", headers=AUTH, timeout=60)


def test_models_not_in_memory_report_available_and_the_server_is_ready(server):
    every_worker(server, lambda reply: resident(reply) <= {"tiny"})  # nothing asked for yet
    status = server.get("/v1/models/m3").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert server.get("/readyz").status_code == 200
    assert server.get("/v2/models/m3/ready").status_code == 200
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "m3"
        reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request,
                                                                               timeout=30)
    assert [v.state for v in reply.model_version_status] == [
        get_model_status_pb2.ModelVersionStatus.AVAILABLE]


def test_metadata_of_a_model_not_in_memory_comes_from_its_files_without_a_load(server):
    with requests.Session() as session:
        reply = session.get(f"{server.url}/v1/models/m3/metadata", timeout=30)
        assert reply.status_code == 200, reply.text
        signature = reply.json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
        assert "m3" not in resident(listing(session, server))
        assert predict(session, server, "m3").status_code == 200
        assert "m3" in resident(listing(session, server))
        loaded = session.get(f"{server.url}/v1/models/m3/metadata", timeout=30)
        assert loaded.json() == reply.json()  # the files said what the loaded version says


def test_the_first_request_loads_the_model_and_the_next_finds_it_in_memory(server):
    with requests.Session() as session:
        reply = predict(session, server, "m0", 1.0)
        assert reply.status_code == 200 and reply.json() == {"predictions": [2.0]}
        assert "m0" in resident(listing(session, server))
        hits = metric(server, "serving_model_cache_hits_total", model="m0")
        assert predict(session, server, "m0").status_code == 200
        assert metric(server, "serving_model_cache_hits_total", model="m0") == hits + 1
    assert metric(server, "serving_model_loads_total", model="m0") >= 1
    assert metric(server, "serving_model_memory_budget_bytes") == 50 * 2**20


def test_concurrent_first_requests_cause_one_load_per_worker(server):
    before = metric(server, "serving_load_wait_seconds_count")

    def one(_):
        return requests.post(f"{server.url}/v1/models/m1:predict", json={"instances": [1.0]},
                             headers={"Connection": "close"}, timeout=60).status_code
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        assert list(pool.map(one, range(12))) == [200] * 12
    assert 1 <= metric(server, "serving_model_loads_total", model="m1") <= 2
    waited = metric(server, "serving_load_wait_seconds_count") - before
    hits = metric(server, "serving_model_cache_hits_total", model="m1")
    assert waited >= 1 and waited + hits == 12


def test_the_least_recently_used_model_goes_first_and_the_pinned_one_never(server):
    for name in LRU_MODELS:  # start from an empty LRU in both workers
        assert admin(server, "POST", f"/models/{name}:unload").status_code == 200
    every_worker(server, lambda reply: resident(reply) == {"tiny"})
    with requests.Session() as session:  # one connection: one worker
        for name in ["m0", "m1", "m2", "m0", "m3"]:
            assert predict(session, server, name).status_code == 200
        held = listing(session, server)
    assert resident(held) == {"tiny", "m0", "m2", "m3"}  # m1 was the least recently used
    assert held["memory"]["least_recently_used"][-3:] == ["m2/1", "m0/1", "m3/1"]
    assert held["memory"]["resident_bytes"] <= held["memory"]["budget_bytes"]
    assert metric(server, "serving_model_evictions_total", model="tiny") == 0


def test_a_request_holding_its_version_completes_while_others_are_loaded_around_it(server):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    import tensorflow as tf

    def request(name, value, alias):
        message = predict_pb2.PredictRequest()
        message.model_spec.name = name
        message.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
        return message
    evictions = sum(metric(server, "serving_model_evictions_total", model=m) for m in LRU_MODELS)
    with grpc.insecure_channel(server.grpc_target) as channel:  # one connection: one worker
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        slow = stub.Predict.future(request("slow", np.array([[1500.0]], np.float32), "x"),
                                   timeout=60)  # holds "slow" for 1.5 s
        for name in LRU_MODELS * 2:  # four models that do not all fit, twice
            stub.Predict(request(name, np.array([1.0], np.float32), "x"), timeout=60)
        answer = tf.make_ndarray(slow.result().outputs["y"])
    assert answer.tolist() == [[3000.0]]
    assert sum(metric(server, "serving_model_evictions_total", model=m)
               for m in LRU_MODELS) > evictions


def test_a_model_that_cannot_fit_gets_503_with_retry_after_naming_model_size_and_budget(server):
    reply = requests.post(f"{server.url}/v1/models/huge:predict", json={"instances": [1.0]},
                          timeout=60)
    assert reply.status_code == 503 and int(reply.headers["Retry-After"]) >= 1
    message = reply.json()["error"]
    assert "huge" in message and "MiB" in message and "50.0 MiB" in message
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    import tensorflow as tf
    message = predict_pb2.PredictRequest()
    message.model_spec.name = "huge"
    message.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(message,
                                                                               timeout=60)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "huge" in raised.value.details()
    reply = requests.post(f"{server.url}/v2/models/huge/infer", timeout=60, json={
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
    assert reply.status_code == 503 and "Retry-After" in reply.headers
    assert server.get("/readyz").status_code == 200  # a model too big is no reason to go unready


def test_admin_pin_unload_and_load_reach_both_workers(server):
    reply = admin(server, "PUT", "/models/m2/resident")
    assert reply.status_code == 200 and reply.json()["pinned_in_memory"] is True
    every_worker(server, lambda r: "m2" in resident(r) and _model(r, "m2")["pinned_in_memory"])
    refused = admin(server, "POST", "/models/m2:unload")
    assert refused.status_code == 400 and "pinned" in refused.json()["error"]
    assert admin(server, "DELETE", "/models/m2/resident").status_code == 200
    every_worker(server, lambda r: not _model(r, "m2")["pinned_in_memory"])
    assert admin(server, "POST", "/models/m2:unload").status_code == 200
    every_worker(server, lambda r: "m2" not in resident(r))
    assert server.get("/v1/models/m2").json()["model_version_status"][0]["state"] == "AVAILABLE"
    assert admin(server, "POST", "/models/m2:load").status_code == 200
    every_worker(server, lambda r: "m2" in resident(r))


def test_the_open_inference_protocols_unload_and_load_mean_out_of_and_into_memory(server):
    def repository(verb):
        return requests.post(f"{server.url}/v2/repository/models/m3/{verb}", headers=AUTH,
                             timeout=60)
    assert repository("load").status_code == 200
    every_worker(server, lambda r: "m3" in resident(r))
    assert repository("unload").status_code == 200
    every_worker(server, lambda r: "m3" not in resident(r))
    assert server.get("/v2/models/m3/ready").status_code == 200  # still served: on demand
    index = requests.post(f"{server.url}/v2/repository/index", json={}, timeout=30).json()
    (entry,) = [e for e in index if e["name"] == "m3"]
    assert entry["state"] == "READY" and "first request" in entry["reason"]


def test_the_page_offers_an_image_model_once_its_worker_has_loaded_it_even_when_unloaded(
        server):
    def offered(session):
        reply = session.get(f"{server.url}/v1/images", timeout=30).json()
        return [model["name"] for model in reply["models"]]
    with requests.Session() as session:  # one connection: one worker
        assert "digits" not in offered(session)  # never loaded here: its labels are unknown
        reply = session.post(f"{server.url}/v1/images/digits:classify",
                             files={"image": ("seven.png", encode(draw(), ".png"))}, timeout=60)
        assert reply.status_code == 200, reply.text
        assert "digits" in offered(session)
        assert admin(server, "POST", "/models/digits:unload").status_code == 200
        every_worker(server, lambda r: "digits" not in resident(r))
        assert "digits" in offered(session)


def test_a_new_version_arriving_on_disk_replaces_the_old_one_as_before(server):
    with requests.Session() as session:
        assert predict(session, server, "m0").json() == {"predictions": [2.0]}
    export_sized_model(server.models_root / "m0" / "2", 12, 10)  # y = x + 10

    def answers_from_version_2():
        reply = requests.post(f"{server.url}/v1/models/m0:predict", json={"instances": [1.0]},
                              headers={"Connection": "close"}, timeout=60)
        return reply.status_code == 200 and reply.json() == {"predictions": [11.0]}
    wait_until(lambda: all(answers_from_version_2() for _ in range(6)), 60, "version 2")

    def states():
        reply = requests.get(f"{server.url}/v1/models/m0", headers={"Connection": "close"},
                             timeout=30).json()
        return [(s["version"], s["state"]) for s in reply["model_version_status"]]
    wait_until(lambda: all(states()[:2] == [("2", "AVAILABLE"), ("1", "END")]
                           for _ in range(6)), 30, "version 1 to be unloaded")


def _model(listing_: dict, name: str) -> dict:
    return next(m for m in listing_["models"] if m["name"] == name)


def test_the_described_examples_of_the_memory_routes_succeed_on_a_server_with_a_budget(server):
    """api/openapi.yaml's load, pin, unpin and unload examples, in that order (the model
    ends where it began: registered, not pinned, out of memory)."""
    order = ["adminLoadModel", "adminPinResident", "adminUnpinResident", "adminUnloadModel"]
    for path, method, operation in sorted(MEMORY, key=lambda o: order.index(o[2]["operationId"])):
        call = example_request(path, operation)
        call["url"] = server.url + call["url"]
        call["headers"] = AUTH
        reply = requests.request(method.upper(), timeout=60, **call)
        assert reply.status_code == success(operation), (operation["operationId"], reply.text)
