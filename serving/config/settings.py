"""All configuration in one place: typed defaults, environment, tensorflow_model_server flags.

Precedence: defaults < environment < command-line flags < an explicit mapping (tests).
Flag names are tensorflow_model_server's, so an existing start command works unchanged;
the environment variable for a setting is its upper-case name (MODEL_NAME, ENABLE_BATCHING, ...)
unless its field says otherwise (--port: GRPC_PORT).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import textwrap
from typing import Any, Mapping

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True)
class ForeignFlag:
    """A tensorflow_model_server flag with no setting here. `quiet`: the value that asks for
    nothing this server lacks (None: every value does). Another value stops the start when
    `refuse` (ignoring it would change what a request gets), else it is ignored with a
    warning (tuning: speed or memory only). `why` is said either way."""

    quiet: str | None
    refuse: bool
    why: str


def _tuning(quiet: str | None, why: str) -> ForeignFlag:
    return ForeignFlag(quiet, False, why)


def _refused(quiet: str, why: str) -> ForeignFlag:
    return ForeignFlag(quiet, True, why)


# tensorflow_model_server's flags without a setting here (--help's epilog lists both kinds).
TF_SERVING_FLAGS = {
    "rest_api_num_threads": _tuning(None, "HTTP threads are --workers x --threads here"),
    "max_num_load_retries": _tuning(None, "a version that failed to load is retried once "
                                          "its directory changes"),
    "load_retry_interval_micros": _tuning(None, "a version that failed to load is retried "
                                                "once its directory changes"),
    "num_load_threads": _tuning(None, "each worker loads its versions one at a time"),
    "num_unload_threads": _tuning(None, "each worker unloads its versions one at a time"),
    "tensorflow_session_parallelism": _tuning(None, "use --tensorflow_intra_op_parallelism "
                                                    "and --tensorflow_inter_op_parallelism"),
    "num_tflite_pools": _tuning(None, "TensorFlow Lite models are not served here"),
    "num_tflite_interpreters_per_pool": _tuning(None, "TensorFlow Lite models are not served "
                                                      "here"),
    "xla_cpu_compilation_enabled": _tuning("false", "no XLA JIT on CPU: models run as saved"),
    "enable_profiler": _tuning("false", "there is no profiler service"),
    "remove_unused_fields_from_bundle_metagraph": _tuning("false", "the MetaGraph is kept "
                                                                   "whole"),
    "flush_filesystem_caches": _tuning("false", "file system caches are left as they are"),
    "mixed_precision": _tuning("", "models run in the precision they were saved in"),
    "skip_initialize_tpu": _tuning("false", "there is no TPU support"),
    "thread_pool_factory_config_file": _tuning("", "sessions use TensorFlow's thread pools"),
    "enable_per_model_batching_parameters": _tuning("true", "a model's own "
                                                            "batching_params.pbtxt is always read"),
    "platform_config_file": _refused("", "a PlatformConfigMap is not read here, so its session "
                                         "and batching settings would not apply; use the flags "
                                         "of --help's TensorFlow, GPU and batching groups"),
    "tensorflow_session_config_file": _refused("", "a SessionConfig file is not read here, so "
                                                   "its device and GPU options would not apply; "
                                                   "use the flags of --help's TensorFlow and GPU "
                                                   "groups"),
    "prefer_tflite_model": _refused("false", "TensorFlow Lite models are not served here: the "
                                             "SavedModel would answer instead"),
    "use_tflite_model": _refused("false", "TensorFlow Lite models are not served here: the "
                                          "SavedModel would answer instead"),
    "enable_signature_method_name_check": _refused("false", "classify and regress do not check "
                                                            "a signature's method_name here (TF "
                                                            "Serving's default)"),
    "use_alts_credentials": _refused("false", "gRPC has no ALTS here: it would run without the "
                                              "credentials asked for; use --ssl_config_file"),
}


GROUPS = ("models", "versions", "memory", "batching", "HTTP", "gRPC", "security", "monitoring",
          "TensorFlow", "GPU", "limits", "development")


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
    allow_version_labels_for_unavailable_models: bool = _setting(
        False, "versions", "a new label in a reloaded config may name a version not yet "
        "AVAILABLE (TF Serving's flag)")
    model_cache_dir: str = _setting("", "versions", "where versions in object storage (s3://, "
                                    "gs://, az://) are copied before they load, shared by "
                                    "the workers; empty: a folder in the temporary folder")
    routing_state_file: str = _setting("", "versions", "where pins and traffic splits are "
                                       "kept; empty: <config>.routing.json, or routing.json "
                                       "in the models folder")
    # Many models in limited memory (serving/models/residency.py, README): per worker
    model_memory_budget: str = _setting("", "memory", "memory each worker may give to loaded "
                                        "models, e.g. 512MiB or 2GiB; with one, models load on "
                                        "their first request and the least recently used are "
                                        "unloaded to make room; empty or 0: load all at start")
    pinned_models: str = _setting("", "memory", "comma-separated models that load at start "
                                  "and are never unloaded to make room")
    max_concurrent_loads: int = _setting(1, "memory", "on-demand loads one worker runs at once")
    model_load_timeout_seconds: float = _setting(60.0, "memory", "longest a request waits "
                                                 "for its model to load on demand")
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
    access_log: str = _setting("", "monitoring", "'-' or a file to log one JSON line per "
                               "request to (REST, gRPC, OIP alike)")
    # OpenTelemetry: on with --tracing or OTEL_EXPORTER_OTLP_ENDPOINT; every other choice
    # (endpoint, sampler, service name) is the SDK's own OTEL_* variable (serving/observe/).
    tracing: bool = _setting(False, "monitoring", "send a trace of every request over "
                             "OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, default localhost:4318)")
    request_log_url: str = _setting("", "monitoring", "send sampled requests and responses "
                                    "to this HTTP sink as CloudEvents (KServe's logger shape)")
    request_log_sample_rate: float = _setting(1.0, "monitoring", "share of requests "
                                              "--request_log_url sends, 0 to 1")
    request_log_queue_size: int = _setting(1000, "monitoring", "events waiting to be sent, "
                                           "per worker; past it they are dropped and counted")
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
    # Ours (TF Serving keeps connections forever): a client's one HTTP/2 connection sticks to
    # one worker and one pod; closing it now and then makes the client reconnect (and
    # re-resolve), so long-lived channels spread over workers and new pods.
    grpc_max_connection_age_seconds: float = _setting(
        30.0, "gRPC", "close a client's connection after this long (it reconnects, spreading "
        "over workers and pods); 0: never")
    grpc_max_connection_age_grace_seconds: float = _setting(
        10.0, "gRPC", "time calls in flight on a closing connection get to finish")
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
    admin_token: str = _setting("", "security", "bearer token that the /v1/admin/ routes and "
                                "gRPC's HandleReloadConfigRequest require; empty: the "
                                "/v1/admin/ routes are off (403) and the gRPC reload is open "
                                "(to --api_token's holders when set), as in TF Serving")
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

    def __post_init__(self) -> None:
        if isinstance(self.model_memory_budget, str):  # not yet coerced: Settings.load checks
            memory_budget_bytes(self.model_memory_budget)  # a bad size stops the start
        if isinstance(self.max_concurrent_loads, int) and self.max_concurrent_loads < 1:
            raise ValueError(f"setting max_concurrent_loads: expected at least 1, got "
                             f"{self.max_concurrent_loads}")
        if (isinstance(self.model_load_timeout_seconds, (int, float))
                and not self.model_load_timeout_seconds > 0):
            raise ValueError(f"setting model_load_timeout_seconds: expected more than 0, got "
                             f"{self.model_load_timeout_seconds}")
        rate = self.request_log_sample_rate
        if isinstance(rate, (int, float)) and not 0 <= rate <= 1:
            raise ValueError(f"setting request_log_sample_rate: expected 0 to 1, got {rate}")
        if isinstance(self.request_log_queue_size, int) and self.request_log_queue_size < 1:
            raise ValueError(f"setting request_log_queue_size: expected at least 1, got "
                             f"{self.request_log_queue_size}")

    def memory_budget(self) -> int:
        """--model_memory_budget in bytes; 0 when off."""
        return memory_budget_bytes(self.model_memory_budget)

    def pinned(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.pinned_models.split(",") if n.strip())

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


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
               "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20,
               "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def memory_budget_bytes(text) -> int:
    """`512MiB`, `2GiB`, `1.5GB`, `1000000` (bytes) → bytes; "" or 0: no budget."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    match = _SIZE.fullmatch(str(text)) if str(text).strip() else None
    if not str(text).strip():
        return 0
    unit = match and _SIZE_UNITS.get(match.group(2).lower())
    if not match or unit is None:
        raise ValueError(f"setting model_memory_budget: expected a size such as 512MiB, "
                         f"2GiB, 800MB or a number of bytes, got {text!r}")
    return int(float(match.group(1)) * unit)


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
    if "://" in base:  # s3://bucket/models: the image's $MODEL_BASE_PATH/$MODEL_NAME too
        values["model_base_path"] = f"{base.rstrip('/')}/{name}"
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


def _environment_rule() -> str:
    """What --help and the README say of environment variables, exceptions included."""
    others = [f"--{f.name}'s is {f.metadata['env']}" for f in dataclasses.fields(Settings)
              if f.metadata.get("env")]
    return ("Every flag can also be set by its environment variable, its upper-case name"
            + (f" ({', '.join(others)}: platforms set PORT for the HTTP port)" if others
               else "") + "; flags win.")


def flag_parser() -> argparse.ArgumentParser:
    """tensorflow_model_server-style flags, one per setting, grouped as --help shows them."""
    # allow_abbrev=False: a shortened or misspelled flag is refused, never taken for another.
    parser = argparse.ArgumentParser(
        prog="app.py", allow_abbrev=False, formatter_class=_HelpFormatter,
        description="A TensorFlow model server on Flask, speaking TensorFlow Serving's REST "
                    "and gRPC APIs.\n" + textwrap.fill(_environment_rule(), width=100),
        epilog="\n\n".join(textwrap.fill(
            f"tensorflow_model_server flags {what}: " + " ".join(
                f"--{name}" for name, flag in sorted(TF_SERVING_FLAGS.items())
                if flag.refuse is refuse), width=100) for refuse, what in (
            (False, "accepted and ignored with a warning (tuning)"),
            (True, "that stop the start, saying why, unless given their default"))))
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    groups["development"].add_argument("--version", nargs="?", const="true", default=None,
                                       metavar="BOOL", help="print this server's and "
                                       "TensorFlow's versions, then exit")
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
    """Parse tensorflow_model_server-style flags (`--name=value`, `--flag`, `--noflag`); its
    flags without a setting here pass, warn or stop the start as TF_SERVING_FLAGS says."""
    parser = flag_parser()
    known, rest = parser.parse_known_args(argv)
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.lstrip("-").partition("=")
        bare = name[2:] if name.startswith("no") and name[2:] in TF_SERVING_FLAGS else name
        foreign = TF_SERVING_FLAGS.get(bare) if arg.startswith("-") else None
        if foreign is None:
            parser.error(f"unrecognized argument: {arg}")
        if not equals:  # --flag, --noflag, or --flag VALUE
            if foreign.quiet in ("true", "false"):
                value = "false" if bare != name else "true"
            else:
                value = rest.pop(0) if rest and not rest[0].startswith("-") else ""
        _check_foreign(bare, foreign, value)
    values = {k: v for k, v in vars(known).items() if v is not None}
    values.pop("version", None)  # app.py answers --version before it loads settings
    return values


def _as_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"flag --{name}: expected true/false, got {value!r}")
    return lowered in _TRUE


def _check_foreign(name: str, flag: ForeignFlag, value: str) -> None:
    """Stop the start, warn, or say nothing (the value asks for nothing we lack)."""
    if flag.quiet in ("true", "false"):
        if _as_bool(name, value) == (flag.quiet == "true"):
            return
    elif flag.quiet is not None and value == flag.quiet:
        return
    if flag.refuse:
        raise ValueError(f"--{name}={value} is not supported: {flag.why}")
    log.warning("flag --%s is a tensorflow_model_server flag this server ignores: %s",
                name, flag.why)


def asks_for_version(argv: list[str]) -> bool:
    """tensorflow_model_server's --version (or --version=true): print versions and exit."""
    for arg in argv:
        name, equals, value = arg.partition("=")
        if name == "--version":
            return not equals or _as_bool("version", value)
    return False
