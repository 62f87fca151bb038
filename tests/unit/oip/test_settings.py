"""The log and trace settings Triton's clients read (serving/oip/settings.py) say how this
server was started: tracing from --tracing and the OTEL_* variables, logs from the Python
logging of the core's loggers. (The wire, and tracing off, in tests/e2e/test_oip_unsupported.py.)"""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from serving.errors import NotFound
from serving.oip.service import OpenInference
from serving.oip.settings import ServerSettings


def settings_of(environ=None, tracing=False) -> ServerSettings:
    core = SimpleNamespace(settings=SimpleNamespace(tracing=tracing),
                           inference=SimpleNamespace(knows=lambda name: name == "m"))
    oip = SimpleNamespace(core=core, _known=lambda name: OpenInference._known(oip, name),
                          inference=core.inference)
    return ServerSettings(oip, environ or {})


def test_tracing_on_reads_as_opentelemetry_timestamps_sent_to_the_otlp_endpoint():
    answer = settings_of({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}).trace_settings()
    assert answer["trace_level"] == ["TIMESTAMPS"] and answer["trace_mode"] == "opentelemetry"
    assert answer["url"] == "http://collector:4318/v1/traces" and answer["trace_rate"] == "1"


@pytest.mark.parametrize("sampler, argument, rate", [
    ("parentbased_traceidratio", "0.1", "10"), ("traceidratio", "not a number", "1"),
    ("always_off", "", "0"), ("always_on", "", "1")])
def test_the_trace_rate_is_one_in_n_from_the_sampler(sampler, argument, rate):
    environ = {"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": argument}
    answer = settings_of(environ, tracing=True).trace_settings("m")
    assert answer["trace_rate"] == rate and answer["url"] == "http://localhost:4318/v1/traces"


def test_tracing_off_reads_as_off_and_an_unknown_model_is_not_found():
    assert settings_of({"OTEL_SDK_DISABLED": "true"}, tracing=True).trace_settings()[
        "trace_level"] == ["OFF"]
    with pytest.raises(NotFound, match="unknown model: 'x'"):
        settings_of().trace_settings("x")


def test_the_log_settings_follow_the_core_loggers_level_and_file(tmp_path):
    logger = logging.getLogger("serving")
    handler = logging.FileHandler(tmp_path / "server.log")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        answer = settings_of().log_settings()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        handler.close()
    assert answer["log_file"] == str(tmp_path / "server.log")
    assert (answer["log_info"], answer["log_warning"], answer["log_verbose_level"]) == \
        (False, True, 0)
