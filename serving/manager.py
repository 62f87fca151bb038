"""Which model versions are loaded, and which one answers a request.

TF Serving's vocabulary: a model has versions; each is START → LOADING → AVAILABLE →
UNLOADING → END (END with an error when loading failed). New versions load before old ones
unload, so a model that serves keeps serving while it changes.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable

from serving.errors import InvalidArgument, LoadError, NotFound
from serving.source import aspired_versions, list_versions

log = logging.getLogger(__name__)

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclasses.dataclass
class VersionStatus:
    version: int
    path: str
    state: str = START
    error_code: str = "OK"
    error_message: str = ""
    servable: object | None = None
    load_seconds: float | None = None


@dataclasses.dataclass
class _Model:
    config: object                                   # ModelConfig proto
    versions: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)


class ModelManager:
    """Loads the aspired versions of every configured model and hands out servables.

    `loader(name, version, path)` returns a Servable or raises LoadError. Reads (resolve,
    status) take no lock: they see whole dicts that writers replace, never mutate in place.
    """

    def __init__(self, loader: Callable[[str, int, str], object]):
        self._loader = loader
        self._models: dict[str, _Model] = {}
        self._write_lock = threading.RLock()

    # -- configuration and loading -------------------------------------------------------
    def configure(self, model_config_list) -> None:
        """Adopt a model_config_list: new models are added, removed ones unloaded."""
        with self._write_lock:
            models = dict(self._models)
            wanted = {c.name: c for c in model_config_list.config}
            for name in list(models):
                if name not in wanted:
                    self._unload_all(models.pop(name))
            for name, config in wanted.items():
                if name in models:
                    models[name] = dataclasses.replace(models[name], config=config)
                else:
                    models[name] = _Model(config)
            self._models = models

    def sync_all(self) -> None:
        for name in list(self._models):
            self.sync(name)

    def sync(self, name: str) -> None:
        """Bring one model's loaded versions in line with its base path and policy."""
        with self._write_lock:
            model = self._models.get(name)
            if model is None:
                return
            try:
                on_disk = list_versions(model.config.base_path)
            except FileNotFoundError as exc:
                log.warning("%s: %s", name, exc)
                return  # TF Serving: an unreadable base path changes nothing
            aspired = aspired_versions(model.config.model_version_policy, on_disk)
            for version in sorted(set(aspired) - set(model.versions), reverse=True):
                self._load(model, name, version, on_disk[version])
            for version, status in list(model.versions.items()):
                if status.state == END and status.error_code != "OK" and version not in on_disk:
                    self._set(model, version, None)  # a failed version that was deleted
            if any(model.versions.get(v) and model.versions[v].state == AVAILABLE for v in aspired):
                for version, status in list(model.versions.items()):
                    if version not in aspired and status.state == AVAILABLE:
                        self._unload(model, status)

    def _load(self, model: _Model, name: str, version: int, path: str) -> None:
        status = VersionStatus(version, path, LOADING)
        self._set(model, version, status)
        started = time.monotonic()
        try:
            servable = self._loader(name, version, path)
        except LoadError as exc:
            log.error("model %s version %d failed to load: %s", name, version, exc.message)
            self._set(model, version, dataclasses.replace(
                status, state=END, error_code=exc.code, error_message=exc.message))
            return
        elapsed = time.monotonic() - started
        log.info("model %s version %d AVAILABLE (loaded in %.2fs)", name, version, elapsed)
        self._set(model, version, dataclasses.replace(
            status, state=AVAILABLE, servable=servable, load_seconds=elapsed))

    def _unload(self, model: _Model, status: VersionStatus) -> None:
        self._set(model, status.version, dataclasses.replace(status, state=UNLOADING))
        servable = status.servable
        self._set(model, status.version, dataclasses.replace(status, state=END, servable=None))
        if servable is not None:
            servable.close()

    def _unload_all(self, model: _Model) -> None:
        for status in list(model.versions.values()):
            if status.servable is not None:
                self._unload(model, status)

    @staticmethod
    def _set(model: _Model, version: int, status: VersionStatus | None) -> None:
        versions = dict(model.versions)
        if status is None:
            versions.pop(version, None)
        else:
            versions[version] = status
        model.versions = versions  # replaced whole: readers never see a half-updated dict

    def close(self) -> None:
        with self._write_lock:
            for model in self._models.values():
                self._unload_all(model)

    # -- reads ------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return sorted(self._models)

    def resolve(self, name: str, version: int | None = None, label: str | None = None):
        """The servable for a request: a version, a label, or the newest AVAILABLE one."""
        model = self._models.get(name)
        if model is None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        if label is not None:
            labels = dict(model.config.version_labels)
            if label not in labels:
                raise InvalidArgument(f"Unrecognized servable version label: {label}")
            version = labels[label]
        versions = model.versions
        if version is not None:
            status = versions.get(version)
            if status is None or status.state != AVAILABLE:
                raise NotFound(f"Servable not found for request: Specific({name}, {version})")
            return status.servable
        for number in sorted(versions, reverse=True):
            if versions[number].state == AVAILABLE:
                return versions[number].servable
        raise NotFound(f"Servable not found for request: Latest({name})")

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Every tracked version of a model, newest first (TF Serving's GetModelStatus)."""
        model = self._models.get(name)
        if model is None or not model.versions:
            raise NotFound(f"Could not find any versions of model {name}")
        if version is not None:
            if version not in model.versions:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [model.versions[version]]
        return [model.versions[v] for v in sorted(model.versions, reverse=True)]

    def config(self, name: str):
        model = self._models.get(name)
        if model is None:
            raise NotFound(f"Could not find model {name}")
        return model.config
