"""`python3 app.py` as tensorflow_model_server's users call it: --version answers and exits,
a TF Serving flag whose effect this server lacks stops the start with the reason, and
--help and the README say the same about environment variables, gRPC and the admin token."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from serving.version import SERVER_NAME, VERSION
from tests.support.helpers import ROOT

pytestmark = pytest.mark.e2e


def app(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_version_prints_the_servers_and_tensorflows_versions_then_exits_0():
    import tensorflow as tf
    run = app("--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{SERVER_NAME}: {VERSION}\nTensorFlow Library: {tf.__version__}\n"
    assert "Starting gunicorn" not in run.stdout + run.stderr  # no server started


def test_a_tf_serving_flag_whose_effect_is_missing_stops_the_start_saying_why():
    run = app("--prefer_tflite_model", "--rest_api_port=0")
    assert run.returncode == 2
    assert run.stderr.startswith("Failed to start server. Error: --prefer_tflite_model=true "
                                 "is not supported: TensorFlow Lite models are not served")
    assert "Starting gunicorn" not in run.stdout + run.stderr


@pytest.fixture(scope="module")
def help_text() -> str:
    run = app("--help")
    assert run.returncode == 0
    return " ".join(run.stdout.split())  # argparse wraps lines


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_help_says_the_server_speaks_rest_and_grpc(help_text):
    assert "TensorFlow Serving's REST and gRPC APIs" in help_text


def test_help_and_readme_name_grpc_port_as_the_one_exception_to_upper_case_names(help_text,
                                                                                 readme):
    assert "its upper-case name (--port's is GRPC_PORT" in help_text
    rule = " ".join(readme.split("its upper-case name", 1)[1][:300].split())
    assert "`--port`, whose variable is `GRPC_PORT`" in rule


def test_help_says_what_the_admin_token_guards_over_rest_and_grpc(help_text):
    line = help_text.split("--admin_token STR ")[-1].split("(default", 1)[0]  # not usage
    assert "/v1/admin/" in line and "HandleReloadConfigRequest" in line
    assert "the gRPC reload is open" in line  # without a token, as in TF Serving


def test_help_lists_the_tf_serving_flags_it_ignores_and_those_it_refuses(help_text):
    ignored = help_text.split("ignored with a warning (tuning):", 1)[1]
    refused = ignored.split("unless given their default:", 1)[1]
    assert "--num_load_threads" in ignored.split("unless given")[0]
    assert "--platform_config_file" in refused and "--num_load_threads" not in refused


def test_the_readme_prints_no_paragraph_twice(readme):
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", readme)]
    long = [p for p in paragraphs if len(p) > 120]
    assert sorted({p[:80] for p in long if long.count(p) > 1}) == []
