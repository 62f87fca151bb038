"""deploy/k8s: the base and every overlay render with `kubectl kustomize` into objects that
Kubernetes' (and KServe's) schemas accept, and each overlay does what it says: the object
storage ones are run for real against S3 on loopback, as their containers are written."""
from __future__ import annotations

import subprocess
import sys

import pytest

from serving.config.settings import Settings
from tests.support.helpers import ROOT, ServerProcess, model_source
from tests.support.kube import render, validate
from tests.support.object_store import ACCESS_KEY, SECRET_KEY, SeaweedFS
from tests.support.server_env import read_by_the_server

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


def by_kind(documents) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for document in documents:
        kinds.setdefault(document["kind"], []).append(document)
    return kinds


def pod_spec(documents) -> dict:
    (deployment,) = by_kind(documents)["Deployment"]
    return deployment["spec"]["template"]["spec"]


def test_the_overlays_are_the_documented_four():
    assert [p.name for p in OVERLAYS] == ["grpc-headless", "kserve", "object-storage-direct",
                                          "object-storage-sync"]


@pytest.mark.parametrize("folder", [K8S / "base", *OVERLAYS], ids=lambda p: p.name)
def test_each_kustomization_renders_objects_the_schemas_accept(folder):
    documents = render(folder)
    assert documents
    for document in documents:
        validate(document)   # unknown kinds fail too: no schema, no pass


@pytest.mark.parametrize("folder", [K8S / "base", *OVERLAYS], ids=lambda p: p.name)
def test_every_environment_variable_a_container_gets_is_one_the_server_reads(folder):
    documents = render(folder)
    secrets = {s["metadata"]["name"]: s for s in by_kind(documents).get("Secret", [])}
    for deployment in by_kind(documents).get("Deployment", []):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            names = [v["name"] for v in container.get("env", [])]
            for source in container.get("envFrom", []):
                names += list(secrets[source["secretRef"]["name"]]["stringData"])
            for name in names:
                assert read_by_the_server(name), f"{container['name']}: {name}"


def test_the_headless_grpc_service_resolves_to_every_ready_pod_and_clients_re_resolve():
    documents = render(K8S / "overlays" / "grpc-headless")
    services = {s["metadata"]["name"]: s for s in by_kind(documents)["Service"]}
    headless = services["model-server-grpc"]["spec"]
    assert headless["clusterIP"] == "None"
    spec = pod_spec(documents)
    (container,) = spec["containers"]
    labels = by_kind(documents)["Deployment"][0]["spec"]["template"]["metadata"]["labels"]
    assert headless["selector"].items() <= labels.items()
    (port,) = headless["ports"]
    grpc_port = {p["name"]: p["containerPort"] for p in container["ports"]}[port["targetPort"]]
    assert grpc_port == Settings().port
    # clients re-resolve when the server ages their connection out: on by default, and
    # not overridden by channel arguments in the pod
    env = {v["name"]: v.get("value") for v in container.get("env", [])}
    assert "max_connection_age" not in env.get("GRPC_CHANNEL_ARGUMENTS", "")
    assert Settings().grpc_max_connection_age_seconds > 0


def test_the_kserve_overlay_serves_the_bases_pvc_through_the_runtime_and_nothing_else():
    documents = by_kind(render(K8S / "overlays" / "kserve"))
    assert set(documents) == {"PersistentVolumeClaim", "ClusterServingRuntime",
                              "InferenceService"}
    (claim,), (runtime,), (isvc,) = (documents[k] for k in ("PersistentVolumeClaim",
                                                             "ClusterServingRuntime",
                                                             "InferenceService"))
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["storageUri"].startswith(f"pvc://{claim['metadata']['name']}/")


# -- the object-storage overlays, run -------------------------------------------------------

@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    """S3 on loopback with s3://models/half_plus_two/<version>/ uploaded."""
    seaweed = SeaweedFS(tmp_path_factory.mktemp("seaweed"))
    seaweed.client.create_bucket(Bucket="models")
    (version,) = [p for p in model_source("saved_model_half_plus_two_cpu").iterdir()
                  if p.name.isdigit()]
    seaweed.upload_tree(version, "models", f"half_plus_two/{int(version.name)}")
    yield seaweed
    seaweed.stop()


def container_env(documents, container: dict, seaweed) -> dict[str, str]:
    """What the container's environment would be, with the Secret pointing at `seaweed`."""
    secrets = {s["metadata"]["name"]: dict(s["stringData"]) for s in by_kind(documents)["Secret"]}
    test_keys = {"AWS_ENDPOINT_URL": seaweed.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                 "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        secret = secrets[source["secretRef"]["name"]]
        assert test_keys.keys() <= secret.keys()
        env.update({**secret, **test_keys})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:   # a Secret this overlay does not make must be optional
            assert variable["valueFrom"]["secretKeyRef"].get("optional") is True
    return env


def mounted(path: str, container: dict, volumes: dict) -> str:
    """The volume a path lies on in this container."""
    (mount,) = [m for m in container["volumeMounts"]
                if path == m["mountPath"] or path.startswith(m["mountPath"] + "/")]
    return volumes[mount["name"]]


def local(value: str, folders: dict[str, str]) -> str:
    for mount, folder in folders.items():
        if value == mount or value.startswith(mount + "/"):
            return folder + value[len(mount):]
    return value


def serve(container: dict, env: dict, folders: dict[str, str]) -> ServerProcess:
    """The container's command and args (or the image's CMD), its env, paths moved."""
    argv = container.get("command", ["python", "app.py"]) + container.get("args", [])
    assert argv[:2] == ["python", "app.py"]
    argv = [sys.executable, str(ROOT / "app.py"), *(local(a, folders) for a in argv[2:])]
    env = {k: local(v, folders) for k, v in env.items()}
    return ServerProcess(command=argv, env=env, ready_path="/readyz")


def test_the_sync_overlays_init_container_fills_the_folder_the_server_then_serves(
        bucket, tmp_path):
    documents = render(K8S / "overlays" / "object-storage-sync")
    assert "PersistentVolumeClaim" not in by_kind(documents)
    spec = pod_spec(documents)
    (init,), (main,) = spec["initContainers"], spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert all("persistentVolumeClaim" not in v for v in volumes.values())
    command = init["command"]
    assert command[:3] == ["python3", "scripts/model_tool.py", "sync"]
    source, dest = command[3:]
    env = container_env(documents, main, bucket)
    assert env["MODELS_DIR"] == dest and "MODEL_CONFIG_FILE" not in env
    assert mounted(dest, init, volumes) is mounted(dest, main, volumes)   # one emptyDir

    folders = {dest: str(tmp_path / "models"), "/tmp": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    sync = subprocess.run([sys.executable, *command[1:3], source, folders[dest]], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", **container_env(documents, init, bucket)},
                          capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert list((tmp_path / "models" / "half_plus_two").glob("*/saved_model.pb"))
    server = serve(main, env, folders)
    try:
        answer = server.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
        assert answer.json() == {"predictions": [2.5]}
    finally:
        server.stop()


def test_the_direct_overlay_serves_the_model_from_the_bucket_through_its_cache(bucket, tmp_path):
    documents = render(K8S / "overlays" / "object-storage-direct")
    assert "PersistentVolumeClaim" not in by_kind(documents)
    spec = pod_spec(documents)
    (main,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    env = container_env(documents, main, bucket)
    settings = Settings.load(argv=main["args"], environ=env)
    assert settings.model_base_path.startswith("s3://") and not settings.model_config_file
    assert "emptyDir" in mounted(env["MODEL_CACHE_DIR"], main, volumes)

    folders = {env["MODEL_CACHE_DIR"]: str(tmp_path / "cache"), "/tmp": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    server = serve(main, env, folders)
    try:
        answer = server.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
        assert answer.json() == {"predictions": [2.5]}
        assert list((tmp_path / "cache").rglob("saved_model.pb"))   # copied, then loaded
    finally:
        server.stop()
