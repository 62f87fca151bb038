"""What the server tells an operator at start: the real address, one "Ready" line with the
model count, one ERROR line per model that fails (with its path), no TensorFlow C++ noise
unless asked for, and a --help that documents every flag."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from serving.config.settings import GROUPS, Settings, env_name
from tests.support.helpers import ROOT, ServerProcess, copy_model, write_config

pytestmark = pytest.mark.e2e
NOISE = ("oneDNN", "cuInit", "absl::InitializeLog", "cudart_stub", "is deprecated")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    base = tmp_path_factory.mktemp("startup")
    return write_config(base / "models.config", {
        "good": copy_model("saved_model_half_plus_two_cpu", base / "good"),
        "broken": copy_model("bad_half_plus_two", base / "broken")})


def test_the_log_names_the_address_says_ready_once_and_explains_a_failed_model(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=2")
    try:
        log = server.log()
    finally:
        server.stop()
    assert f"Listening at: http://127.0.0.1:{server.port} " in log
    ready = re.findall(r"\] Ready in [\d.]+ s: (.*)", log)
    assert ready == [f"1 of 2 models serving, 1 version AVAILABLE; failed to load: broken; "
                     f"serving http://127.0.0.1:{server.port}, gRPC on port {server.grpc_port} "
                     f"with 2 workers"]
    failures = [line for line in log.splitlines() if "[ERROR]" in line and "broken" in line]
    assert len(failures) == 2  # one line per worker, each with the version's path and why
    assert all(str(config.parent / "broken" / "00000123") in line and "saved_model.pb" in line
               for line in failures)
    assert [word for word in NOISE if word in log] == []


def test_tensorflows_start_up_logs_come_back_when_asked_for(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", "--tensorflow_logs")
    try:
        log = server.log()
    finally:
        server.stop()
    assert "oneDNN" in log or "cpu_feature_guard" in log or "cudart_stub" in log, log


def test_help_lists_every_setting_with_its_default_and_environment_variable_by_group():
    run = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0
    text = " ".join(run.stdout.split())  # argparse wraps lines
    for group in GROUPS:
        assert f" {group}: " in text
    for field in dataclasses.fields(Settings):
        assert f"--{field.name} " in text, field.name
        assert f"${env_name(field)})" in text, field.name
    assert "(default 8501; $REST_API_PORT)" in text
    assert "--port" in text  # TF Serving flags we accept without implementing are named
