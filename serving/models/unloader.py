"""Closes unloaded versions once no request still holds them.

A request takes a lease on a servable before it runs it (serving/models/servable.py);
unloading must not close the session under it. The manager drops a version from its tables
first, then retires it: no new lease is granted, and once the leases held have been returned
the version is closed. One still leased past the request deadline is closed anyway, with a
warning (a request cannot legitimately take longer).
"""
from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)


class Unloader:
    def __init__(self, deadline_seconds: float = 30.0, check_seconds: float = 0.05):
        self._deadline = deadline_seconds
        self._check = check_seconds
        self._pending: list[list] = []                      # [servable, close-by time]
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._stopping = False

    def retire(self, servable) -> None:
        servable.retire()
        with self._cond:
            self._pending.append([servable, time.monotonic() + self._deadline])
            if self._thread is None:  # started lazily: only ever after gunicorn's fork
                self._thread = threading.Thread(target=self._run, name="unloader", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                due = self._take_due()
                self._closing = bool(due)
            try:
                if due:
                    self._close(due)
                else:
                    time.sleep(self._check)
            except Exception:  # this thread must outlive any one bad close
                log.exception("unloader round failed")
            finally:
                self._closing = False

    def _take_due(self) -> list:
        now, due, keep = time.monotonic(), [], []
        for entry in self._pending:
            if entry[0].idle():
                due.append(entry[0])
            elif now >= entry[1]:
                log.warning("closing %s version %s while something still holds it",
                            getattr(entry[0], "name", "?"), getattr(entry[0], "version", "?"))
                due.append(entry[0])
            else:
                keep.append(entry)
        self._pending = keep
        return due

    def _close(self, servables: list) -> None:
        while servables:
            close_one(servables.pop())  # no name in this frame may keep the last one alive
        refreeze()

    def close_all(self) -> None:
        """Shutdown: close everything now, in flight or not, and stop the thread.

        The thread is joined first: one left closing a session while the interpreter exits
        is killed inside TensorFlow's C++ code, which aborts the process (SIGABRT).
        """
        with self._cond:
            due, self._pending = [entry[0] for entry in self._pending], []
            self._stopping, thread = True, self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._deadline)
        with self._cond:
            self._thread, self._stopping = None, False  # a later retire starts a new one
        self._close(due)

    def idle(self) -> bool:
        """Nothing waiting to be closed and nothing being closed."""
        return not self._pending and not self._closing


def close_one(servable) -> None:
    name, version = getattr(servable, "name", "?"), getattr(servable, "version", "?")
    try:
        servable.close()
    except Exception:  # one bad close must not stop the others
        log.exception("closing %s version %s failed", name, version)
    else:
        log.info("model %s version %s closed", name, version)


_freezes = [0]  # how many times gc.freeze() has run in this process


def freezes() -> int:
    """Changes whenever the heap is frozen again: a version loaded before the last change is
    frozen, and only a refreeze collects it (serving/models/residency.py)."""
    return _freezes[0]


def freeze() -> None:
    gc.collect()
    gc.freeze()
    _freezes[0] += 1


def refreeze() -> None:
    """Collect a dropped graph's Python objects even though core.start() froze the heap.

    gc.freeze() hides frozen objects from every collection, so a version loaded at start and
    unloaded later would leak its graph's reference cycles. One full collection per version
    change is cheap next to a load; the survivors are frozen again.
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        freeze()
    else:
        gc.collect()
