"""The model_config_list text format, parsed with tensorflow-serving-api's own protobuf classes.

The configuration a server starts from is read once, in gunicorn's master before it forks
(`take_snapshot`): every worker, and every worker gunicorn restarts later, starts from that
same copy, as TensorFlow Serving's one process would. Polling moves them on from there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.config.settings import Settings


class ConfigError(ValueError):
    """The model config cannot be used; the message names the file and the problem."""


def parse_model_config(text: str, origin: str = "<config>") -> model_server_config_pb2.ModelServerConfig:
    """Parse and check a ModelServerConfig text proto (only model_config_list is supported)."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"Error parsing text-format tensorflow.serving.ModelServerConfig "
                          f"in {origin}: {exc}") from None
    if config.WhichOneof("config") == "custom_model_config":
        raise ConfigError(f"{origin}: custom_model_config is not supported; use model_config_list")
    seen: set[str] = set()
    for model in config.model_config_list.config:
        where = f"{origin}: model {model.name or '(unnamed)'!r}"
        if not model.name:
            raise ConfigError(f"{origin}: a config entry has no 'name'")
        if model.name in seen:
            raise ConfigError(f"{where}: duplicate name")
        seen.add(model.name)
        if not model.base_path:
            raise ConfigError(f"{where}: 'base_path' is required")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{where}: model_platform {model.model_platform!r} is not supported "
                              f"(only 'tensorflow')")
        policy = model.model_version_policy
        if policy.WhichOneof("policy_choice") == "specific" and not policy.specific.versions:
            raise ConfigError(f"{where}: model_version_policy.specific lists no versions")
    return config


def read_model_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    return read_model_config_file(path)[0]


def read_model_config_file(path: str) -> tuple[model_server_config_pb2.ModelServerConfig, str]:
    """(the config with base paths made absolute, a digest of the bytes it was read from)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read model config file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"model config file {path} is not UTF-8: {exc}") from None
    config = parse_model_config(text, origin=path)
    base = os.path.dirname(os.path.abspath(path))
    for model in config.model_config_list.config:
        if "://" not in model.base_path and not os.path.isabs(model.base_path):
            model.base_path = os.path.normpath(os.path.join(base, model.base_path))
    return config, digest(raw)


def digest(data: bytes) -> str:
    """What a poller compares to see a file change: its content, not its inode or mtime
    (a rewrite can reuse the inode, keep the size and land within one mtime tick)."""
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The config as the master read it, and which settings it was read for."""

    source: tuple
    config: bytes               # serialized ModelServerConfig
    file_digest: str | None     # of --model_config_file's bytes, when there is one

    def model_config(self) -> model_server_config_pb2.ModelServerConfig:
        config = model_server_config_pb2.ModelServerConfig()
        config.ParseFromString(self.config)
        return config


_snapshot: Snapshot | None = None


def _source(settings: Settings) -> tuple:
    return (settings.model_config_file, settings.model_base_path, settings.model_name,
            settings.models_dir, os.getcwd())


def read_snapshot(settings: Settings) -> Snapshot:
    """Read and check the config the settings name, now; raises ConfigError."""
    file_digest = None
    if settings.model_config_file:
        config, file_digest = read_model_config_file(settings.model_config_file)
    else:
        config = config_from_settings(settings)
    return Snapshot(_source(settings), config.SerializeToString(), file_digest)


RELOADED_FILE = "reloaded_models.config"


def reloaded_config_path(settings: Settings) -> str:
    """Where a config replaced at run time (gRPC HandleReloadConfigRequest) is kept for every
    worker: beside --routing_state_file, else `<config>.reloaded` beside --model_config_file,
    else in this server's run folder (run_folder) — never in a models folder."""
    if settings.routing_state_file:
        return os.path.join(os.path.dirname(os.path.abspath(settings.routing_state_file)),
                            RELOADED_FILE)
    if settings.model_config_file:
        return os.path.abspath(settings.model_config_file) + ".reloaded"
    return os.path.join(run_folder(settings), RELOADED_FILE)


def run_folder(settings: Settings) -> str:
    """A folder on this host for what the workers of one server share while it runs: the
    one gunicorn's master gives every run (PROMETHEUS_MULTIPROC_DIR), else one in the temp
    folder named after the server's models and ports. Not created here."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        return given
    key = "\0".join((os.path.abspath(settings.model_base_path or settings.models_dir),
                     settings.model_config_file, str(settings.rest_api_port), str(settings.port)))
    return os.path.join(tempfile.gettempdir(), f"model-server-{os.getuid()}-"
                        f"{hashlib.sha256(key.encode()).hexdigest()[:16]}")


def platform(model) -> str:
    """TF Serving's GetPlatform: model_platform, or the deprecated model_type; raises
    ConfigError with TF Serving's words when neither or both are set."""
    if model.model_type:  # MODEL_TYPE_UNSPECIFIED is 0
        if model.model_platform:
            raise ConfigError("Illegal setting both ModelServerConfig::model_type (deprecated) "
                              f"and ModelServerConfig::model_platform, model name is {model.name}")
        if model.model_type != 1:  # TENSORFLOW
            raise ConfigError(f"ModelServerConfig::model_type choice {model.model_type} not "
                              f"supported.")
        return "tensorflow"
    if not model.model_platform:
        raise ConfigError("Illegal setting neither ModelServerConfig::model_type (deprecated) "
                          f"nor ModelServerConfig::model_platform, model name is {model.name}")
    return model.model_platform


def take_snapshot(settings: Settings) -> Snapshot:
    """In the master, before forking: read the config once for every worker to start from.

    A server starts from its flags and its config file, as TF Serving does: a config an
    earlier run replaced at run time is forgotten."""
    global _snapshot
    stale = reloaded_config_path(settings)
    if os.path.exists(stale):
        os.remove(stale)
    _snapshot = read_snapshot(settings)
    return _snapshot


def has_snapshot() -> bool:
    return _snapshot is not None


def snapshot_for(settings: Settings) -> Snapshot:
    """The master's snapshot for these settings, or a fresh reading (no master: an app
    built in-process by tests or by --debug)."""
    if _snapshot is not None and _snapshot.source == _source(settings):
        return _snapshot
    return read_snapshot(settings)


def config_from_settings(settings: Settings) -> model_server_config_pb2.ModelServerConfig:
    """The config to serve: the file, one --model_base_path, or every folder of models_dir."""
    if settings.model_config_file:
        return read_model_config(settings.model_config_file)
    config = model_server_config_pb2.ModelServerConfig()
    models = config.model_config_list.config
    if settings.model_base_path:
        entry = models.add(name=settings.model_name, model_platform="tensorflow")
        base = settings.model_base_path
        entry.base_path = base if "://" in base else os.path.abspath(base)  # s3:// as given
        return config
    root = os.path.abspath(settings.models_dir)
    if not os.path.isdir(root):
        raise ConfigError(f"models directory {root} does not exist; pass --model_base_path, "
                          f"--model_config_file or --models_dir")
    for name in sorted(os.listdir(root)):
        if os.path.isdir(os.path.join(root, name)) and not name.startswith("."):
            models.add(name=name, base_path=os.path.join(root, name), model_platform="tensorflow")
    return config


def write_model_config(path: str, config: model_server_config_pb2.ModelServerConfig) -> None:
    """Replace the config file atomically. Comments of a hand-written file are not kept."""
    atomic_write(path, text_format.MessageToString(config))


def atomic_write(path: str, text: str) -> None:
    """Write a temporary file beside `path`, then rename it over: readers (other workers
    polling) see the old file or the new one, never half of one. Keeps the file's mode."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
