"""Triton's APIs for what this server lacks (shared memory, log and trace settings changed at
run time), driven by tritonclient.http and tritonclient.grpc as a Triton user's script would:
no region is registered and cleanup succeeds, registering or changing a setting fails with the
reason, and the settings read back as the server was started (tracing off)."""
from __future__ import annotations

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.support.helpers import ServerProcess, half_plus_two_config

STATUS = {"http": {"not found": "404", "unsupported": "501"},
          "grpc": {"not found": "StatusCode.NOT_FOUND", "unsupported": "StatusCode.UNIMPLEMENTED"}}
LOGS = {"log_file": "", "log_info": True, "log_warning": True, "log_error": True,
        "log_verbose_level": 0, "log_format": "default"}  # app.py's logging: INFO, to stderr
TRACES = {"trace_level": ["OFF"], "trace_rate": ["1"], "trace_count": ["-1"],
          "log_frequency": ["0"], "trace_file": [""], "trace_mode": ["opentelemetry"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = half_plus_two_config(tmp_path_factory.mktemp("unsupported"))
    process = ServerProcess(f"--model_config_file={config}", "--workers=1")
    yield process
    process.stop()


@pytest.fixture(scope="module", params=["http", "grpc"])
def protocol(request):
    return request.param


@pytest.fixture(scope="module")
def client(server, protocol):
    if protocol == "http":
        return httpclient.InferenceServerClient(server.url.split("//", 1)[1])
    return grpcclient.InferenceServerClient(server.grpc_target)


def refusal(protocol: str, why: str, call, *args, **kwargs) -> str:
    """The message of the InferenceServerException the call raises, with `why`'s status."""
    with pytest.raises(InferenceServerException) as raised:
        call(*args, **kwargs)
    assert raised.value.status() == STATUS[protocol][why], raised.value
    return raised.value.message()


def regions(answer) -> list:
    return list(answer) if isinstance(answer, list) else list(answer.regions)


def log_settings(answer) -> dict:
    """HTTP's JSON, or gRPC's map of typed values, as one flat dict."""
    if isinstance(answer, dict):
        return answer
    return {name: getattr(value, value.WhichOneof("parameter_choice"))
            for name, value in answer.settings.items()}


def trace_settings(answer) -> dict:
    """HTTP's JSON, or gRPC's map, as name → list of strings (gRPC's shape)."""
    if isinstance(answer, dict):
        return {name: value if isinstance(value, list) else [value]
                for name, value in answer.items()}
    return {name: list(value.value) for name, value in answer.settings.items()}


# -- shared memory ---------------------------------------------------------------------------
def test_no_shared_memory_region_is_registered(client):
    assert regions(client.get_system_shared_memory_status()) == []
    assert regions(client.get_cuda_shared_memory_status()) == []


def test_a_named_region_is_not_found_in_tritons_words(client, protocol):
    assert refusal(protocol, "not found", client.get_system_shared_memory_status, "input") == \
        "Unable to find system shared memory region: 'input'"
    assert refusal(protocol, "not found", client.get_cuda_shared_memory_status, "input") == \
        "Unable to find cuda shared memory region: 'input'"


def test_unregistering_succeeds_so_a_scripts_cleanup_runs(client):
    client.unregister_system_shared_memory()
    client.unregister_system_shared_memory("input")
    client.unregister_cuda_shared_memory()
    client.unregister_cuda_shared_memory("input")


def test_registering_a_region_is_refused_with_the_reason(client, protocol):
    message = refusal(protocol, "unsupported", client.register_system_shared_memory,
                      "input", "/input", 64)
    assert message.startswith("system shared memory is not supported by this server")
    handle = "AAAA" if protocol == "http" else b"\0" * 64
    message = refusal(protocol, "unsupported", client.register_cuda_shared_memory,
                      "input", handle, 0, 64)
    assert message.startswith("CUDA shared memory is not supported by this server")


# -- log settings ----------------------------------------------------------------------------
def test_the_log_settings_read_back_as_the_server_logs(client):
    assert log_settings(client.get_log_settings()) == LOGS
    assert log_settings(client.update_log_settings({"log_info": None})) == LOGS  # no change


def test_changing_a_log_setting_is_refused_with_the_flags_that_set_them(client, protocol):
    message = refusal(protocol, "unsupported", client.update_log_settings,
                      {"log_verbose_level": 1})
    assert message.startswith("changing the log settings at run time is not supported")
    assert "--log_level" in message and "--access_log" in message


# -- trace settings --------------------------------------------------------------------------
def test_the_trace_settings_read_back_as_tracing_was_started(client):
    assert trace_settings(client.get_trace_settings()) == TRACES
    assert trace_settings(client.get_trace_settings("half_plus_two")) == TRACES
    assert trace_settings(client.update_trace_settings(settings={})) == TRACES  # no change


def test_changing_a_trace_setting_is_refused_with_the_flags_that_set_them(client, protocol):
    for model in (None, "half_plus_two"):
        message = refusal(protocol, "unsupported", client.update_trace_settings, model,
                          {"trace_rate": "10"})
        assert "not supported" in message and "--tracing and the OTEL_* variables" in message


def test_an_unknown_models_trace_settings_are_not_found(client, protocol):
    assert refusal(protocol, "not found", client.get_trace_settings, "nope") == \
        "Request for unknown model: 'nope' is not found"
