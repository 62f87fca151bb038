"""Run-time version management: what the admin routes change and what the poller applies.

Every change is written to disk first (serving/routing_store.py) and then applied here; the
other workers apply it when their poller sees the file change. So nothing an operator sets
lives only in one process's memory, and a restart starts from the same state.
"""
from __future__ import annotations

import logging
import os
import re
import threading

from google.protobuf import json_format

from serving import inference, routing_store
from serving.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from serving.model_config import ConfigError, config_from_settings, read_model_config
from serving.routing import Route, parse_split, parse_version

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[a-zA-Z0-9_]+")


class VersionControl:
    def __init__(self, manager, settings):
        self.manager = manager
        self.settings = settings
        self.config_file = settings.model_config_file
        self.state_file = routing_store.state_path(settings)
        self.config_error = ""
        self._lock = threading.Lock()
        self._seen: dict[str, tuple | None | object] = {}
        self._state: dict = {"models": {}}

    # -- disk → this worker -------------------------------------------------------------------
    def refresh(self, watch_config: bool = True, force: bool = False) -> bool:
        """Apply the config and state files if they changed; True when something did."""
        with self._lock:
            changed = self._read_state(force)
            if self.config_file:
                if watch_config:
                    changed = self._read_config_file(force) or changed
            else:  # models_dir is rescanned: a new model folder is a new model
                changed = self._configure_from_settings() or changed
            for name in self.manager.model_names():
                self.manager.set_route(name, self._route(name))
            return changed

    def _changed(self, path: str, force: bool) -> bool:
        now = routing_store.signature(path)
        if not force and self._seen.get(path, object()) == now:
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

    def _configure_from_settings(self) -> bool:
        try:
            config = config_from_settings(self.settings).model_config_list
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

    # -- operator changes: disk first, then this worker ---------------------------------------
    def pin(self, name: str, version) -> None:
        route = Route(pinned=parse_version(version))
        self.manager.require_available(name, route.versions())
        self._write_route(name, route)

    def set_split(self, name: str, split) -> None:
        route = Route(split=parse_split(split))
        self.manager.require_available(name, route.versions())
        self._write_route(name, route)

    def clear_route(self, name: str, kind: str) -> None:
        """kind "default" or "split": back to the newest version if that kind is in effect."""
        self.manager.config(name)  # NotFound for an unknown model
        current = self.manager.route(name)
        if current is not None and kind in current.to_json():
            self._write_route(name, None)

    def set_label(self, name: str, label: str, version) -> None:
        if not _LABEL.fullmatch(label):
            raise InvalidArgument(f"label {label!r} must match [a-zA-Z0-9_]+ (TF Serving's rule)")
        version = parse_version(version)
        self.manager.require_available(name, {version})
        self._write_labels(name, lambda labels: labels.__setitem__(label, version))
        self.manager.commit_labels(name)
        if self.manager.labels(name)[0].get(label) != version:
            raise FailedPrecondition(self.manager.labels(name)[1])

    def delete_label(self, name: str, label: str) -> None:
        if label not in self.manager.config(name).version_labels:
            raise NotFound(f"Model {name} has no label {label}")
        self._write_labels(name, lambda labels: labels.pop(label, None))
        self.manager.commit_labels(name)

    def reload(self) -> None:
        """Re-read every file and rescan every base path now, in this worker."""
        self.refresh(watch_config=True, force=True)
        self.manager.sync_all()

    def _write_route(self, name: str, route: Route | None) -> None:
        def change(data):
            entry = data["models"].setdefault(name, {})
            entry.pop("default", None)
            entry.pop("split", None)
            entry.update(route.to_json() if route else {})
        self._write_state(change)

    def _write_labels(self, name: str, change) -> None:
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
        except (OSError, ValueError) as exc:
            raise Internal(f"cannot save the change to {self.state_file}: {exc}") from None
        self.refresh(force=True)

    # -- what the admin listing shows -----------------------------------------------------------
    def describe(self, name: str) -> dict:
        config = self.manager.config(name)
        labels, label_error = self.manager.labels(name)
        route = self.manager.route(name) or Route()
        try:
            versions = inference.status_payload(self.manager, name, None)["model_version_status"]
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
