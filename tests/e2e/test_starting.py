"""Starting the server the ways TF Serving starts: `python app.py` with
tensorflow_model_server flags, a bad start refused with a clear message, and gunicorn
with the app factory under Docker's environment variables."""
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT, TEST_MODELS, ServerProcess, copy_model


def run_app(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("flags, message", [
    ([f"--model_config_file={TEST_MODELS / 'bad_model_config.txt'}"],
     "Error parsing text-format tensorflow.serving.ModelServerConfig in "
     f"{TEST_MODELS / 'bad_model_config.txt'}"),
    (["--model_config_file=/no/such/models.config"], "cannot read model config file"),
    (["--rest_api_port=eighty"], "setting rest_api_port: expected int, got 'eighty'"),
    (["--bogus_flag=1"], "unrecognized argument: --bogus_flag=1"),
    (["--custom_op_libraries=no_such_ops"], "--custom_op_libraries: no Python module no_such_ops"),
])
def test_python_app_refuses_to_start_with_a_clear_message(flags, message):
    result = run_app(*flags)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_python_app_serves_one_model_from_flags(tmp_path):
    base = copy_model("saved_model_half_plus_two_cpu", tmp_path / "hpt")
    server = ServerProcess("--model_name=x", f"--model_base_path={base}", "--port=8500")
    try:
        answer = server.post("/v1/models/x:predict", json={"instances": [1.0, 2.0]})
        assert (answer.status_code, answer.json()) == (200, {"predictions": [2.5, 3.0]})
    finally:
        server.stop()


# gunicorn's own command line, settings from the environment as in TF Serving's Docker image.
# ServerProcess appends --rest_api_port/--rest_api_host; this shim turns them into the
# REST_API_PORT/REST_API_HOST variables that deploy/gunicorn.conf.py binds to.
GUNICORN_SHIM = (
    "import os, sys\n"
    "flags = dict(arg[2:].split('=', 1) for arg in sys.argv[1:])\n"
    "os.environ['REST_API_PORT'] = flags['rest_api_port']\n"
    "os.environ['REST_API_HOST'] = flags['rest_api_host']\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'gunicorn', '-c', 'deploy/gunicorn.conf.py',"
    " 'app:create_app()'])\n")


def test_gunicorn_factory_serves_the_docker_environment(tmp_path):
    copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    server = ServerProcess(command=[sys.executable, "-c", GUNICORN_SHIM],
                           env={"MODEL_NAME": "half_plus_two", "MODEL_BASE_PATH": str(tmp_path)})
    try:
        answer = server.post("/v1/models/half_plus_two:predict", json={"inputs": [4.0]})
        assert (answer.status_code, answer.json()) == (200, {"outputs": [4.0]})
        assert "gunicorn" in server.get("/v1/models").headers.get("Server", "")
    finally:
        server.stop()
