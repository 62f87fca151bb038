"""gunicorn's gthread worker, answering a kept-alive connection's next request in the same
thread while no other connection waits for one.

gthread sends every request on a kept-alive connection through its main thread twice: the
pool thread's "done" goes back over a pipe, the main thread puts the socket back in its
poller, and when the next request arrives it wakes again and hands it to a pool thread. On
this project's 2-core box each of those wake-ups costs about 30 µs of CPU, and a lone client
pays all of them. Here, after a response, the thread waits up to `wait` seconds for the
next request on that socket and answers it without the round trip, as long as the worker
has a thread for each of its connections and none is queued for one (bound to connections,
the threads starved the rest: a p99 of 1.4-2.3 s at 64 clients). Past that it is gthread.
A quiet connection goes back to the poller as in gthread, so it holds a thread no longer
than `wait` (bench/README.md).
"""
from __future__ import annotations

import select
import threading

from gunicorn.workers import gthread


class KeepAliveWorker(gthread.ThreadWorker):
    """gthread, plus up to `wait` seconds in-thread for a connection's next request."""

    wait = 0.002  # deploy/gunicorn.conf.py sets it from --keepalive_wait_ms

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queued = 0   # connections handed to the pool that no thread has taken yet
        self._count = threading.Lock()

    def enqueue_req(self, conn):
        with self._count:
            self._queued += 1
        super().enqueue_req(conn)

    def handle(self, conn):
        with self._count:
            self._queued -= 1
        keep = super().handle(conn)
        readable = None  # a poll object: unlike a selector, it opens no file descriptor
        try:
            while keep is True and self._next_request_here(conn):
                if readable is None:
                    readable = select.poll()
                    readable.register(conn.sock, select.POLLIN)
                if not readable.poll(self.wait * 1000):
                    break  # quiet: back to the poller, as gthread does
                keep = super().handle(conn)
        except (OSError, ValueError):  # the client went away meanwhile
            return False
        return keep

    def _next_request_here(self, conn) -> bool:
        """Whether this thread may wait for the connection's next request: the worker runs,
        it holds no more connections than it has threads (so none can be left without
        one), nobody is queued for a thread, and no bytes were read ahead (gthread
        re-queues those itself; the poller would not see them)."""
        return (self.alive and self.nr_conns <= self.cfg.threads and not self._queued
                and conn.parser is not None and not conn.is_http2
                and not conn.parser.unreader.buf.getvalue())
