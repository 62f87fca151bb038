"""Dynamic micro-batching: concurrent requests for one signature share one `session.run`.

One Batcher per loaded version, signature and output set: a bounded queue of requests (each
with its own concurrent.futures.Future) and `num_batch_threads` threads that form and run
batches, at most that many at once (inline runs included). A batch is released when it
holds `max_batch_size` rows, when `batch_timeout_micros` has passed since its first request,
or at once when nothing else is queued or running: the window stays open only while another
batch of this queue is running, so a lone request never waits for company. A request that
finds the batcher idle runs at once in its own thread: a lone client pays no thread hand-off.
Rows count, not requests; requests are taken first in, first out.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import Future
from typing import Callable, Mapping

import numpy as np

from serving import metrics, observe
from serving.batching import arrays as batch_tensors
from serving.batching.queue import CLOSED, Task, TaskQueue
from serving.batching.slots import RunSlots
from serving.batching.stats import BatchStats
from serving.config.batching import BatchingOptions
from serving.errors import DeadlineExceeded, InvalidArgument, ServingError, Unavailable

log = logging.getLogger(__name__)

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"
UNLOADING = "The model version is being unloaded; retry"
Runner = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


class Batcher:
    """`run(feeds)` answers one request (blocking); `submit(feeds)` returns its Future.

    `inline_runner`, when given, runs what a request runs alone in its own thread (the
    wrapper keeps that run off TensorFlow's thread pool); batches go to `runner`."""

    def __init__(self, runner: Runner, options: BatchingOptions = BatchingOptions(),
                 labels: tuple[str, str, str] = ("", "", ""),
                 inline_runner: Runner | None = None):
        self.runner, self.options, self.labels = runner, options, labels
        self._inline_runner = inline_runner or runner
        self._timeout = options.batch_timeout_micros / 1e6
        self._queue = TaskQueue(options.max_enqueued_batches * options.max_batch_size)
        self._held: collections.deque[Task] = collections.deque()  # did not fit a batch yet
        self._forming = threading.Lock()      # one thread forms a batch at a time (FIFO)
        self._slots = RunSlots(options.num_batch_threads)
        self._inflight: dict[int, list[Task]] = {}
        self._stats = BatchStats()
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"batcher-{'/'.join(labels)}-{i}")
                         for i in range(options.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    # -- the request thread's side -------------------------------------------------------
    def run(self, feeds: Mapping[str, np.ndarray], rows: int | None = None,
            timeout: float = 30.0) -> dict[str, np.ndarray]:
        """This request's outputs; past `timeout` it is withdrawn and answered 504."""
        rows = batch_tensors.request_rows(feeds) if rows is None else rows
        if rows <= self.options.split_size and self._slots.claim_inline(self._nothing_queued):
            try:
                outcome = self._compute([Task(feeds, rows, None, time.monotonic(), 0.0,
                                              exchange=observe.current(),
                                              recorded=metrics.recorded())], True)
            finally:
                self._slots.free(inline=True)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome[0]
        future = self.submit(feeds, rows, time.monotonic() + timeout)
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.cancel():  # still queued: withdrawn, so it is never run
                raise DeadlineExceeded(_expired_message(timeout)) from None
            return future.result()  # already running: its answer is on the way

    def submit(self, feeds: Mapping[str, np.ndarray], rows: int | None = None,
               deadline: float | None = None) -> Future:
        """Queue one request; raises Unavailable at once when the queue is full."""
        rows = batch_tensors.request_rows(feeds) if rows is None else rows
        deadline = float("inf") if deadline is None else deadline
        limit = self.options.split_size
        if rows <= limit:
            return self._enqueue(feeds, rows, deadline)
        if not self.options.enable_large_batch_splitting:
            raise InvalidArgument(f"Task size {rows} is larger than maximum batch size "
                                  f"{self.options.max_batch_size}")
        parts: list[Future] = []
        try:
            for start in range(0, rows, limit):
                chunk = {alias: array[start:start + limit] for alias, array in feeds.items()}
                parts.append(self._enqueue(chunk, min(limit, rows - start), deadline))
        except ServingError:
            for part in parts:
                part.cancel()
            raise
        return batch_tensors.gather(parts)

    def _enqueue(self, feeds, rows: int, deadline: float) -> Future:
        future: Future = Future()
        key = batch_tensors.shape_key(feeds, self.options.pad_variable_length_inputs)
        try:
            queued = self._queue.put(Task(feeds, rows, future, time.monotonic(), deadline, key,
                                          observe.current(), metrics.recorded()))
        except RuntimeError:
            raise Unavailable(UNLOADING) from None
        if not queued:
            raise Unavailable(QUEUE_FULL)
        return future

    def _nothing_queued(self) -> bool:
        return not (self._held or len(self._queue) or self._queue.closed)

    # -- the batch threads' side -----------------------------------------------------------
    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            with self._forming:
                tasks = self._form()
            if tasks is None:
                return
            self._inflight[me] = tasks
            outcome: object = Unavailable("The batch thread stopped")
            try:
                outcome = self._compute(tasks, False)
            finally:  # every future is resolved on every path
                for index, task in enumerate(tasks):
                    if isinstance(outcome, BaseException):
                        batch_tensors.settle(task.future, exc=outcome)
                    else:
                        batch_tensors.settle(task.future, value=outcome[index])
                self._inflight.pop(me, None)
                self._slots.free(inline=False)

    def _form(self) -> list[Task] | None:
        """The next batch (never empty; its slot claimed), or None once closed and drained."""
        pending, self._held = self._held, collections.deque()
        tasks: list[Task] = []
        rows, close_at = 0, None
        while rows < self.options.max_batch_size:
            task = self._next(pending, close_at)
            if task is None or task is CLOSED:
                break
            if not self._admit(task):
                continue
            if tasks and task.key != tasks[0].key:
                self._held.append(task)  # other non-batch dims: a later batch of its own
                continue
            if tasks and rows + task.rows > self.options.max_batch_size:
                self._held.append(task)
                break
            if not tasks:
                self._slots.claim()  # waits for an inline run; requests keep queueing meanwhile
                if not self._admit(task):  # it may have expired or been withdrawn meanwhile
                    self._slots.free(inline=False)
                    continue
            # Marked running only once it holds a slot: until then its caller may withdraw it.
            if not task.future.set_running_or_notify_cancel():
                self._stats.dropped("cancelled")
                if not tasks:
                    self._slots.free(inline=False)
                continue
            if not tasks:
                close_at = task.enqueued + self._timeout
            tasks.append(task)
            rows += task.rows
        self._held.extend(pending)
        if len(self._held) > 1:
            self._held = collections.deque(sorted(self._held, key=lambda t: t.enqueued))
        if tasks:
            metrics.set_queue_length(*self.labels, len(self._queue) + len(self._held))
        return tasks or None  # empty only once closed: until then the first get() blocks

    def _next(self, pending: collections.deque, close_at: float | None):
        if pending:
            return pending.popleft()
        if close_at is None:
            return self._queue.get()  # block until the batch's first request
        task = self._queue.get(0)
        others_running = self._slots.running() > 1  # this batch holds one slot itself
        if task is None and self._timeout > 0 and others_running:
            task = self._queue.get(close_at - time.monotonic())
        return task

    def _admit(self, task: Task) -> bool:
        """Drop what its caller gave up on; answer what waited past its deadline with 504."""
        if task.future.cancelled():
            self._stats.dropped("cancelled")
            return False
        if time.monotonic() > task.deadline:
            if task.future.set_running_or_notify_cancel():
                waited = time.monotonic() - task.enqueued
                task.future.set_exception(DeadlineExceeded(_expired_message(waited)))
            self._stats.dropped("expired")
            return False
        return True

    def _compute(self, tasks: list[Task], inline: bool):
        """Run one batch: each request's outputs in order, or the exception for all of them."""
        rows = sum(task.rows for task in tasks)
        total = batch_tensors.padded_size(rows, self.options.allowed_batch_sizes)
        started = time.monotonic()
        try:
            feeds = batch_tensors.join(tasks, total, self.options.pad_variable_length_inputs)
            run = self._inline_runner if inline else self.runner
            outcome = batch_tensors.split(run(feeds), tasks, total)
        except Exception as exc:  # the waiting requests get it; the thread lives on
            if not isinstance(exc, ServingError):
                log.exception("batch of %d requests for %s failed", len(tasks), self.labels)
            outcome = exc
        # Counted before any caller wakes up, so a caller may read stats() right after.
        self._stats.batch(len(tasks), rows, total - rows, isinstance(outcome, Exception), inline)
        ended = time.monotonic()
        counted = [task for task in tasks if task.recorded]  # warmup's are not
        if counted:
            metrics.observe_batch(*self.labels, sum(task.rows for task in counted),
                                  started - counted[0].enqueued, ended - started)
        if observe.active():  # each request learns its batch; a trace gets the batch's span
            observe.batch_ran([task.exchange for task in tasks],
                              [task.enqueued for task in tasks], rows, started, ended,
                              self.labels)
        return outcome

    # -- inspection and shutdown ---------------------------------------------------------
    def stats(self) -> dict:
        """The counters (batches, requests, rows, largest batch, rows histogram) and queue."""
        return {**self._stats.snapshot(), "queued": len(self._queue) + len(self._held)}

    def shutdown(self, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop taking requests; run (drain) or fail what is queued; resolve every future."""
        gone = Unavailable(UNLOADING)
        for task in self._queue.close(take_all=not drain):
            batch_tensors.settle(task.future, exc=gone)
        end = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, end - time.monotonic()))
        stuck = [task for tasks in list(self._inflight.values()) for task in tasks]
        for task in [*self._queue.close(take_all=True), *self._held, *stuck]:
            batch_tensors.settle(task.future, exc=gone)


def _expired_message(seconds: float) -> str:
    return (f"Deadline exceeded: the request waited {seconds * 1000:.0f} ms for its batch "
            f"(rest_api_timeout_in_ms)")
