"""How many batches of one queue run at once: `num_batch_threads`, inline runs included.

A request that finds its batcher idle runs in its own thread (an inline run); a batch thread
that has a batch's first request in hand waits here for a free slot, and the requests that
arrive meanwhile queue up and join that batch.
"""
from __future__ import annotations

import threading
from typing import Callable


class RunSlots:
    def __init__(self, size: int):
        self.size = size
        self._changed = threading.Condition()
        self.inline = 0          # inline runs (at most one: only an idle batcher allows one)
        self.executing = 0       # batch threads running a batch
        self.claiming = False    # a batch thread holds a first request and waits for a slot

    def running(self) -> int:
        return self.inline + self.executing

    def claim_inline(self, nothing_waiting: Callable[[], bool]) -> bool:
        """The slot for an inline run, only when nothing runs and `nothing_waiting()`."""
        def idle():
            return not (self.inline or self.executing or self.claiming) and nothing_waiting()
        if not idle():  # cheap look first: under load the answer is almost always no
            return False
        with self._changed:
            if not idle():
                return False
            self.inline = 1
            return True

    def claim(self) -> None:
        """Block until a slot is free (an inline run may hold the last one), then take it."""
        with self._changed:
            self.claiming = True
            while self.running() >= self.size:
                self._changed.wait()
            self.executing += 1
            self.claiming = False

    def free(self, inline: bool) -> None:
        with self._changed:
            if inline:
                self.inline -= 1
            else:
                self.executing -= 1
            self._changed.notify_all()
