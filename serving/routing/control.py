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
import time

from google.protobuf import json_format, text_format
from tensorflow_serving.config import model_server_config_pb2

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
from serving.routing import reload as tf_reload
from serving.routing import store as routing_store
from serving.routing.acks import CONFIG, NONE, STATE, Acks, record_text
from serving.routing.acks import folder as acks_folder
from serving.routing import resident, unloading

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[a-zA-Z0-9_]+")


RELOAD_WAIT = 120.0  # longest a reload waits without a client deadline (TF Serving: forever)


def _digest_of(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return digest(handle.read())
    except OSError:
        return None


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
        self._reloading = threading.Lock()  # one HandleReloadConfigRequest at a time, as TF's
        manager.allow_unavailable_labels = settings.allow_version_labels_for_unavailable_models
        # What each watched file held when last seen (a digest of its bytes; None: absent),
        # and which config (file, digest) the models were last configured from: at first the
        # snapshot the worker's models were configured from.
        self._seen: dict[str, str | None] = {}
        self._applied: tuple[str, str | None] | None = None
        if self._flag_config_file and self._snapshot.file_digest is not None:
            self._seen[self._flag_config_file] = self._snapshot.file_digest
            self._applied = (self._flag_config_file, self._snapshot.file_digest)
        self.acks = Acks(acks_folder(settings))
        self._state: dict = {"models": {}}

    @property
    def config_file(self) -> str:
        """The config the models come from: one a reload replaced at run time while there is
        one (until --model_config_file changes under polling), else --model_config_file."""
        if os.path.exists(self.reload_file):
            return self.reload_file
        return self._flag_config_file

    # -- disk → this worker -------------------------------------------------------------------
    def refresh(self, watch_config: bool = True, force: bool = False,
                rescan: bool = True) -> bool:
        """Apply the config and state files if they changed; True when something did.

        `rescan`: without a config file, look for model folders added or removed since the
        snapshot (the file-system poll); otherwise the snapshot's models stay."""
        with self._lock:
            changed = self._read_state(force)
            changed = self._read_config(watch_config, force, rescan) or changed
            for name in self.manager.model_names():
                self.manager.set_route(name, self._route(name))
                if changed:  # labels read from the disk take effect now, not at the next scan
                    self.manager.commit_labels(name)
            # Models unloaded through the Open Inference Protocol's repository API.
            changed = unloading.apply(self.manager, self._state) or changed
            # Pins, loads and unloads under --model_memory_budget.
            resident.apply(self.manager, self._state, self.settings.pinned())
            return changed

    def _changed(self, path: str, force: bool) -> bool:
        now = _digest_of(path)
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

    def _read_config(self, watch_config: bool, force: bool, rescan: bool) -> bool:
        """The reload file is read on every call (it is how a reload reaches every worker);
        --model_config_file when `watch_config`: a change to it ends an older reload."""
        flag = self._flag_config_file
        if flag and watch_config and self._changed(flag, False):
            self._end_reload_older_than(flag)
        source = self.config_file
        if not source:
            return self._configure_from_settings(rescan)
        if source == flag and not force:
            now = self._seen.get(flag)  # digested just above, or not polled: not read again
        else:
            now = _digest_of(source)
        if not force and self._applied == (source, now):
            return False
        self._applied = (source, now)
        try:
            config = read_model_config(source)
        except ConfigError as exc:
            self.config_error = str(exc)  # TF Serving: logged, and the old config stays
            log.error("model config not reloaded: %s", exc)
            return False
        self.config_error = ""
        self.manager.configure(config.model_config_list)
        return True

    def _end_reload_older_than(self, flag: str) -> None:
        with routing_store.locked(self.reload_file):
            try:
                if os.path.getmtime(self.reload_file) <= os.path.getmtime(flag):
                    os.remove(self.reload_file)
                    log.info("%s changed: the config a reload set (%s) is replaced by it",
                             flag, self.reload_file)
            except OSError:
                pass  # no reload, or another worker ended it first

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

    # Under --model_memory_budget: decided from the state file under its lock, as above.
    def set_resident(self, name: str, pinned: bool) -> None:
        """Pin a model in memory in every worker (loaded now, never unloaded to make room),
        or let it go back to the least-recently-used order."""
        self._residency_for(name)
        flag = name in self.settings.pinned()

        def change(data):
            entry = data["models"].setdefault(name, {})
            if pinned == flag:
                entry.pop(resident.PIN, None)
            else:
                entry[resident.PIN] = pinned
        self._write_state(change)

    def load_model(self, name: str) -> None:
        """Load a model now, in every worker; it answers once this worker has loaded it
        (ModelDoesNotFit when it cannot fit)."""
        self._residency_for(name)
        self._write_state(lambda data: resident.ask(data["models"].setdefault(name, {}),
                                                    resident.LOAD))
        self.manager.load_now(name)  # this worker's error, if any, is the answer's

    def unload_model(self, name: str) -> None:
        """Unload a model now, in every worker (requests in flight finish first); it stays
        registered and loads again on its next request. A pinned model is refused."""
        self._residency_for(name)

        def change(data):
            if name in resident.pinned_names(data, self.settings.pinned()):
                raise FailedPrecondition(f"Model {name} is pinned in memory; unpin it first "
                                         f"(DELETE /v1/admin/models/{name}/resident)")
            resident.ask(data["models"].setdefault(name, {}), resident.UNLOAD)
        self._write_state(change)

    def _residency_for(self, name: str):
        self.manager.config(name)  # NotFound for an unknown model
        if self.manager.residency is None:
            raise FailedPrecondition("This server has no memory budget: every model is loaded "
                                     "(start it with --model_memory_budget to load, unload "
                                     "and pin at run time)")
        return self.manager.residency

    def reload_config(self, config, timeout: float | None = None) -> None:
        """TF Serving's HandleReloadConfigRequest: the model_config_list replaces the running
        one in every worker of this server (checked against, and written to, the disk under
        its lock). Returns once this worker has loaded the models it adds (UNKNOWN for those
        that did not load in `timeout` seconds) and the other workers have applied it."""
        if config.WhichOneof("config") != "model_config_list":
            raise InvalidArgument("ServerModelConfig type not supported by "
                                  "HandleReloadConfigRequest. Only ModelConfigList is "
                                  "currently supported")
        deadline = time.monotonic() + (RELOAD_WAIT if timeout is None else
                                       max(0.0, min(timeout - 0.5, RELOAD_WAIT)))
        models = config.model_config_list.config
        os.makedirs(os.path.dirname(self.reload_file), exist_ok=True)
        with self._reloading:
            with routing_store.locked(self.reload_file):
                running = {m.name: m for m in self._config_on_disk().config}
                tf_reload.check(models, running, self._available,
                                self.settings.allow_version_labels_for_unavailable_models)
                try:  # our own checks on a config file (names, policies), with their messages
                    parse_model_config(text_format.MessageToString(config),
                                       origin="the reload request")
                except ConfigError as exc:
                    raise InvalidArgument(str(exc)) from None
                write_model_config(self.reload_file, config)
            log.info("config reloaded (%s): %s", self.reload_file,
                     ", ".join(f"{m.name} from {m.base_path}" for m in models) or "no models")
            self.refresh(force=True)
            failed = self._await_models([m.name for m in models if m.name not in running],
                                        deadline)
            self.acknowledge()  # every model synced (_await_models)
            self.await_workers(deadline, CONFIG)
        if failed:
            raise ServingError(f"{len(failed)} model(s) did not become available: "
                               f"{{{''.join(failed)}}}")

    def acknowledge(self) -> None:
        """Record which reloaded config and routing state this worker has applied, its models
        synced to them, for the worker answering a change: the poller calls it after each
        tick (after its sync)."""
        self.acks.record(self._applied_text())

    def behind(self) -> bool:
        """Whether this worker read a change (here, or in a thread that wrote it) that it has
        not acknowledged: its poller syncs before acknowledging it."""
        return self.acks.mine != self._applied_text()

    def await_workers(self, deadline: float, what: int = STATE) -> None:
        """Until every other worker has applied what the disk says now (the reloaded config,
        or the routing state), or the deadline: a change answered after this is seen by a
        request to any worker. (Other workers only: this one applied it before asking.)"""
        path = self.reload_file if what == CONFIG else self.state_file

        def on_disk() -> str:
            return _digest_of(path) or NONE
        self.acks.wait(what, on_disk(), on_disk, deadline)

    def _applied_text(self) -> str:
        config = self._applied[1] if self._applied and self._applied[0] == self.reload_file \
            else None
        return record_text(config, self._seen.get(self.state_file))

    def _available(self, name: str) -> set[int]:
        return self.manager.available(name) if self.manager.knows(name) else set()

    def _config_on_disk(self):
        """The model_config_list now in force, as the disk says (this worker's, from flags)."""
        source = self.config_file
        if source:
            try:
                return read_model_config(source).model_config_list
            except ConfigError:
                pass  # a config that does not parse is not in force: this worker's is
        running = model_server_config_pb2.ModelConfigList()
        running.config.extend(self.manager.config(n) for n in self.manager.model_names())
        return running

    def _await_models(self, names: list[str], deadline: float) -> list[str]:
        """Load, and rescan (as TF Serving's source polls) until each added model has an
        AVAILABLE version or its versions failed, or the deadline: TF Serving's text for
        each model that did not load."""
        while True:
            self.manager.sync_all()
            waiting, failed = [], []
            for name in names:
                if not self.manager.knows(name):
                    continue  # a newer reload removed it
                try:
                    versions = self.manager.status(name)
                except NotFound:
                    versions = []
                result = tf_reload.outcome(name, versions)
                if result is None:
                    waiting.append(name)
                elif result:
                    failed.append(result)
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        return failed + [tf_reload.never_loaded(n, self.manager.config(n).base_path)
                         for n in waiting]

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
        residency = self.manager.residency
        if residency is not None:  # what this worker holds in memory, and what it measured
            for entry in versions:
                size = self.manager.resident_bytes(name, int(entry["version"]))
                entry["resident"] = size is not None
                entry["resident_bytes"] = size
        policy = json_format.MessageToDict(config.model_version_policy,
                                           preserving_proto_field_name=True)
        return {"name": name, "base_path": config.base_path,
                "model_version_policy": policy or {"latest": {"num_versions": 1}},
                "model_version_status": versions, "labels": labels, "label_error": label_error,
                "default": route.pinned, "split": route.to_json().get("split"),
                **({"pinned_in_memory": self.manager.residency.is_pinned(name)}
                   if self.manager.residency is not None else {})}

    def describe_all(self) -> dict:
        listing = {"models": [self.describe(n) for n in self.manager.model_names()],
                   "config_error": self.config_error, "state_file": self.state_file,
                   "worker_pid": os.getpid()}  # which gunicorn worker answered this listing
        residency = self.manager.residency
        if residency is not None:
            listing["memory"] = {"budget_bytes": residency.budget,
                                 "resident_bytes": residency.used(),
                                 "process_growth_bytes": residency.growth(),
                                 "least_recently_used": [f"{n}/{v}" for n, v in residency.lru()]}
        return listing
