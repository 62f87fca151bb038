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
import textwrap
from typing import Any, Mapping

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# tensorflow_model_server flags we accept but do not implement (yet): a warning, not a crash.
TF_SERVING_FLAGS_NOT_IMPLEMENTED = frozenset("""
rest_api_num_threads platform_config_file max_num_load_retries
load_retry_interval_micros num_load_threads num_unload_threads
tensorflow_session_parallelism tensorflow_session_config_file
prefer_tflite_model num_tflite_pools num_tflite_interpreters_per_pool
enable_signature_method_name_check xla_cpu_compilation_enabled enable_profiler
remove_unused_fields_from_bundle_metagraph use_tflite_model flush_filesystem_caches
mixed_precision skip_initialize_tpu enable_per_model_batching_parameters
allow_version_labels_for_unavailable_models version
""".split())


GROUPS = ("models", "versions", "batching", "HTTP", "gRPC", "security", "monitoring", "TensorFlow",
          "GPU", "limits", "development")


def _setting(default, group: str, help: str, env: str | None = None):
    """One setting: its default, its --help group and line. The flag is its name; the
    environment variable its upper-case name, unless `env` says otherwise."""
    return dataclasses.field(default=default, metadata={"group": group, "help": help,
                                                        "env": env})


def env_name(field: dataclasses.Field) -> str:
    return field.metadata.get("env") or field.name.upper()


@dataclasses.dataclass
class Settings:
    """One typed settings object; `python app.py --help` lists every one as a flag."""

    # Where models come from: one of the three (models_dir is ours: serve a folder of models).
    model_name: str = _setting("default", "models", "name of the model --model_base_path serves")
    model_base_path: str = _setting("", "models", "serve one model from this base path "
                                    "(numeric version directories under it)")
    model_config_file: str = _setting("", "models", "serve the models of this "
                                      "model_config_list text file instead")
    models_dir: str = _setting("models", "models", "with neither of the two: serve every "
                               "folder of this directory as a model")
    saved_model_tags: str = _setting("serve", "models", "comma-separated MetaGraphDef tags "
                                     "to load from each SavedModel")
    custom_op_libraries: str = _setting("", "models", "comma-separated TensorFlow op libraries "
                                        "(.so files, or Python modules that register ops) "
                                        "for models with ops TensorFlow lacks")
    # Versions and polling
    file_system_poll_wait_seconds: float = _setting(
        2.0, "versions", "seconds between scans of the base paths for new or removed "
        "versions; 0 scans once")
    model_config_file_poll_wait_seconds: float = _setting(
        0.0, "versions", "seconds between re-reads of --model_config_file; 0 reads it once")
    routing_state_file: str = _setting("", "versions", "where pins and traffic splits are "
                                       "kept; empty: <config>.routing.json, or routing.json "
                                       "in the models folder")
    # HTTP
    rest_api_port: int = _setting(8501, "HTTP", "port of the REST API and the page")
    rest_api_host: str = _setting("0.0.0.0", "HTTP", "address to listen on")
    rest_api_timeout_in_ms: int = _setting(30000, "HTTP", "longest a request may wait for "
                                           "its batch before it is answered 504")
    rest_api_enable_cors_support: bool = _setting(True, "HTTP", "answer CORS on /v1/")
    cors_origins: str = _setting("*", "HTTP", "comma-separated origins CORS allows")
    # gunicorn (chosen by measurement, see bench/README.md): one worker per core on 2 cores
    workers: int = _setting(2, "HTTP", "gunicorn worker processes (each loads every model)")
    threads: int = _setting(16, "HTTP", "threads per worker")
    keepalive_wait_ms: float = _setting(2.0, "HTTP", "how long a worker thread waits for a "
                                        "kept-alive connection's next request while no other "
                                        "connection needs it; 0: gunicorn's plain gthread")
    # "-" (stdout) or a file: one line per request. Off by default, as in TF Serving and
    # gunicorn: it cost about a fifth of a small request's CPU (bench/README.md); nginx logs.
    access_log: str = _setting("", "HTTP", "'-' or a file to log one line per request to")
    # A worker sends no heartbeat while it loads its models, so this must exceed the slowest
    # full load, or the master kills and restarts it forever (deploy/gunicorn.conf.py).
    worker_timeout: int = _setting(300, "HTTP", "seconds a worker may go silent (loading "
                                   "its models) before gunicorn restarts it")
    # After SIGTERM, in-flight requests get this long: above rest_api_timeout_in_ms (30 s).
    graceful_timeout: int = _setting(40, "HTTP", "seconds in-flight requests get after SIGTERM")
    log_level: str = _setting("info", "monitoring", "gunicorn's log level: debug, info, "
                              "warning, error")
    trusted_proxies: int = _setting(0, "HTTP", "X-Forwarded-* hops to trust; 1 behind nginx")
    # gRPC: TensorFlow Serving's PredictionService and ModelService, from every worker
    # GRPC_PORT, not PORT: platforms set PORT for the HTTP port they route to.
    port: int = _setting(8500, "gRPC", "gRPC port (every worker listens on it: SO_REUSEPORT); "
                         "0 turns TCP gRPC off", env="GRPC_PORT")
    grpc_socket_path: str = _setting("", "gRPC", "also serve gRPC on this UNIX socket (one per "
                                     "worker: <path> for the first, <path>.<n> for the others)")
    grpc_channel_arguments: str = _setting("", "gRPC", "grpc server options, k=v,k=v (e.g. "
                                           "grpc.max_connection_age_ms=2000)")
    grpc_max_threads: int = _setting(0, "gRPC", "threads handling gRPC calls per worker; "
                                     "0: as many as --threads, at least 4 per CPU")
    ssl_config_file: str = _setting("", "gRPC", "TF Serving's SSLConfig text file: server key "
                                    "and certificate, client CA, client_verify")
    enable_grpc_healthcheck_service: bool = _setting(False, "gRPC", "serve grpc.health.v1 "
                                                     "(also model/<name> per model)")
    enable_grpc_reflection: bool = _setting(False, "gRPC", "serve gRPC server reflection, for "
                                            "grpcurl (ours; TF Serving has none)")
    enable_serialization_as_tensor_content: bool = _setting(
        False, "gRPC", "write gRPC outputs to tensor_content instead of the typed fields")
    # Batching: on by default, unlike TF Serving (a lone request still runs at once; README)
    enable_batching: bool = _setting(True, "batching", "let concurrent requests share one "
                                     "session run")
    batching_parameters_file: str = _setting("", "batching", "TF Serving's "
                                             "BatchingParameters text file")
    # Security
    api_token: str = _setting("", "security", "comma-separated tokens the prediction API "
                              "requires (Bearer or X-API-Key); empty: open")
    admin_token: str = _setting("", "security", "bearer token of the /v1/admin/ routes; "
                                "empty: those routes are off")
    # Monitoring
    monitoring_config_file: str = _setting("", "monitoring", "TF Serving's MonitoringConfig "
                                           "text file; without one, metrics are on")
    # TensorFlow sessions: 1/1 measured best on small CPU boxes (bench/README.md). With one
    # inter-op thread, a request that runs alone runs in its own thread (wrappers/base.py);
    # negative: every run in its caller's thread.
    tensorflow_intra_op_parallelism: int = _setting(1, "TensorFlow", "threads one op may use")
    tensorflow_inter_op_parallelism: int = _setting(1, "TensorFlow", "ops run side by side; "
                                                    "negative: in the calling thread")
    enable_model_warmup: bool = _setting(True, "TensorFlow", "replay a version's "
                                         "assets.extra/tf_serving_warmup_requests before it "
                                         "serves")
    num_request_iterations_for_warmup: int = _setting(1, "TensorFlow", "times each warmup "
                                                      "record is replayed")
    tensorflow_logs: bool = _setting(False, "TensorFlow", "show TensorFlow's C++ start-up "
                                     "logs (also shown when TF_CPP_MIN_LOG_LEVEL is set)")
    # GPU
    visible_gpus: str = _setting("", "GPU", "CUDA_VISIBLE_DEVICES for this server, e.g. 0 "
                                 "or 0,1; -1 hides every GPU")
    per_process_gpu_memory_fraction: float = _setting(0.0, "GPU", "share of each GPU's memory "
                                                      "a worker may take; 0: as needed")
    gpu_allow_growth: bool = _setting(True, "GPU", "take GPU memory as needed, not all at once")
    # Limits (hostile input; serving/config/limits.py, README "Hardening"): past one, a 4xx
    max_request_bytes: int = _setting(64 * 1024 * 1024, "limits", "request body, as sent "
                                      "and after gzip inflation")
    max_image_bytes: int = _setting(10 * 1024 * 1024, "limits", "an uploaded picture")
    max_image_pixels: int = _setting(40_000_000, "limits", "pixels of a picture, read from "
                                     "its header before decoding")
    max_json_depth: int = _setting(32, "limits", "nesting of a tensor value (numpy stops "
                                   "at 64)")
    max_json_elements: int = _setting(16_000_000, "limits", "JSON values in a body, counted "
                                      "before parsing")
    max_tensor_elements: int = _setting(10_000_000, "limits", "elements of all input tensors "
                                        "of one request")
    max_instances: int = _setting(100_000, "limits", "rows (instances, examples) in one "
                                  "request")
    max_b64_bytes: int = _setting(16 * 1024 * 1024, "limits", "decoded size of one "
                                  "{\"b64\": ...} value")
    # Development
    debug: bool = _setting(False, "development", "run Flask's development server instead "
                           "of gunicorn")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def load(cls, argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
             overrides: Mapping[str, Any] | None = None) -> "Settings":
        """Build settings from environment, flags and an explicit mapping, in that order."""
        values: dict[str, Any] = {}
        env = os.environ if environ is None else environ
        for field in dataclasses.fields(cls):
            if env_name(field) in env:
                values[field.name] = env[env_name(field)]
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
            # Applied as CUDA_VISIBLE_DEVICES before TF loads (config/gpu.py); TF then
            # numbers the visible GPUs from 0, so sessions must not restrict them again.
            "visible_gpus": "",
        }


_current: Settings | None = None


def use(settings: Settings) -> None:
    """`python app.py`: these (flag-made) settings are the ones gunicorn's config reads."""
    global _current
    _current = settings


def current() -> Settings:
    """The settings of this server: `use`'s, or else the environment's (`gunicorn -c ...`)."""
    return _current if _current is not None else Settings.load()


def _docker_base_path(values: dict[str, Any], env: Mapping[str, str]) -> None:
    """TF Serving's image serves $MODEL_BASE_PATH/$MODEL_NAME; accept that layout too.

    A MODEL_BASE_PATH that is a folder holding neither that model nor any version directory
    is the image's empty /models with nothing mounted: the shipped models are served then,
    so the image shows something at once (our addition; TF Serving would wait forever)."""
    base, name = env.get("MODEL_BASE_PATH"), env.get("MODEL_NAME") or "default"
    if not base or "MODEL_CONFIG_FILE" in env:
        return
    if os.path.isdir(os.path.join(base, name)):
        values["model_base_path"] = os.path.join(base, name)
    elif os.path.isdir(base) and not any(child.isdigit() for child in os.listdir(base)):
        values.pop("model_base_path", None)
        log.warning("MODEL_BASE_PATH=%s holds no model %r (nor version directories): serving "
                    "the models in %s instead; mount a model at %s or set MODEL_NAME", base,
                    name, values.get("models_dir", Settings.models_dir),
                    os.path.join(base, name))


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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=44, width=100)


def flag_parser() -> argparse.ArgumentParser:
    """tensorflow_model_server-style flags, one per setting, grouped as --help shows them."""
    # allow_abbrev=False: a shortened or misspelled flag is refused, never taken for another.
    parser = argparse.ArgumentParser(
        prog="app.py", allow_abbrev=False, formatter_class=_HelpFormatter,
        description="A TensorFlow model server on Flask, speaking TensorFlow Serving's REST "
                    "API.\nEvery flag can also be set by its environment variable; flags win.",
        epilog=textwrap.fill("tensorflow_model_server flags accepted with a warning, not "
                             "implemented: " + " ".join(
                                 f"--{f}" for f in sorted(TF_SERVING_FLAGS_NOT_IMPLEMENTED)),
                             width=100))
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for field in dataclasses.fields(Settings):
        group = groups[field.metadata["group"]]
        default = (str(field.default).lower() if field.type == "bool" else
                   field.default if field.default != "" else '""')
        line = f"{field.metadata['help']} (default {default}; ${env_name(field)})"
        if field.type == "bool":
            group.add_argument(f"--{field.name}", nargs="?", const="true", default=None,
                               metavar="BOOL", help=line)
            group.add_argument(f"--no{field.name}", dest=field.name, action="store_const",
                               const="false", help=argparse.SUPPRESS)
        else:
            group.add_argument(f"--{field.name}", default=None, metavar=field.type.upper(),
                               help=line)
    return parser


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """Parse tensorflow_model_server-style flags (`--name=value`, `--flag`, `--noflag`)."""
    parser = flag_parser()
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
