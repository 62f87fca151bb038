"""Run-time version management: what the admin routes change and what the poller applies.

Every change is written to disk first (serving/routing/store.py) and then applied here; the
other workers apply it when their poller sees the file change. So nothing an operator sets
lives only in one process's memory, and a restart starts from the same state.
"""
from __future__ import annotations

import logging
import os
import re
import threading

from google.protobuf import json_format

from serving.config.model_config import (
    ConfigError,
    config_from_settings,
    digest,
    parse_model_config,
    read_model_config,
    reloaded_config_path,
    snapshot_for,
    write_model_config,
)
from serving.errors import FailedPrecondition, Internal, InvalidArgument, NotFound, ServingError
from serving.models.routes import Route, parse_split, parse_version
from serving.models.state import PIN_REQUEST, SPLIT_REQUEST
from serving.routing import store as routing_store

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[a-zA-Z0-9_]+")


class VersionControl:
    def __init__(self, manager, settings, snapshot=None):
        self.manager = manager
        self.settings = settings
        self._flag_config_file = settings.model_config_file
        self.reload_file = reloaded_config_path(settings)
        self.state_file = routing_store.state_path(settings)
        self.config_error = ""
        self._snapshot = snapshot or snapshot_for(settings)
        self._lock = threading.Lock()
        # What each watched file held when last applied (a digest of its bytes; None: absent).
        # The config file starts as the snapshot the worker's models were configured from.
        self._seen: dict[str, str | None] = {}
        if self.config_file and self._snapshot.file_digest is not None:
            self._seen[self.config_file] = self._snapshot.file_digest
        self._state: dict = {"models": {}}

    @property
    def config_file(self) -> str:
        """--model_config_file; without one, a config replaced at run time once there is one."""
        if self._flag_config_file:
            return self._flag_config_file
        return self.reload_file if os.path.exists(self.reload_file) else ""

    # -- disk → this worker -------------------------------------------------------------------
    def refresh(self, watch_config: bool = True, force: bool = False,
                rescan: bool = True) -> bool:
        """Apply the config and state files if they changed; True when something did.

        `rescan`: without a config file, look for model folders added or removed since the
        snapshot (the file-system poll); otherwise the snapshot's models stay."""
        with self._lock:
            changed = self._read_state(force)
            if self.config_file:
                if watch_config:
                    changed = self._read_config_file(force) or changed
            else:
                changed = self._configure_from_settings(rescan) or changed
            for name in self.manager.model_names():
                self.manager.set_route(name, self._route(name))
                if changed:  # labels read from the disk take effect now, not at the next scan
                    self.manager.commit_labels(name)
            return changed

    def _changed(self, path: str, force: bool) -> bool:
        try:
            with open(path, "rb") as handle:
                now = digest(handle.read())
        except OSError:
            now = None
        if not force and path in self._seen and self._seen[path] == now:
            return False
        self._seen[path] = now
        return True

    def _read_state(self, force: bool) -> bool:
        if not self._changed(self.state_file, force):
            return False
        try:
            self._state = routing_store.read_state(self.state_file)
        except (OSError, ValueError) as exc:
            log.error("routing state %s not applied (the previous one stays): %s",
                      self.state_file, exc)
        return True

    def _read_config_file(self, force: bool) -> bool:
        if not self._changed(self.config_file, force):
            return False
        try:
            config = read_model_config(self.config_file)
        except ConfigError as exc:
            self.config_error = str(exc)  # TF Serving: logged, and the old config stays
            log.error("model config not reloaded: %s", exc)
            return False
        self.config_error = ""
        self.manager.configure(config.model_config_list)
        return True

    def _configure_from_settings(self, rescan: bool) -> bool:
        try:
            config = (config_from_settings(self.settings) if rescan
                      else self._snapshot.model_config()).model_config_list
        except ConfigError as exc:
            log.error("models not rescanned: %s", exc)
            return False
        before = {n: self.manager.config(n) for n in self.manager.model_names()}
        for model in config.config:
            labels = self._state["models"].get(model.name, {}).get("labels") or {}
            try:
                model.version_labels.update({str(k): parse_version(v) for k, v in labels.items()})
            except Exception as exc:  # a hand-edited state file: report, skip its labels
                log.error("labels of %s in %s ignored: %s", model.name, self.state_file, exc)
        self.manager.configure(config)
        return before != {n: self.manager.config(n) for n in self.manager.model_names()}

    def _route(self, name: str) -> Route | None:
        try:
            return Route.from_json(self._state["models"].get(name))
        except Exception as exc:
            log.error("route of %s in %s ignored: %s", name, self.state_file, exc)
            return None

    # -- operator changes: decided from the disk, under its lock, then this worker -----------
    # Each change is a read-modify-write of the file as it is on disk, whichever worker
    # answers: a worker whose poller has not seen the last change yet cannot skip or refuse
    # a change because of what it still holds in memory.
    def pin(self, name: str, version) -> None:
        version = parse_version(version)
        self.manager.require_available(name, {version}, PIN_REQUEST)
        self._write_route(name, Route(pinned=version))

    def set_split(self, name: str, split) -> None:
        route = Route(split=parse_split(split))
        self.manager.require_available(name, route.versions(), SPLIT_REQUEST)
        self._write_route(name, route)

    def clear_route(self, name: str, kind: str) -> None:
        """kind "default" or "split": back to the newest version if the file holds that kind."""
        self.manager.config(name)  # NotFound for an unknown model

        def change(data):
            entry = data["models"].get(name)
            if entry is not None:
                entry.pop(kind, None)
        self._write_state(change)

    def set_label(self, name: str, label: str, version) -> None:
        if not _LABEL.fullmatch(label):
            raise InvalidArgument(f"label {label!r} must match [a-zA-Z0-9_]+ (TF Serving's rule)")
        version = parse_version(version)
        self.manager.require_available(name, {version})
        self._write_labels(name, lambda labels: labels.__setitem__(label, version))
        if self.manager.labels(name)[0].get(label) != version:
            raise FailedPrecondition(self.manager.labels(name)[1])

    def delete_label(self, name: str, label: str) -> None:
        """Deletes a label the file holds, even one this worker has not seen yet."""
        self.manager.config(name)  # NotFound for an unknown model

        def change(labels):
            if label not in labels:
                raise NotFound(f"Model {name} has no label {label}")
            del labels[label]
        self._write_labels(name, change)

    def reload_config(self, config) -> None:
        """TF Serving's HandleReloadConfigRequest: the model_config_list replaces the running
        one, in every worker (it is written where they all read it); this call returns once
        this worker has loaded the models it names, or says which did not load."""
        from google.protobuf import text_format
        if config.WhichOneof("config") != "model_config_list":
            raise InvalidArgument("ServerModelConfig type not supported by "
                                  "HandleReloadConfigRequest. Only ModelConfigList is "
                                  "currently supported")
        seen = set()
        for model in config.model_config_list.config:
            if model.name in seen:
                raise InvalidArgument(f"Illegal to list model {model.name} multiple times in "
                                      f"config list")
            seen.add(model.name)
            if "://" not in model.base_path and not os.path.isabs(model.base_path):
                raise InvalidArgument(f"Expected model {model.name} to have an absolute path or "
                                      f"URI; got base_path()={model.base_path}")
            if self.manager.knows(model.name):
                old = self.manager.config(model.name).model_platform or "tensorflow"
                new = model.model_platform or "tensorflow"
                if old != new:
                    raise InvalidArgument(f"Illegal to change a model's platform. For model "
                                          f"{model.name} platform was {old} and new platform "
                                          f"requested is {new}")
        try:  # our own checks on a config file (platform, policy), with their messages
            parse_model_config(text_format.MessageToString(config), origin="the reload request")
        except ConfigError as exc:
            raise InvalidArgument(str(exc)) from None
        with routing_store.locked(self.reload_file):
            write_model_config(self.reload_file, config)
        self.refresh(force=True)
        self.manager.sync_all()
        for name in sorted(seen):
            error = self.manager.labels(name)[1]
            if error:
                raise FailedPrecondition(error)
        missing = sorted(name for name in seen if not self.manager.available(name))
        if missing:
            raise ServingError(f"{len(missing)} model(s) did not become available: "
                               f"{{{', '.join(missing)}}}")

    def reload(self) -> None:
        """Re-read every file and rescan every base path now, in this worker."""
        self.refresh(watch_config=True, force=True)
        self.manager.sync_all()

    def _write_route(self, name: str, route: Route) -> None:
        def change(data):
            entry = data["models"].setdefault(name, {})
            entry.pop("default", None)
            entry.pop("split", None)
            entry.update(route.to_json())
        self._write_state(change)

    def _write_labels(self, name: str, change) -> None:
        """Writes the change, then refreshes with force: the labels take effect in this worker
        before the call answers (refresh commits them)."""
        if not self.config_file:
            self._write_state(lambda data: change(
                data["models"].setdefault(name, {}).setdefault("labels", {})))
            return
        try:
            routing_store.update_config_labels(self.config_file, name, change)
        except ConfigError as exc:
            raise FailedPrecondition(f"the model config file cannot be changed until it parses "
                                     f"again: {exc}") from None
        except OSError as exc:
            raise Internal(f"cannot save the change to {self.config_file}: {exc}") from None
        self.refresh(force=True)

    def _write_state(self, change) -> None:
        try:
            routing_store.update_state(self.state_file, change)
        except OSError as exc:
            raise Internal(f"cannot save the change to {self.state_file}: {exc}") from None
        except ValueError as exc:  # a hand-edited state file that does not parse
            raise FailedPrecondition(f"the routing state file cannot be changed until it "
                                     f"parses again: {exc}") from None
        self.refresh(force=True)

    # -- what the admin listing shows -----------------------------------------------------------
    def describe(self, name: str) -> dict:
        config = self.manager.config(name)
        labels, label_error = self.manager.labels(name)
        route = self.manager.route(name) or Route()
        try:
            versions = [{"version": str(s.version), "state": s.state,
                         "status": {"error_code": s.error_code, "error_message": s.error_message}}
                        for s in self.manager.status(name)]
        except NotFound:
            versions = []
        policy = json_format.MessageToDict(config.model_version_policy,
                                           preserving_proto_field_name=True)
        return {"name": name, "base_path": config.base_path,
                "model_version_policy": policy or {"latest": {"num_versions": 1}},
                "model_version_status": versions, "labels": labels, "label_error": label_error,
                "default": route.pinned, "split": route.to_json().get("split")}

    def describe_all(self) -> dict:
        return {"models": [self.describe(n) for n in self.manager.model_names()],
                "config_error": self.config_error, "state_file": self.state_file,
                "worker_pid": os.getpid()}  # which gunicorn worker answered this listing
