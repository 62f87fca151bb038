"""Starting the server the ways TF Serving starts: tensorflow_model_server flags, Docker's
environment variables, a model_config_list file, and gunicorn with the app factory."""
import logging
import subprocess
import sys

import pytest

from serving.model_config import ConfigError, config_from_settings
from serving.settings import Settings
from tests.helpers import TEST_MODELS, ROOT, ServerProcess, copy_model, write_config


def test_flags_use_tensorflow_model_server_names():
    settings = Settings.load(argv=["--rest_api_port=9001", "--model_name=hpt",
                                   "--model_base_path=/m/hpt", "--enable_batching",
                                   "--norest_api_enable_cors_support",
                                   "--file_system_poll_wait_seconds=0.5"], environ={})
    assert (settings.rest_api_port, settings.model_name, settings.model_base_path) == \
        (9001, "hpt", "/m/hpt")
    assert settings.enable_batching is True and settings.rest_api_enable_cors_support is False
    assert settings.file_system_poll_wait_seconds == 0.5


@pytest.mark.parametrize("flag, value", [("--enable_batching=false", False),
                                         ("--enable_batching=true", True),
                                         ("--noenable_batching", False),
                                         ("--enable_batching", True)])
def test_boolean_flags_take_every_tf_serving_spelling(flag, value):
    assert Settings.load(argv=[flag], environ={}).enable_batching is value


def test_tf_serving_flags_we_do_not_implement_are_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="serving.settings"):
        settings = Settings.load(argv=["--port=8500", "--enable_model_warmup",
                                       "--grpc_max_threads", "4", "--model_name=m"], environ={})
    assert settings.model_name == "m"
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "--port" in warned and "--enable_model_warmup" in warned and "--grpc_max_threads" in warned


@pytest.mark.parametrize("argv", [["--no_such_flag=1"], ["--rest_api_timeout=5"], ["stray"]])
def test_unknown_flags_are_refused(argv, capsys):
    # A misspelled or shortened flag must not silently become another setting.
    with pytest.raises(SystemExit) as exit_info:
        Settings.load(argv=argv, environ={})
    assert exit_info.value.code != 0
    assert "unrecognized argument" in capsys.readouterr().err


def test_environment_variables_are_upper_case_setting_names():
    settings = Settings.load(environ={"MODEL_NAME": "env_model", "MODEL_BASE_PATH": "/nowhere",
                                      "MODEL_CONFIG_FILE": "/etc/models.config",
                                      "REST_API_PORT": "8600", "ENABLE_BATCHING": "yes"})
    assert (settings.model_name, settings.model_base_path, settings.model_config_file) == \
        ("env_model", "/nowhere", "/etc/models.config")
    assert settings.rest_api_port == 8600 and settings.enable_batching is True


def test_docker_layout_serves_model_base_path_slash_model_name(tmp_path):
    copy_model("saved_model_half_plus_two_cpu", tmp_path / "half_plus_two")
    settings = Settings.load(environ={"MODEL_NAME": "half_plus_two", "MODEL_BASE_PATH": str(tmp_path)})
    assert settings.model_base_path == str(tmp_path / "half_plus_two")
    (entry,) = config_from_settings(settings).model_config_list.config
    assert (entry.name, entry.base_path) == ("half_plus_two", str(tmp_path / "half_plus_two"))


def test_flags_beat_environment_and_a_mapping_beats_both():
    env = {"MODEL_NAME": "from_env", "REST_API_PORT": "1"}
    assert Settings.load(argv=["--model_name=from_flag"], environ=env).model_name == "from_flag"
    assert Settings.load(argv=["--model_name=from_flag"], environ=env,
                         overrides={"model_name": "from_test"}).model_name == "from_test"
    with pytest.raises(ValueError, match="unknown setting"):
        Settings.load(environ={}, overrides={"no_such_setting": 1})


@pytest.mark.parametrize("env, message", [({"REST_API_PORT": "http"}, "rest_api_port"),
                                          ({"ENABLE_BATCHING": "maybe"}, "enable_batching")])
def test_a_badly_typed_value_names_the_setting(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.load(environ=env)


def test_model_config_file_serves_every_entry_with_its_labels(tmp_path):
    config = write_config(tmp_path / "models.config", {"a": tmp_path / "a", "b": "relative/b"},
                          extra='    version_labels { key: "stable" value: 1 }\n')
    entries = config_from_settings(Settings.load(environ={"MODEL_CONFIG_FILE": str(config)}))
    a, b = entries.model_config_list.config
    assert (a.name, dict(a.version_labels)) == ("a", {"stable": 1})
    assert b.base_path == str(tmp_path / "relative" / "b")  # relative to the config file


@pytest.mark.parametrize("text, message", [
    ("improperly formatted file", 'has no field named "improperly"'),
    ('model_config_list { config { name: "m" } }', "'base_path' is required"),
    ('model_config_list { config { name: "m" base_path: "/a" } config { name: "m" base_path: "/b" } }',
     "duplicate name"),
    ('model_config_list { config { name: "m" base_path: "/a" model_platform: "onnx" } }',
     "model_platform 'onnx' is not supported"),
])
def test_unusable_config_files_are_refused_with_the_problem(tmp_path, text, message):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config_from_settings(Settings.load(environ={}, overrides={"model_config_file": str(path)}))


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
