"""The per-worker thread that keeps a worker in step with the disk: base paths, config, state.

Every `file_system_poll_wait_seconds` it rescans the base paths (new versions load here, off
the request path); every `model_config_file_poll_wait_seconds` it re-reads the config file.
The routing state and a reloaded config are checked every second whatever those say (with
the admin routes on, the config file too): they are how a change made through one worker
reaches the others. After each change it records what it applied (control.acknowledge).
"""
from __future__ import annotations

import logging
import threading
import time

from serving.routing.control import VersionControl

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, control: VersionControl, settings):
        self.control = control
        self.manager = control.manager
        self.scan_every = settings.file_system_poll_wait_seconds
        self.config_every = settings.model_config_file_poll_wait_seconds
        self.admin = bool(settings.admin_token)
        # A change through one worker (a reload over gRPC, an admin route, the Open Inference
        # Protocol's repository load or unload, always on) reaches the others through the
        # files: look every second, whatever the polls say.
        self.tick = min([s for s in (self.scan_every, self.config_every) if s > 0] + [1.0])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prime(self) -> None:
        """Before the first request: apply the routing state and load what labels need.

        The models stay those of the master's snapshot; only a poll moves past it."""
        if self.control.refresh(watch_config=self.admin or self.config_every > 0, rescan=False):
            self.manager.sync_all()
        self.control.acknowledge()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="version-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_scan = next_config = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            watch_config = self.admin or (self.config_every > 0 and now >= next_config)
            scan = self.scan_every > 0 and now >= next_scan
            if watch_config:
                next_config = now + self.config_every
            if scan:
                next_scan = now + self.scan_every
            try:
                # A changed config or state may name new models or versions: scan then too,
                # and when a request thread read a change this worker has not synced to yet.
                if self.control.refresh(watch_config, rescan=scan) or scan \
                        or self.control.behind():
                    self.manager.sync_all()
                self.control.acknowledge()
            except Exception:  # the poller must outlive any one bad scan
                log.exception("version poll failed; trying again in %.1fs", self.tick)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


def start_polling(manager, settings, snapshot=None) -> VersionControl:
    """Called by create_app() in each worker, after the fork and after the first load."""
    control = VersionControl(manager, settings, snapshot)
    poller = Poller(control, settings)
    poller.prime()
    poller.start()
    manager.on_close(poller.stop)
    return control
