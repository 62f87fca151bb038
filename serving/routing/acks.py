"""Which reloaded config each worker of this server has applied: one file per worker (its
pid, holding the config's digest) in the server's run folder. The worker answering a reload
waits for the others' files, so a request to any worker after the answer sees the new config.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

from serving.config.model_config import atomic_write

log = logging.getLogger(__name__)
NONE = "-"  # no reloaded config in force


class Acks:
    def __init__(self, folder: str):
        self.folder = folder
        self.mine: str | None = None

    def record(self, applied: str | None) -> None:
        text = applied or NONE
        if text == self.mine:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            atomic_write(os.path.join(self.folder, str(os.getpid())), text)
            self.mine = text
        except OSError as exc:
            log.warning("cannot record the applied config in %s: %s", self.folder, exc)

    def wait(self, target: str, current, deadline: float) -> None:
        """Until every other live worker recorded `target`, `current()` (the digest on disk)
        moved past it, or the deadline."""
        while target != NONE:
            behind = [pid for pid, text in self._others() if text != target]
            if not behind or current() != target:
                return
            if time.monotonic() >= deadline:
                log.warning("reload answered before worker(s) %s applied it",
                            ", ".join(map(str, behind)))
                return
            time.sleep(0.05)

    def _others(self) -> list[tuple[int, str]]:
        found = []
        try:
            names = os.listdir(self.folder)
        except OSError:
            return found
        for name in names:
            if not name.isdigit() or int(name) == os.getpid():
                continue
            path = os.path.join(self.folder, name)
            if not _sibling(int(name)):
                with contextlib.suppress(OSError):
                    os.remove(path)  # a worker that has gone
                continue
            with contextlib.suppress(OSError):
                with open(path, encoding="utf-8") as handle:
                    found.append((int(name), handle.read()))
        return found


def _sibling(pid: int) -> bool:
    """Whether `pid` is another worker of this server: alive, with the same master."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state, parent = handle.read().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return False
    return state not in ("Z", "X") and int(parent) == os.getppid()
