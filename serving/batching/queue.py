"""The batcher's queue: one record per request, a bound, a blocking `get`, and `close`.

queue.Queue would do, except that closing it must wake every waiting thread even when it is
full (Python 3.11 has no Queue.shutdown), so this is the same idea in a few lines.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from concurrent.futures import Future
from typing import Mapping

import numpy as np

CLOSED = object()  # what `get` returns once the queue is closed and empty


@dataclasses.dataclass(eq=False)
class Task:
    """One request (or one chunk of a split request) waiting for its batch."""

    feeds: Mapping[str, np.ndarray]
    rows: int
    future: Future
    enqueued: float                       # time.monotonic() at submit
    deadline: float                       # monotonic; past it the request is answered 504
    key: tuple = ()                       # what batch-mates must share (non-batch dims, dtypes)
    exchange: object = None               # the request's serving.observe record, if any
    recorded: bool = True                 # False for warmup's replays: not in the metrics


class TaskQueue:
    """FIFO of tasks with a capacity; `put` never blocks (a full queue is the caller's 503)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: collections.deque[Task] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, task: Task) -> bool:
        """False when full; raises RuntimeError once closed."""
        with self._ready:
            if self.closed:
                raise RuntimeError("queue closed")
            if len(self._items) >= self.capacity:
                return False
            self._items.append(task)
            self._ready.notify()
            return True

    def get(self, timeout: float | None = None):
        """The oldest task; None when `timeout` passes first; CLOSED once closed and drained."""
        with self._ready:
            if not self._items and not self.closed:
                if timeout is None:
                    while not self._items and not self.closed:
                        self._ready.wait()
                elif timeout > 0:
                    end = time.monotonic() + timeout
                    while not self._items and not self.closed:
                        remaining = end - time.monotonic()
                        if remaining <= 0 or not self._ready.wait(remaining):
                            break
            if self._items:
                return self._items.popleft()
            return CLOSED if self.closed else None

    def close(self, take_all: bool = False) -> list[Task]:
        """Refuse new tasks and wake every waiter; `take_all` also empties the queue."""
        with self._ready:
            self.closed = True
            taken = list(self._items) if take_all else []
            if take_all:
                self._items.clear()
            self._ready.notify_all()
            return taken
