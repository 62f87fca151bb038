"""What each worker of this server has applied from the disk: one file per worker (its pid,
holding the digests of the reloaded config and of the routing state it has synced its models
to) in the server's run folder. The worker answering a reload, or a repository load or
unload, waits for the others' files, so a request to any worker after the answer sees it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

from serving.config.model_config import atomic_write, run_folder

log = logging.getLogger(__name__)
NONE = "-"  # no reloaded config in force (or no state file)
CONFIG, STATE = 0, 1  # the fields of what a worker records: "<config digest> <state digest>"
BOOTING = "booting booting"  # a worker not serving yet: it applies the disk before it does


def record_text(config: str | None, state: str | None) -> str:
    return f"{config or NONE} {state or NONE}"


def folder(settings) -> str:
    return os.path.join(run_folder(settings), "applied")


def booting(settings) -> None:
    """A starting worker's first record, before it reads the disk: one answering a change
    meanwhile waits for it too (it will apply the change with its poller's first tick)."""
    Acks(folder(settings)).record(BOOTING)


def _field(text: str, field: int) -> str | None:
    parts = text.split()
    return parts[field] if field < len(parts) else None


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

    def wait(self, field: int, target: str, current, deadline: float) -> None:
        """Until every other live worker recorded `target` as its `field` (CONFIG, STATE),
        `current()` (that digest on disk) moved past it, or the deadline."""
        while True:
            behind = [pid for pid, text in self._others()
                      if _field(text, field) != target]
            if not behind or current() != target:
                return
            if time.monotonic() >= deadline:
                log.warning("change answered before worker(s) %s applied it",
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
