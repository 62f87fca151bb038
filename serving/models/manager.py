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

from serving import metrics
from serving.errors import FailedPrecondition, LoadError, NotFound, ServingError, Unavailable
from serving.models import signatures
from serving.models.routes import Route
from serving.models.source import fingerprint, list_versions, local_copy, settled
from serving.models.state import (
    AVAILABLE,
    END,
    LOADING,
    START,
    UNLOADING,
    ModelState,
    VersionStatus,
)
from serving.models.unloader import Unloader

__all__ = ["ModelManager", "VersionStatus", "START", "LOADING", "AVAILABLE", "UNLOADING", "END"]
log = logging.getLogger(__name__)


class ModelManager:
    """Loads the aspired versions of every configured model and hands out servables.

    `loader(name, version, path)` returns a Servable or raises LoadError. Reads (resolve,
    status) take no lock (serving/versions.py). Loading holds only `_sync_lock`, so config,
    label and route changes never wait for a load.
    """

    def __init__(self, loader: Callable[[str, int, str], object], unloader: Unloader | None = None,
                 residency=None):
        self._loader = loader
        self._unloader = unloader or Unloader()
        # Under --model_memory_budget (models/residency.py): versions are registered AVAILABLE
        # and load on their first request; their servables live there, never in the tables.
        self.residency = residency
        self.saved_model_tags = "serve"  # the core sets --saved_model_tags (metadata from disk)
        if residency is not None:  # a version requests still hold closes when they end
            residency.discard = self._unloader.retire
        self._models: dict[str, ModelState] = {}
        # Models a config change removed: their versions, in END, still answer status calls
        # (TF Serving's state monitor remembers every version it tracked in this process).
        self._removed: dict[str, ModelState] = {}
        self.allow_unavailable_labels = False  # --allow_version_labels_for_unavailable_models
        self._lock = threading.RLock()        # short: tables and state transitions
        self._sync_lock = threading.Lock()    # one sync at a time, held while loading
        self._on_close: list[Callable[[], None]] = []
        self._unreadable: dict[str, str] = {}  # model -> why its base path cannot be read now

    # -- configuration ----------------------------------------------------------------------
    def configure(self, model_config_list) -> None:
        """Adopt a model_config_list: new models are added, removed ones unloaded (their
        versions stay listed, in END); a model added again keeps its END history."""
        with self._lock:
            models, removed = dict(self._models), dict(self._removed)
            wanted = {c.name: c for c in model_config_list.config}
            for name in list(models):
                if name not in wanted:
                    removed[name] = models.pop(name)
                    self._unload_all(removed[name])
            for name, config in wanted.items():
                if name in models:
                    models[name].config = config
                else:
                    old = removed.pop(name, None)
                    history = {v: s for v, s in (old.versions if old else {}).items()
                               if s.state == END and not s.failed}
                    models[name] = ModelState(config, versions=history)
            self._models, self._removed = models, removed

    def set_route(self, name: str, route: Route | None) -> None:
        model = self._models.get(name)
        if model is not None:
            model.route = route if route and route.versions() else None

    def commit_labels(self, name: str) -> None:
        """Put the configured labels in effect if each new or moved one names an AVAILABLE
        version; otherwise keep the old ones and remember why (TF Serving's rule)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                return
            desired = dict(model.config.version_labels)
            moved = {k: v for k, v in desired.items() if model.labels.get(k) != v}
            if self.allow_unavailable_labels:  # then only a label moved from another version
                moved = {k: v for k, v in moved.items() if k in model.labels}
            try:  # labels that did not change keep working even if their version went away
                model.require_available(set(moved.values()))
            except FailedPrecondition as exc:
                if exc.message != model.label_error:
                    log.error("labels of model %s not changed: %s", name, exc.message)
                model.label_error = exc.message
                return
            model.labels, model.label_error = desired, ""

    def on_close(self, hook: Callable[[], None]) -> None:
        self._on_close.append(hook)

    # -- loading and unloading ----------------------------------------------------------------
    def sync_all(self) -> bool:
        changed = False
        for name in list(self._models):
            changed = self.sync(name) or changed
        return changed

    def sync(self, name: str) -> bool:
        """Bring one model's loaded versions in line with its base path, policy and routes."""
        with self._sync_lock:
            model = self._models.get(name)
            if model is None:
                return False
            try:
                on_disk = list_versions(model.config.base_path)
            except FileNotFoundError as exc:
                if not getattr(exc, "reported", False):  # a remote store logs its own, once
                    log.warning("%s: %s", name, exc)
                self._unreadable[name] = str(exc)
                return False  # TF Serving: an unreadable base path changes nothing
            self._unreadable.pop(name, None)
            changed = False
            for _ in range(2):  # the second pass loads a fallback for versions that just failed
                wanted = model.wanted(on_disk)
                for version in sorted(wanted, reverse=True):
                    changed = self._maybe_load(name, model, version, on_disk[version]) or changed
            with self._lock:
                for version, status in model.versions.items():
                    if status.failed and version not in on_disk:
                        model.set_status(version, None)  # a failed version that was deleted
                if not wanted or model.available() & wanted:  # load first, then unload
                    for status in model.versions.values():
                        if status.version not in wanted and status.state == AVAILABLE:
                            self._unload(model, status)
                            changed = True
            model.scanned = True
        self.commit_labels(name)
        return changed

    def _maybe_load(self, name: str, model: ModelState, version: int, path: str) -> bool:
        status = model.versions.get(version)
        if status is not None and status.state in (LOADING, AVAILABLE):
            return False
        now = fingerprint(path)
        if status is not None and status.failed and now == status.fingerprint:
            return False  # TF Serving never retries; we retry once the directory changed
        if model.scanned and not settled(now, model.unsettled.get(version)):
            model.unsettled[version] = now  # maybe still being copied: look again next poll
            return False
        model.unsettled.pop(version, None)
        if self.residency is None:
            self._load(name, model, version, path, now)
            return True
        with self._lock:  # a request will load it: it serves, so AVAILABLE (README)
            model.set_status(version, VersionStatus(version, path, AVAILABLE, fingerprint=now))
        log.info("model %s version %d AVAILABLE (loads on its first request)", name, version)
        if self.residency.is_pinned(name) or any(
                self.residency.resident_bytes((name, v)) for v in model.available()):
            self._load_now(name, model, version)  # pinned, or replacing a loaded version
        return True

    # -- under a memory budget ----------------------------------------------------------------
    def _fetch(self, name: str, model: ModelState, status: VersionStatus, timeout=None):
        """The registered version's servable, leased: resident, or loaded now."""
        return self.residency.fetch((name, status.version),
                                    lambda: self._load_on_demand(name, model, status),
                                    status.fingerprint.size if status.fingerprint else 0, timeout)

    def _load_on_demand(self, name: str, model: ModelState, status: VersionStatus):
        """Runs in a residency load thread: the loader (warmup included), or the version
        ends failed as a load at start would (its directory must change before a retry)."""
        version, path, started = status.version, status.path, time.monotonic()
        if model.versions.get(version) is not status:  # unloaded since the request chose it
            raise Unavailable(f"Model {name} is changing versions; retry the request")
        try:
            servable = self._loader(name, version, local_copy(path))
        except LoadError as exc:
            log.error("model %s version %d failed to load from %s: %s", name, version, path,
                      " ".join(exc.message.split()))
            with self._lock:
                if model.versions.get(version) is status:
                    model.set_status(version, VersionStatus(version, path, END, exc.code,
                                                            exc.message,
                                                            fingerprint=fingerprint(path)))
            metrics.observe_load(name, str(version), time.monotonic() - started, END)
            raise Unavailable(f"Model {name} version {version} failed to load: "
                              f"{exc.message}") from None
        metrics.observe_load(name, str(version), time.monotonic() - started, AVAILABLE)
        return servable

    def _load_now(self, name: str, model: ModelState, version: int) -> bool:
        """Make a registered version resident (pin, admin load, hot reload); False when it
        cannot be now (logged): it stays registered and loads on its next request."""
        status = model.versions.get(version)
        if status is None or status.state != AVAILABLE:
            return False
        try:
            self._fetch(name, model, status).release()
            return True
        except ServingError as exc:
            log.warning("model %s version %d not loaded now: %s", name, version, exc.message)
            return False

    def load_now(self, name: str) -> list[int]:
        """Every AVAILABLE version of the model made resident (an admin load or pin); the
        versions that could not be (the last failure is raised when none could)."""
        model = self._model(name)
        failed = []
        for version in sorted(model.available(), reverse=True):
            status = model.versions.get(version)
            try:
                self._fetch(name, model, status).release()
            except ServingError:
                failed.append(version)
                if len(failed) == len(model.available()):
                    raise
        return failed

    def unload_now(self, name: str) -> int:
        """Every resident version of the model unloaded (an admin unload); they stay
        registered, AVAILABLE, and load again on their next request."""
        self._model(name)
        return self.residency.unload(name)

    def signatures_on_disk(self, name: str, version: int | None, label: str | None):
        """(version, SignatureDefMap) read from the files of a registered version that is
        not in memory, or None: the loaded version answers (or a load must)."""
        model = self._models.get(name)
        if self.residency is None or model is None:
            return None
        status = model.pick(version, label)
        if self.residency.resident_bytes((name, status.version)) is not None:
            return None
        proto = signatures.signature_def_map(local_copy(status.path), self.saved_model_tags)
        return None if proto is None else (status.version, proto)

    def loaded(self, name: str, status: VersionStatus):
        """The version's servable if it is in memory now (no lease: to look at, not run)."""
        if self.residency is None:
            return status.servable
        return self.residency.peek((name, status.version))

    def resident_bytes(self, name: str, version: int) -> int | None:
        """Measured size of a loaded version under a budget; None when not loaded (or no
        budget: then every AVAILABLE version is loaded)."""
        return self.residency.resident_bytes((name, version)) if self.residency else None

    def _load(self, name: str, model: ModelState, version: int, path: str, print_: tuple) -> None:
        with self._lock:
            model.set_status(version, VersionStatus(version, path, LOADING))
        started = time.monotonic()
        try:
            servable = self._loader(name, version, local_copy(path))  # remote: a checked copy
        except LoadError as exc:
            log.error("model %s version %d failed to load from %s: %s", name, version, path,
                      " ".join(exc.message.split()))  # one line, whatever TF wrote
            with self._lock:
                model.set_status(version, VersionStatus(version, path, END, exc.code,
                                                        exc.message, fingerprint=print_))
            metrics.observe_load(name, str(version), time.monotonic() - started, END)
            return
        elapsed = time.monotonic() - started
        with self._lock:
            if self._models.get(name) is not model:  # removed from the config while loading
                model.set_status(version, VersionStatus(version, path, END))
                self._unloader.retire(servable)
                return
            model.set_status(version, VersionStatus(version, path, AVAILABLE, servable=servable,
                                                    load_seconds=elapsed))
        metrics.observe_load(name, str(version), elapsed, AVAILABLE)
        log.info("model %s version %d AVAILABLE (loaded in %.2fs)", name, version, elapsed)

    def _unload(self, model: ModelState, status: VersionStatus) -> None:
        model.set_status(status.version, dataclasses.replace(status, state=UNLOADING))
        model.set_status(status.version, dataclasses.replace(status, state=END, servable=None))
        log.info("model %s version %d unloaded", model.config.name, status.version)
        if self.residency is not None:  # its servable, if loaded, is the residency's
            self.residency.forget((model.config.name, status.version))
        else:
            self._unloader.retire(status.servable)  # closed once no request holds it

    def _unload_all(self, model: ModelState) -> None:
        for status in list(model.versions.values()):
            if status.servable is not None or (self.residency is not None
                                               and status.state == AVAILABLE):
                self._unload(model, status)

    def close(self) -> None:
        for hook in self._on_close:
            hook()
        with self._lock:
            for model in self._models.values():
                self._unload_all(model)
        self._unloader.close_all()

    # -- reads ------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return sorted(self._models)

    def knows(self, name: str) -> bool:
        """Whether `name` is configured (once per request: no list is built)."""
        return name in self._models

    def summary(self) -> str:
        """One line for the log: how many models and versions serve, and which failed."""
        models = list(self._models.values())
        serving = [m for m in models if m.available()]
        versions = sum(len(m.available()) for m in serving)
        failed = sorted(m.config.name for m in models
                        if not m.available() and any(s.failed for s in m.versions.values()))
        waiting = sorted(m.config.name for m in models if not m.available()
                         and m.config.name not in failed)
        text = (f"{len(serving)} of {len(models)} models serving, {versions} "
                f"version{'s' * (versions != 1)} AVAILABLE")
        if failed:
            text += f"; failed to load: {', '.join(failed)}"
        if waiting:
            text += f"; no version yet: {', '.join(waiting)}"
        return text

    def resolve(self, name: str, version: int | None = None, label: str | None = None):
        """The servable for a request: a version, a label, a route, or the newest AVAILABLE."""
        model = self._models.get(name)
        if model is None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return model.servable(version, label)

    def acquire(self, name: str, version: int | None = None, label: str | None = None,
                timeout: float | None = None):
        """`resolve`, with a lease taken on the servable; the caller must `release()` it.

        A version retired between the lookup and the lease refuses it; by then it has left
        the tables, so the next lookup finds its successor."""
        for _ in range(100):
            model = self._models.get(name)
            if model is None:
                raise NotFound(f"Servable not found for request: Latest({name})")
            status = model.pick(version, label)
            if self.residency is not None:
                return self._fetch(name, model, status, timeout)
            if status.servable.acquire():
                return status.servable
        raise Unavailable(f"Model {name} is changing versions; retry the request")

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Every tracked version of a model, newest first (TF Serving's GetModelStatus); a
        removed model's versions too, in END."""
        model = self._models.get(name) or self._removed.get(name)
        if model is None or not model.versions:
            why = self._unreadable.get(name)  # e.g. a bucket refusing our key: say so
            raise NotFound(f"Could not find any versions of model {name}"
                           + (f" ({why})" if why else ""))
        if version is not None:
            if version not in model.versions:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [model.versions[version]]
        return [model.versions[v] for v in sorted(model.versions, reverse=True)]

    def config(self, name: str):
        return self._model(name).config

    def labels(self, name: str) -> tuple[dict[str, int], str]:
        """(labels in effect, why the configured ones were refused or "")."""
        model = self._model(name)
        return dict(model.labels), model.label_error

    def route(self, name: str) -> Route | None:
        return self._model(name).route

    def available(self, name: str) -> set[int]:
        return self._model(name).available()

    def require_available(self, name: str, versions: set[int], request: str | None = None) -> None:
        model = self._model(name)
        model.require_available(versions, *([request] if request else []))

    def _model(self, name: str) -> ModelState:
        model = self._models.get(name)
        if model is None:
            raise NotFound(f"Could not find model {name}")
        return model
