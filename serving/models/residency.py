"""Which loaded versions one worker keeps in memory under --model_memory_budget.

A version loads on its first request, once however many requests wait for it (single flight),
at most `max_concurrent_loads` at a time. To make room, the least recently used versions are
unloaded first, never one a request holds (its lease) nor one of a pinned model; the requests
that waited for a load get their leases before anyone else can evict it, so a version just
loaded serves them first. A version's size is measured around its load and warmup: the
growth of the process's resident memory or of malloc's bytes in use, whichever is larger
(a load that reuses heap an unload freed grows the resident set less than it takes), never
less than its files nor than its last measurement; the files' size (times what earlier
loads measured) is the estimate a load makes room for before it runs. Freed memory goes back
to the OS after an unload (malloc_trim, and glibc's mmap threshold held where big blocks,
tensors, come from mmap: `keep_big_blocks_returnable`).
"""
from __future__ import annotations

import copy
import ctypes
import dataclasses
import gc
import logging
import os
import threading
import time
from typing import Callable

from serving import metrics
from serving.errors import ModelDoesNotFit, ServingError, Unavailable

log = logging.getLogger(__name__)
Key = tuple  # (model name, version)


def resident_memory() -> int:
    """This process's resident set (what VmRSS says), from /proc/self/statm: cheap."""
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(field, ctypes.c_size_t) for field in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _libc(name: str, argtypes: list, restype):
    """glibc's `name`, typed; None where there is none (musl, an older glibc, jemalloc)."""
    try:
        function = getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, restype
    return function


_mallinfo2 = _libc("mallinfo2", [], _MallInfo2)  # glibc 2.33+


def heap_in_use() -> int:
    """Bytes malloc has handed out and not had back, in every arena and mmap (0: unknown)."""
    if _mallinfo2 is None:
        return 0
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


_malloc_trim = _libc("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
_mallopt = _libc("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)


def _trim() -> None:
    if _malloc_trim is not None:
        _malloc_trim(0)


def keep_big_blocks_returnable() -> None:
    """glibc serves a block above its mmap threshold with its own mmap, handed back to the OS
    on free; but each such free raises the threshold (up to 32 MiB), so a model's tensors
    later come from the heap, which unloads fragment and trimming cannot return. Fixing the
    threshold at its 128 KiB default keeps an unloaded model's memory returnable."""
    if _mallopt is not None:
        _mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def release_memory(refrozen: bool = False) -> None:
    """After a close: collect the graph's reference cycles, then hand freed heap back to the
    OS (glibc keeps it otherwise, and the next load's measurement would read low)."""
    if refrozen:  # loaded before a gc.freeze(): only a refreeze can collect it
        from serving.models.unloader import refreeze
        refreeze()
    else:
        gc.collect()
    _trim()


def human(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


@dataclasses.dataclass(eq=False)
class _Entry:
    servable: object
    size: int
    used: int                      # the LRU clock when a request last took it
    frozen_epoch: int              # unloader.freezes() when it loaded


@dataclasses.dataclass(eq=False)
class _Flight:
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    waiters: int = 0               # requests that will get a lease when it is done
    servable: object = None
    error: ServingError | None = None
    forgotten: bool = False        # the version was unloaded while it loaded


class Residency:
    """One worker's resident versions, keyed (name, version). `discard(servable)` retires a
    version that requests may still hold (the manager's unloader closes it when they end)."""

    def __init__(self, budget: int, pinned=frozenset(), max_concurrent_loads: int = 1,
                 load_timeout: float = 60.0, discard: Callable[[object], None] | None = None,
                 memory: Callable[[], int] = resident_memory,
                 release: Callable[[bool], None] = release_memory,
                 heap: Callable[[], int] | None = None):
        self.budget = budget
        self.load_timeout = load_timeout
        self._pinned = frozenset(pinned)
        self.discard = discard or (lambda servable: servable.retire())
        self._memory, self._release = memory, release
        # A load reuses the heap an unload freed (glibc keeps some despite the trim), so the
        # resident set grows less than the model takes; malloc's count of bytes in use does
        # not (digits copies: 3.5 MiB each, where the resident delta drifts to 2.1 MiB).
        self._heap = heap or (heap_in_use if memory is resident_memory else (lambda: 0))
        # The process before any model: the admin listing shows what it grew past this.
        if memory is resident_memory:  # the real process, not a test's stand-in
            keep_big_blocks_returnable()
        self._floor = memory()
        self._entries: dict[Key, _Entry] = {}
        self._flights: dict[Key, _Flight] = {}
        self._measured: dict[Key, int] = {}  # last measured size: the next load's estimate
        self._overheads: list[int] = []      # measured - files' bytes, over recent loads
        self._reserved = 0                   # estimates of loads under way
        self._clock = 0
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_concurrent_loads)
        metrics.set_memory_budget(budget)

    # -- what the manager asks ------------------------------------------------------------------
    def fetch(self, key: Key, load: Callable[[], object], files_bytes: int,
              timeout: float | None = None):
        """The version's servable with a lease taken: at once when resident (a hit), else
        after its load (one per version, whoever asks). ModelDoesNotFit when it cannot fit,
        Unavailable when its load outlasts `timeout`, the load's error when it fails."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.servable.acquire():
                self._clock += 1
                entry.used = self._clock
                flight = None
            else:
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._start(key, load, files_bytes)
                flight.waiters += 1
        if flight is None:
            metrics.cache_hit(key[0])
            return entry.servable
        metrics.cache_miss(key[0])
        started = time.monotonic()
        try:
            return self._wait(key, flight, self.load_timeout if timeout is None
                              else min(timeout, self.load_timeout))
        finally:
            metrics.observe_load_wait(time.monotonic() - started)

    def load(self, key: Key, load: Callable[[], object], files_bytes: int) -> None:
        """Load now (an admin load, a pin) unless resident; no lease is kept."""
        self.fetch(key, load, files_bytes).release()

    def forget(self, key: Key) -> None:
        """The manager unloaded this version (policy, reload, config): drop it from the LRU;
        requests holding it finish first (the discard hook's unloader)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            flight = self._flights.get(key)
            if flight is not None:
                flight.forgotten = True
            self._publish(key[0])
        if entry is not None:
            entry.servable.retire()  # no new lease from now on
            self.discard(entry.servable)

    def unload(self, name: str) -> int:
        """Unload every resident version of a model now (an admin unload): an idle one is
        closed at once, one a request holds once it is returned. How many went."""
        idle, held = [], []
        with self._lock:
            for key in [k for k in self._entries if k[0] == name]:
                entry = self._entries.pop(key)
                (idle if entry.servable.retire_if_idle() else held).append((key, entry))
            self._publish(name)
        for key, entry in held:
            metrics.observe_eviction(name)
            log.info("model %s version %s unloaded once its requests end", *key)
            entry.servable.retire()
            self.discard(entry.servable)
        count = len(idle) + len(held)
        self._close(idle, "asked to")
        return count

    def set_pinned(self, names) -> None:
        with self._lock:
            self._pinned = frozenset(names)

    def is_pinned(self, name: str) -> bool:
        return name in self._pinned

    def resident_bytes(self, key: Key) -> int | None:
        """The version's measured size while it is loaded; None when it is not."""
        entry = self._entries.get(key)
        return entry.size if entry is not None else None

    def peek(self, key: Key):
        """The resident servable, without a lease (to look at its wrapper), or None."""
        entry = self._entries.get(key)
        return entry.servable if entry is not None else None

    def loading(self, key: Key) -> bool:
        return key in self._flights

    def growth(self) -> int:
        """What the process holds past its floor (before any model): what the budget bounds."""
        return self._memory() - self._floor

    def used(self) -> int:
        return sum(e.size for e in list(self._entries.values()))

    def lru(self) -> list[Key]:
        """Resident versions, least recently used first (the eviction order, pins aside)."""
        with self._lock:
            return [k for k, _ in sorted(self._entries.items(), key=lambda i: i[1].used)]

    # -- loads ------------------------------------------------------------------------------------
    def _start(self, key: Key, load, files_bytes: int) -> _Flight:
        """Under the lock: a new flight, run by a thread of its own once one of the
        `max_concurrent_loads` slots is free. A thread per load, not a pool: in a soak of
        ~700 digits loads, RSS with one long-lived load thread ended ~30 MB higher."""
        flight = _Flight()
        self._flights[key] = flight
        threading.Thread(target=self._work, args=(key, flight, load, files_bytes),
                         name=f"load-{key[0]}-{key[1]}", daemon=True).start()
        return flight

    def _work(self, key: Key, flight: _Flight, load, files_bytes: int) -> None:
        with self._slots:
            try:
                self._run(key, flight, load, files_bytes)
            except Exception:  # a bug of ours: its waiters must still wake
                log.exception("loading %s version %s failed", *key)
                if not flight.done.is_set():
                    self._finish(key, flight, None, Unavailable(
                        f"Model {key[0]} version {key[1]} failed to load; see the server log"))

    def _wait(self, key: Key, flight: _Flight, timeout: float):
        flight.done.wait(timeout)
        with self._lock:
            if not flight.done.is_set():
                flight.waiters -= 1  # no lease will be taken for this request
                raise Unavailable(f"Model {key[0]} version {key[1]} is still loading after "
                                  f"{timeout:g}s; retry the request")
        if flight.error is not None:
            raise copy.copy(flight.error)  # one object per waiting thread
        return flight.servable  # its lease was taken for this request when the load ended

    def _estimate(self, key: Key, files_bytes: int) -> int:
        """The version's last measurement; else its files plus what loads cost beyond their
        files lately (the median: the first load also pays TensorFlow's one-time costs), at
        most the whole budget (a guess alone never refuses a model whose files fit)."""
        if key in self._measured:
            return self._measured[key]
        overheads = sorted(self._overheads)
        overhead = overheads[len(overheads) // 2] if overheads else 0
        return max(files_bytes, min(files_bytes + overhead, self.budget))

    def _run(self, key: Key, flight: _Flight, load, files_bytes: int) -> None:
        from serving.models.unloader import freezes
        evicted: list = []
        estimate = self._estimate(key, files_bytes)
        try:
            with self._lock:
                self._make_room(key, estimate, evicted)
                self._reserved += estimate
        except ServingError as exc:
            self._finish(key, flight, None, exc)
            return
        try:
            started = time.monotonic()
            self._close(evicted)
            closed = time.monotonic()
            before, heap_before = self._memory(), self._heap()
            epoch = freezes()
            servable = load()
            size = max(self._memory() - before, self._heap() - heap_before, files_bytes,
                       self._measured.get(key, 0))
            loaded = time.monotonic()
        except ServingError as exc:
            with self._lock:
                self._reserved -= estimate
            self._finish(key, flight, None, exc)
            return
        except Exception as exc:  # the loader's own bug: every waiter must still wake
            log.exception("loading %s version %s failed", *key)
            with self._lock:
                self._reserved -= estimate
            self._finish(key, flight, None, Unavailable(f"Model {key[0]} version {key[1]} "
                                                        f"failed to load: {exc}"))
            return
        metrics.observe_on_demand_load(key[0])
        with self._lock:
            self._overheads = [*self._overheads[-15:], size - files_bytes]
            self._reserved -= estimate
            self._measured[key] = size
            if not flight.forgotten:
                self._clock += 1
                self._entries[key] = _Entry(servable, size, self._clock, epoch)
                self._publish(key[0])
            if size > estimate:  # measured above the estimate: room for the difference
                self._make_room(key, 0, evicted, strict=False)
        self._finish(key, flight, servable, None)
        if flight.forgotten:
            servable.retire()
            self.discard(servable)  # its waiters hold leases: closed once they end
        self._close(evicted)
        log.info("model %s version %s loaded on demand in %.0f ms (%.0f ms making room): %s "
                 "measured; %s of %s in use", key[0], key[1], (loaded - closed) * 1000,
                 (closed - started) * 1000, human(size), human(self.used()),
                 human(self.budget))

    def _finish(self, key: Key, flight: _Flight, servable, error) -> None:
        with self._lock:
            if servable is not None:
                for _ in range(flight.waiters):  # before anyone may evict it: it serves them
                    servable.acquire()
            flight.servable, flight.error = servable, error
            self._flights.pop(key, None)
            flight.done.set()

    # -- room --------------------------------------------------------------------------------
    def _make_room(self, key: Key, need: int, evicted: list, strict: bool = True) -> None:
        """Under the lock: evict least recently used versions (idle, not pinned, not `key`)
        until `need` more bytes fit; ModelDoesNotFit when even all of them would not do."""
        free = self.budget - sum(e.size for e in self._entries.values()) - self._reserved
        if free >= need:
            return
        candidates = sorted(((k, e) for k, e in self._entries.items()
                             if k[0] not in self._pinned and k != key), key=lambda i: i[1].used)
        movable = sum(e.size for _, e in candidates if not e.servable.held())
        if strict and free + movable < need:
            held = self.budget - free - movable - self._reserved
            raise ModelDoesNotFit(
                f"Model {key[0]} version {key[1]} needs about {human(need)} and does not fit "
                f"the memory budget of {human(self.budget)} per worker: {human(max(held, 0))} "
                f"are held by pinned models or requests in flight"
                + (f", {human(self._reserved)} by loads under way" if self._reserved else ""))
        for victim, entry in candidates:
            if free >= need:
                break
            if entry.servable.retire_if_idle():  # atomically: no lease held, none granted
                del self._entries[victim]
                free += entry.size
                evicted.append((victim, entry))
                self._publish(victim[0])

    def _close(self, evicted: list, why: str = "to make room") -> None:
        """Close evicted versions (nobody holds them) and give their memory back."""
        from serving.models.unloader import close_one, freezes
        if not evicted:
            return
        refrozen = False
        while evicted:
            key, entry = evicted.pop()
            log.info("model %s version %s unloaded %s (%s)", key[0], key[1], why,
                     human(entry.size))
            metrics.observe_eviction(key[0])
            refrozen = refrozen or entry.frozen_epoch != freezes()
            close_one(entry.servable)
            del entry
        self._release(refrozen)

    def _publish(self, name: str) -> None:
        """Under the lock: the model's resident bytes gauge."""
        metrics.set_resident_bytes(name, sum(e.size for k, e in self._entries.items()
                                             if k[0] == name))
