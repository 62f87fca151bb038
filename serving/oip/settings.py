"""Triton's server-side APIs that this server lacks, answered as Triton answers with the
feature off, so a script written for Triton runs unchanged: no shared memory region is ever
registered (and none can be), and the log and trace settings are read-only, as they were set
at start. Both OIP fronts call these; Triton's messages are kept where a client may match them.
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Mapping

from serving.errors import NotFound, Unimplemented
from serving.observe import tracing

SHARED_MEMORY = {"system": "system", "cuda": "CUDA"}  # Triton's kind → how messages name it
LOGGERS = "serving"  # the core's loggers; app.py's logging.basicConfig sets them up
LOG_FLAGS = ("changing the log settings at run time is not supported by this server; they are "
             "set at start: --log_level (gunicorn's log), --access_log (a line per request) "
             "and --tensorflow_logs (TensorFlow's C++ log)")
TRACE_FLAGS = ("changing the trace settings at run time is not supported by this server; "
               "tracing (OpenTelemetry) is set at start with --tracing and the OTEL_* variables")
OTLP_TRACES = "http://localhost:4318/v1/traces"  # the OTLP/HTTP exporter's default


class ServerSettings:
    def __init__(self, oip, environ: Mapping[str, str] = os.environ):
        self.oip, self.environ = oip, environ

    # -- shared memory: none registered ------------------------------------------------------
    def shared_memory_status(self, kind: str, region: str = "") -> list:
        if region:  # Triton's NOT_FOUND, word for word
            raise NotFound(f"Unable to find {kind} shared memory region: '{region}'")
        return []

    def register_shared_memory(self, kind: str, region: str = "") -> None:
        raise Unimplemented(f"{SHARED_MEMORY[kind]} shared memory is not supported by this "
                            f"server; send the input tensors in the request and read the "
                            f"outputs from the response")

    def unregister_shared_memory(self, kind: str, region: str = "") -> None:
        """Nothing is registered, so nothing is left to do: a script's cleanup succeeds."""

    # -- log and trace settings: read-only -----------------------------------------------------
    def log_settings(self, changing: Iterable[str] = ()) -> dict:
        """Triton's log settings as the core's Python loggers are configured; `changing`
        names the settings a request sets (any: UNIMPLEMENTED)."""
        if list(changing):
            raise Unimplemented(LOG_FLAGS)
        logger = logging.getLogger(LOGGERS)
        return {"log_file": _log_file(logger),
                "log_info": logger.isEnabledFor(logging.INFO),
                "log_warning": logger.isEnabledFor(logging.WARNING),
                "log_error": logger.isEnabledFor(logging.ERROR),
                "log_verbose_level": int(logger.isEnabledFor(logging.DEBUG)),
                "log_format": "default"}

    def trace_settings(self, model: str = "", changing: Iterable[str] = ()) -> dict:
        """Triton's trace settings (its "opentelemetry" mode) as tracing was set at start;
        the same for every model, since tracing is per server here."""
        if model:
            self.oip._known(model)
        if list(changing):
            raise Unimplemented(TRACE_FLAGS)
        on = tracing.wanted(self.oip.core.settings, self.environ)
        answer = {"trace_level": ["TIMESTAMPS" if on else "OFF"],
                  "trace_rate": self._trace_rate(), "trace_count": "-1",
                  "log_frequency": "0", "trace_file": "", "trace_mode": "opentelemetry"}
        if on:
            answer["url"] = self._traces_endpoint()
        return answer

    def _trace_rate(self) -> str:
        """Triton's "one in N requests" from the OpenTelemetry sampler, as the SDK reads it:
        "1" every request, "0" none (but those a parent-based one follows a client in)."""
        sampler = self.environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").lower()
        if sampler.endswith("always_off"):
            return "0"
        if not sampler.endswith("traceidratio"):
            return "1"
        try:
            share = float(self.environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
        except ValueError:
            return "1"  # the SDK samples every trace then too
        return str(max(1, round(1 / share))) if share > 0 else "0"

    def _traces_endpoint(self) -> str:
        explicit = self.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if explicit:
            return explicit
        base = self.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return base.rstrip("/") + "/v1/traces" if base else OTLP_TRACES


def _log_file(logger: logging.Logger) -> str:
    """The file the logger's records reach, or "" for standard error (Triton's "")."""
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                return handler.baseFilename
        logger = logger.parent if logger.propagate else None
    return ""
