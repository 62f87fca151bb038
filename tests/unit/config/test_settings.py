"""One settings object (serving/config/settings.py): tensorflow_model_server's flag names,
upper-case environment variables, Docker's layout, and which source wins."""
import logging

import pytest

from serving.config.model_config import config_from_settings
from serving.config.settings import Settings, asks_for_version
from tests.support.helpers import copy_model


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


# tensorflow_model_server flags without a setting here, and what each does to a start.
TUNING = ["--rest_api_num_threads=8", "--max_num_load_retries=2",
          "--load_retry_interval_micros=1000", "--num_load_threads=4", "--num_unload_threads=4",
          "--tensorflow_session_parallelism=2", "--num_tflite_pools=2",
          "--num_tflite_interpreters_per_pool=2", "--xla_cpu_compilation_enabled",
          "--enable_profiler", "--remove_unused_fields_from_bundle_metagraph",
          "--flush_filesystem_caches", "--mixed_precision=bfloat16", "--skip_initialize_tpu",
          "--thread_pool_factory_config_file=pools.pbtxt",
          "--enable_per_model_batching_parameters=false"]
CHANGE_ANSWERS = ["--platform_config_file=platform.config",
                  "--tensorflow_session_config_file=session.pbtxt", "--prefer_tflite_model",
                  "--use_tflite_model=true", "--enable_signature_method_name_check",
                  "--use_alts_credentials=1"]


def test_tf_serving_tuning_flags_are_accepted_with_a_warning_naming_each(caplog):
    with caplog.at_level(logging.WARNING, logger="serving.config.settings"):
        settings = Settings.load(argv=[*TUNING, "--num_load_threads", "4", "--model_name=m"],
                                 environ={})
    assert settings.model_name == "m"
    warned = " ".join(record.getMessage() for record in caplog.records)
    for flag in TUNING:
        assert flag.split("=")[0] + " " in warned, flag


@pytest.mark.parametrize("argv", [[flag] for flag in CHANGE_ANSWERS] +
                         [["--platform_config_file", "platform.config"]])
def test_tf_serving_flags_whose_effect_is_missing_stop_the_start_naming_the_flag_and_why(argv):
    # Ignored, each would change what a request gets (another platform config, TFLite
    # instead of the SavedModel, no method_name check, gRPC without ALTS).
    name = argv[0].split("=")[0]
    with pytest.raises(ValueError, match=f"^{name}=.* is not supported: .{{20}}"):
        Settings.load(argv=argv, environ={})


def test_those_flags_given_tf_servings_default_ask_for_nothing_and_pass(caplog):
    with caplog.at_level(logging.WARNING, logger="serving.config.settings"):
        settings = Settings.load(argv=["--platform_config_file=", "--noprefer_tflite_model",
                                       "--use_tflite_model=false",
                                       "--enable_signature_method_name_check=false",
                                       "--use_alts_credentials=0",
                                       "--enable_per_model_batching_parameters",
                                       "--model_name=m"], environ={})
    assert settings.model_name == "m" and caplog.records == []


def test_a_tf_serving_boolean_flag_with_a_value_that_is_no_boolean_is_refused():
    with pytest.raises(ValueError, match="--prefer_tflite_model: expected true/false"):
        Settings.load(argv=["--prefer_tflite_model=tflite"], environ={})


@pytest.mark.parametrize("argv, asks", [(["--version"], True),
                                        (["--port=1", "--version=true"], True),
                                        (["--version=false"], False), (["--port=1"], False)])
def test_version_is_asked_for_as_tensorflow_model_server_asks_it(argv, asks):
    assert asks_for_version(argv) is asks
    Settings.load(argv=argv, environ={})  # --version is a flag, never a setting


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


def test_the_images_empty_models_folder_falls_back_to_the_shipped_models(tmp_path, caplog):
    # Docker with nothing mounted: MODEL_BASE_PATH=/models holds neither /models/model nor
    # any version directory.
    settings = Settings.load(environ={"MODEL_BASE_PATH": str(tmp_path), "MODEL_NAME": "model"})
    assert settings.model_base_path == "" and settings.models_dir == "models"
    assert "holds no model 'model'" in caplog.text
    (tmp_path / "1").mkdir()  # a version directory: MODEL_BASE_PATH is the model itself
    assert Settings.load(environ={"MODEL_BASE_PATH": str(tmp_path)}).model_base_path == \
        str(tmp_path)


def test_the_memory_budget_flags_read_sizes_names_and_limits():
    settings = Settings.load(argv=["--model_memory_budget=512MiB", "--pinned_models=a, b",
                                   "--max_concurrent_loads=2",
                                   "--model_load_timeout_seconds=5"], environ={})
    assert settings.memory_budget() == 512 * 2**20 and settings.pinned() == {"a", "b"}
    assert (settings.max_concurrent_loads, settings.model_load_timeout_seconds) == (2, 5.0)
    assert Settings.load(environ={"MODEL_MEMORY_BUDGET": "2GB"}).memory_budget() == 2 * 10**9
    assert Settings.load(environ={"MODEL_MEMORY_BUDGET": "1048576"}).memory_budget() == 2**20
    assert Settings.load(environ={}).memory_budget() == 0  # off: load everything at start


@pytest.mark.parametrize("flag, words", [("--model_memory_budget=12XB", "512MiB"),
                                         ("--model_memory_budget=-1GiB", "512MiB"),
                                         ("--max_concurrent_loads=0", "at least 1"),
                                         ("--model_load_timeout_seconds=0", "more than 0")])
def test_a_wrong_memory_setting_stops_the_start_saying_which_and_why(flag, words):
    with pytest.raises(ValueError, match=words) as raised:
        Settings.load(argv=[flag], environ={})
    assert flag.split("=")[0].lstrip("-") in str(raised.value)
