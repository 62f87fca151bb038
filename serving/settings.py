"""All configuration in one place: typed defaults, environment, tensorflow_model_server flags.

Precedence: defaults < environment < command-line flags < an explicit mapping (tests).
Flag names are tensorflow_model_server's, so an existing start command works unchanged;
the environment variable for a setting is its upper-case name (MODEL_NAME, ENABLE_BATCHING, ...).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from typing import Any, Mapping

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# tensorflow_model_server flags we accept but do not implement (yet): a warning, not a crash.
TF_SERVING_FLAGS_NOT_IMPLEMENTED = frozenset("""
port grpc_socket_path grpc_channel_arguments grpc_max_threads enable_grpc_healthcheck_service
rest_api_num_threads ssl_config_file platform_config_file max_num_load_retries
load_retry_interval_micros num_load_threads num_unload_threads enable_model_warmup
num_request_iterations_for_warmup tensorflow_session_parallelism tensorflow_session_config_file
prefer_tflite_model num_tflite_pools num_tflite_interpreters_per_pool
enable_signature_method_name_check xla_cpu_compilation_enabled enable_profiler
remove_unused_fields_from_bundle_metagraph use_tflite_model flush_filesystem_caches
mixed_precision skip_initialize_tpu enable_per_model_batching_parameters
allow_version_labels_for_unavailable_models version
""".split())


@dataclasses.dataclass
class Settings:
    """One typed settings object; `python app.py --help` lists the same names as flags."""

    # Where models come from (one of the three; models_dir is our "serve a folder of models" mode).
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    models_dir: str = "models"
    saved_model_tags: str = "serve"
    # HTTP
    rest_api_port: int = 8501
    rest_api_host: str = "0.0.0.0"
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = True
    cors_origins: str = "*"
    max_request_bytes: int = 64 * 1024 * 1024
    # gunicorn (chosen by measurement, see bench/README.md): one worker per core on 2 cores
    workers: int = 2
    threads: int = 16
    # "-" (stdout) or a file: one line per request. Off by default, as in TF Serving and
    # gunicorn: it cost about a fifth of a small request's CPU (bench/README.md); nginx logs.
    access_log: str = ""
    # TensorFlow sessions: 1/1 measured best on small CPU boxes (shared/bench/RESULTS.md).
    tensorflow_intra_op_parallelism: int = 1
    tensorflow_inter_op_parallelism: int = 1
    per_process_gpu_memory_fraction: float = 0.0
    gpu_allow_growth: bool = True
    visible_gpus: str = ""
    # Versions and polling
    file_system_poll_wait_seconds: float = 2.0
    model_config_file_poll_wait_seconds: float = 0.0
    admin_token: str = ""             # bearer token for /v1/admin/ (ADMIN_TOKEN); empty: off
    routing_state_file: str = ""      # pins and splits; default: serving/routing_store.py
    # Batching: on by default, unlike TF Serving (a lone request still runs at once; README)
    enable_batching: bool = True
    batching_parameters_file: str = ""
    # Deployment and monitoring (deploy/README.md)
    monitoring_config_file: str = ""      # TF Serving's MonitoringConfig; none: metrics on
    trusted_proxies: int = 0              # X-Forwarded-* hops to trust (ProxyFix); 1 behind nginx
    # Web page (upload page and image endpoints)
    max_image_bytes: int = 10 * 1024 * 1024     # larger uploads get 413 (page and API)
    max_image_pixels: int = 40_000_000          # checked from the header, before decoding
    # Limits (hostile input; serving/limits.py, README "Hardening"): past one, a 4xx
    max_json_depth: int = 32                # nesting of a tensor value (numpy stops at 64)
    max_json_elements: int = 16_000_000     # JSON values in a body, counted before parsing
    max_tensor_elements: int = 10_000_000   # elements of all input tensors of a request
    max_instances: int = 100_000            # rows (instances, examples) in one request
    max_b64_bytes: int = 16 * 1024 * 1024   # decoded size of one {"b64": ...} value
    api_token: str = ""         # prediction API bearer/X-API-Key token(s), comma-separated; off
    # Development
    debug: bool = False

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def load(cls, argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
             overrides: Mapping[str, Any] | None = None) -> "Settings":
        """Build settings from environment, flags and an explicit mapping, in that order."""
        values: dict[str, Any] = {}
        env = os.environ if environ is None else environ
        for name in cls.field_names():
            if name.upper() in env:
                values[name] = env[name.upper()]
        _docker_base_path(values, env)
        if argv:
            values.update(parse_flags(argv))
        if overrides:
            unknown = set(overrides) - set(cls.field_names())
            if unknown:
                raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
            values.update(overrides)
        return cls(**{k: _coerce(k, v) for k, v in values.items()})

    def session_config_args(self) -> dict[str, Any]:
        return {
            "intra_op": self.tensorflow_intra_op_parallelism,
            "inter_op": self.tensorflow_inter_op_parallelism,
            "gpu_memory_fraction": self.per_process_gpu_memory_fraction,
            "gpu_allow_growth": self.gpu_allow_growth,
            # Applied as CUDA_VISIBLE_DEVICES before TF loads (serving/gpu.py); TF then
            # numbers the visible GPUs from 0, so sessions must not restrict them again.
            "visible_gpus": "",
        }


def _docker_base_path(values: dict[str, Any], env: Mapping[str, str]) -> None:
    """TF Serving's image serves $MODEL_BASE_PATH/$MODEL_NAME; accept that layout too."""
    base, name = env.get("MODEL_BASE_PATH"), env.get("MODEL_NAME")
    if base and name and os.path.isdir(os.path.join(base, name)):
        values["model_base_path"] = os.path.join(base, name)


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if not isinstance(value, str):
        return value
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"setting {name}: expected true/false, got {value!r}")
    try:
        return {"int": int, "float": float}.get(kind, str)(value)
    except ValueError:
        raise ValueError(f"setting {name}: expected {kind}, got {value!r}") from None


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """Parse tensorflow_model_server-style flags (`--name=value`, `--flag`, `--noflag`)."""
    # allow_abbrev=False: a shortened or misspelled flag is refused, never taken for another.
    parser = argparse.ArgumentParser(prog="app.py", description="TensorFlow model server on Flask",
                                     allow_abbrev=False)
    for field in dataclasses.fields(Settings):
        if field.type == "bool":
            parser.add_argument(f"--{field.name}", nargs="?", const="true", default=None)
            parser.add_argument(f"--no{field.name}", dest=field.name, action="store_const",
                                const="false")
        else:
            parser.add_argument(f"--{field.name}", default=None)
    known, rest = parser.parse_known_args(argv)
    skip_value = False
    for arg in rest:
        if skip_value and not arg.startswith("-"):
            skip_value = False  # the value of a space-separated ignored flag
            continue
        flag = arg.lstrip("-").split("=", 1)[0]
        if arg.startswith("-") and flag in TF_SERVING_FLAGS_NOT_IMPLEMENTED:
            log.warning("flag --%s is a tensorflow_model_server flag this server does not "
                        "implement yet; ignored", flag)
            skip_value = "=" not in arg
        else:
            parser.error(f"unrecognized argument: {arg}")
    return {k: v for k, v in vars(known).items() if v is not None}
