"""deploy/kserve/: the ClusterServingRuntime and the example InferenceServices are valid
KServe objects, never clash with KServe's own runtimes, and the runtime's exact args start a
server that KServe can probe and call (REST on 8080, gRPC on 9000, models in /mnt/models)."""
from __future__ import annotations

import copy
import shutil
import sys

import grpc
import pytest
import yaml

from serving.config.settings import Settings
from tests.support.helpers import ROOT, ServerProcess, free_port, model_source, wait_until
from tests.support.kube import validate
from tests.support.server_env import read_by_the_server

KSERVE = ROOT / "deploy" / "kserve"
RUNTIME = yaml.safe_load((KSERVE / "clusterservingruntime.yaml").read_text())
EXAMPLES = sorted((KSERVE / "examples").glob("*.yaml"))


def container(runtime=RUNTIME) -> dict:
    (only,) = runtime["spec"]["containers"]
    return only


def isvcs(path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] == "InferenceService"]


# -- the objects ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [KSERVE / "clusterservingruntime.yaml", *EXAMPLES],
                         ids=lambda p: p.name)
def test_each_object_matches_kserves_crd_or_the_kubernetes_schema(path):
    for document in yaml.safe_load_all(path.read_text()):
        validate(document)


def test_the_crd_check_refuses_an_unknown_field_and_a_wrong_type():
    misspelt = copy.deepcopy(RUNTIME)
    misspelt["spec"]["protocolVersion"] = misspelt["spec"].pop("protocolVersions")
    with pytest.raises(AssertionError, match="protocolVersion"):
        validate(misspelt)
    wrong = copy.deepcopy(RUNTIME)
    wrong["spec"]["supportedModelFormats"][0]["autoSelect"] = "no"
    with pytest.raises(AssertionError, match="autoSelect"):
        validate(wrong)


# KServe's own runtimes that claim TensorFlow (config/runtimes/ at the commit named in
# deploy/kserve/schemas/README.md): (format, version, autoSelect, priority), protocols.
BUILT_IN = {
    "kserve-tensorflow-serving": ([("tensorflow", "1", True, 2), ("tensorflow", "2", True, 2)],
                                  ["v1", "grpc-v1"]),
    "kserve-tritonserver": ([("tensorflow", "1", True, 1), ("tensorflow", "2", True, 1)],
                            ["v2", "grpc-v2"]),
}


def clashes(new: dict, formats: list[tuple], protocols: list[str]) -> bool:
    """KServe's admission webhook (validateServingRuntimePriority): two runtimes that share a
    protocol may not both auto-select the same format and version at the same priority."""
    if not set(new["spec"]["protocolVersions"]) & set(protocols):
        return False
    return any(ours.get("autoSelect") and auto and ours["name"].lower() == name.lower()
               and ours.get("version") == version and ours.get("priority") == priority
               for ours in new["spec"]["supportedModelFormats"]
               for name, version, auto, priority in formats)


def test_the_runtime_is_admitted_beside_kserves_tensorflow_runtimes_and_is_never_auto_picked():
    spec = RUNTIME["spec"]
    assert {(f["name"], f["version"]) for f in spec["supportedModelFormats"]} == \
        {("tensorflow", "1"), ("tensorflow", "2")}
    assert all(f["autoSelect"] is False for f in spec["supportedModelFormats"])
    assert set(spec["protocolVersions"]) == {"v1", "grpc-v1", "v2", "grpc-v2"}
    for formats, protocols in BUILT_IN.values():
        assert not clashes(RUNTIME, formats, protocols)
    greedy = copy.deepcopy(RUNTIME)   # the rule does fire: auto-selected at TF Serving's priority
    for model_format in greedy["spec"]["supportedModelFormats"]:
        model_format.update(autoSelect=True, priority=2)
    assert clashes(greedy, *BUILT_IN["kserve-tensorflow-serving"])


def test_the_runtime_container_is_kserves_non_root_on_its_ports_with_http_probes():
    spec, main = RUNTIME["spec"], container()
    assert main["name"] == "kserve-container"
    for flag in ("--model_name={{.Name}}", "--model_base_path=/mnt/models",
                 "--rest_api_port=8080", "--port=9000"):
        assert flag in main["args"]
    for probe in ("startupProbe", "readinessProbe"):
        assert main[probe]["httpGet"] == {"path": "/readyz", "port": 8080}
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= Settings().worker_timeout
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["runAsUser"] != 0
    assert spec["annotations"] == {"prometheus.kserve.io/port": "8080",
                                   "prometheus.kserve.io/path": "/monitoring/prometheus/metrics"}
    # The root file system is read-only: everything the server writes is under a volume.
    mounts = [m["mountPath"] for m in main["volumeMounts"]]
    for arg in main["args"]:
        if arg.startswith("--routing_state_file="):
            assert any(arg.split("=", 1)[1].startswith(m + "/") for m in mounts)


def test_example_inference_services_name_the_runtime_and_a_format_it_serves():
    served = {(f["name"], f["version"]) for f in RUNTIME["spec"]["supportedModelFormats"]}
    for path in [*EXAMPLES, ROOT / "deploy/k8s/overlays/kserve/inferenceservice.yaml"]:
        for isvc in isvcs(path):
            model = isvc["spec"]["predictor"]["model"]
            assert model["runtime"] == RUNTIME["metadata"]["name"], path.name
            assert (model["modelFormat"]["name"], model["modelFormat"]["version"]) in served


def test_the_direct_s3_example_overrides_the_base_path_and_reads_the_bucket_itself():
    """KServe appends the InferenceService's args to the runtime's; our last flag wins."""
    (isvc,) = isvcs(KSERVE / "examples" / "s3-direct.yaml")
    model = isvc["spec"]["predictor"]["model"]
    assert "storageUri" not in model  # no storage initializer: nothing copied once
    settings = Settings.load(argv=[*container()["args"], *model["args"]], environ={})
    assert settings.model_base_path.startswith("s3://")
    assert settings.file_system_poll_wait_seconds > 0   # keeps picking up new versions
    for variable in model["env"]:
        assert read_by_the_server(variable["name"]), variable["name"]


# -- the runtime's args, run ----------------------------------------------------------------

def test_the_runtimes_exact_args_serve_a_mnt_models_folder_and_are_ready_only_once_loaded(
        tmp_path):
    """Start `python app.py <args>` as KServe would, with {{.Name}} filled in, a temporary
    folder for /mnt/models (empty: the model arrives later, as into a pvc:// volume) and free
    ports for 8080/9000. /readyz answers 503 until the version has loaded, then 200."""
    name, rest, grpc_port = "half-plus-two", free_port(), free_port()
    mnt, scratch = tmp_path / "mnt" / "models", tmp_path / "tmp"
    mnt.mkdir(parents=True)
    scratch.mkdir()
    given = {"{{.Name}}": name, "/mnt/models": str(mnt), "8080": str(rest),
             "9000": str(grpc_port)}

    def fill(arg: str) -> str:
        flag, _, value = arg.partition("=")
        if value.startswith("/tmp/"):   # the pod's emptyDir at /tmp
            return f"{flag}={scratch}/{value[len('/tmp/'):]}"
        return f"{flag}={given.get(value, value)}"
    args = [fill(arg) for arg in container()["args"]]
    assert not [arg for arg in args if "{{" in arg]
    server = ServerProcess(command=[sys.executable, str(ROOT / "app.py"), *args],
                           port=rest, port_flags=False, ready_path="/healthz")
    try:
        ready_path = container()["readinessProbe"]["httpGet"]["path"]
        waiting = server.get(ready_path)
        assert waiting.status_code == 503 and name in waiting.json()["error"]
        assert server.get(container()["startupProbe"]["httpGet"]["path"]).status_code == 503
        # The version lands whole (copied beside it, then renamed), as an initializer leaves it.
        (version,) = [p for p in model_source("saved_model_half_plus_two_cpu").iterdir()
                      if p.name.isdigit()]
        shutil.copytree(version, tmp_path / "partial")
        (tmp_path / "partial").rename(mnt / version.name)
        answers = []
        wait_until(lambda: answers.append(server.get(ready_path).status_code)
                   or answers[-1] == 200, timeout=60, what="/readyz to answer 200")
        assert set(answers) <= {503, 200}
        assert server.get(container()["livenessProbe"]["httpGet"]["path"]).status_code == 200

        # KServe v1 (TF Serving's REST) on the HTTP port, v2 on the same port.
        # /readyz speaks for the worker that answered: the other loads at its own next poll.
        loaded = f"model {name} version {int(version.name)} AVAILABLE"
        wait_until(lambda: server.log_path.read_text().count(loaded) == Settings().workers,
                   timeout=15, what="every worker to load the version")
        answer = server.post(f"/v1/models/{name}:predict", json={"instances": [1.0, 2.0, 5.0]})
        assert answer.json() == {"predictions": [2.5, 3.0, 4.5]}
        assert server.get(f"/v2/models/{name}/ready").status_code == 200
        metrics = server.get(RUNTIME["spec"]["annotations"]["prometheus.kserve.io/path"])
        assert "serving_requests_total" in metrics.text
        # grpc-v1 (TF Serving's PredictionService) and grpc-v2 on the gRPC port.
        assert grpc_predict(f"127.0.0.1:{grpc_port}", name, [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]
        import tritonclient.grpc
        v2 = tritonclient.grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        assert v2.is_server_ready() and v2.is_model_ready(name)
    finally:
        server.stop()


def grpc_predict(target: str, model: str, values: list[float]) -> list[float]:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=values,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))])))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        answer = stub.Predict(request, timeout=30)
    return list(answer.outputs["y"].float_val)

