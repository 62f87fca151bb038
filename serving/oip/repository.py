"""Triton's model repository extension over the serving core: the index of every configured
model and version, and unload / load, kept in the routing state file (serving/routing/
unloading.py) so that every worker, and every restarted one, applies them. Under
--model_memory_budget they load into and unload from memory (serving/routing/resident.py):
the model stays registered and ready, and loads again on its next request."""
from __future__ import annotations

import time

from serving.errors import FailedPrecondition, InvalidArgument
from serving.models.state import AVAILABLE, END, LOADING, START, UNLOADING
from serving.routing import store as routing_store
from serving.routing import unloading
from serving.routing.control import RELOAD_WAIT

_STATES = {AVAILABLE: "READY", LOADING: "LOADING", START: "LOADING", UNLOADING: "UNLOADING",
           END: "UNAVAILABLE"}


class Repository:
    def __init__(self, oip):
        self.oip = oip

    def index(self, ready_only: bool = False) -> list[dict]:
        """Every configured model, one entry per version it tracks (READY, LOADING,
        UNLOADING, UNAVAILABLE with the reason), or one without a version when it has none."""
        entries = []
        for name in self.oip.inference.model_names():
            unloaded = unloading.is_unloaded(self.oip.manager, name)
            statuses = self.oip.inference.statuses(name)
            if not statuses:
                entries.append({"name": name, "state": "UNAVAILABLE",
                                "reason": "unloaded" if unloaded else "no version found"})
            for status in sorted(statuses, key=lambda s: s.version):
                state = _STATES.get(status.state, "UNKNOWN")
                reason = status.error_message or ("unloaded" if unloaded and state ==
                                                  "UNAVAILABLE" else "")
                if state == "READY" and self._on_demand(name, status.version):
                    reason = "not in memory: loads on its first request"
                entries.append({"name": name, "version": str(status.version), "state": state,
                                "reason": reason})
        if ready_only:
            entries = [e for e in entries if e["state"] == "READY"]
        return entries

    def load(self, name: str, parameters: dict | None = None) -> None:
        """Load (or reload: rescan the base path) a configured model, in every worker; this
        call returns once every worker serves it (as Triton's returns once it is loaded), or
        with this worker's reason when it failed to load here."""
        self._check_parameters(parameters, ("config",), "load")
        self.oip._known(name)
        self._mark(name, False)
        if self.oip.manager.residency is not None:  # a memory budget: load it into memory
            self.oip.core.control.load_model(name)
            return
        self.oip.manager.sync(name)
        self._await_workers()
        if not self.oip._available(name):
            reasons = sorted({s.error_message for s in self.oip.inference.status(name)
                              if s.error_message} if self._tracked(name) else set())
            raise FailedPrecondition(f"failed to load '{name}': no version is available"
                                     + (f": {'; '.join(reasons)}" if reasons else ""))

    def unload(self, name: str, parameters: dict | None = None) -> None:
        """Unload every version of a model, in every worker, before answering; it stays
        known (not ready)."""
        self._check_parameters(parameters, ("unload_dependents",), "unload")
        self.oip._known(name)
        if self.oip.manager.residency is not None:  # a memory budget: out of memory only, it
            self.oip.core.control.unload_model(name)  # loads again on its next request
            return
        self._mark(name, True)
        self.oip.manager.sync(name)
        self._await_workers()

    def _await_workers(self) -> None:
        """The other workers apply the routing state within a second (their pollers); the
        answer waits for them, so no request after it, to any worker, sees the old state."""
        self.oip.core.control.await_workers(time.monotonic() + RELOAD_WAIT)

    def _on_demand(self, name: str, version: int) -> bool:
        manager = self.oip.manager
        return manager.residency is not None and manager.resident_bytes(name, version) is None

    def _tracked(self, name: str) -> bool:
        return bool(self.oip.inference.statuses(name))

    @staticmethod
    def _check_parameters(parameters, known: tuple[str, ...], verb: str) -> None:
        for key in parameters or {}:
            if key.startswith("file:") or key == "config":
                raise InvalidArgument(f"{verb}: the '{key}' parameter is not supported: this "
                                      f"server loads models as its model config says")
            if key not in known:
                raise InvalidArgument(f"{verb}: unknown parameter '{key}'")

    def _mark(self, name: str, unloaded: bool) -> None:
        """Written to the routing state file under its lock, then applied here at once."""
        control = self.oip.core.control

        def change(data):
            entry = data["models"].setdefault(name, {})
            if unloaded:
                entry[unloading.MARK] = True
            else:
                entry.pop(unloading.MARK, None)
        try:
            routing_store.update_state(control.state_file, change)
        except ValueError as exc:
            raise FailedPrecondition(f"the routing state file cannot be changed until it "
                                     f"parses again: {exc}") from None
        control.refresh(force=True)
