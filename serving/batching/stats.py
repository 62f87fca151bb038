"""A batcher's own counters: what tests and operators read to see batching happen."""
from __future__ import annotations

import threading


class BatchStats:
    """Batches run, requests and rows in them, the largest batch, and a rows histogram."""

    def __init__(self):
        self._lock = threading.Lock()  # batch threads and inline runs count concurrently
        self._counts = {"batches": 0, "inline_batches": 0, "requests": 0, "rows": 0,
                        "padded_rows": 0, "max_batch_rows": 0, "failed_batches": 0,
                        "expired": 0, "cancelled": 0}
        self._histogram: dict[int, int] = {}

    def batch(self, requests: int, rows: int, padded: int, failed: bool, inline: bool) -> None:
        with self._lock:
            counts = self._counts
            counts["batches"] += 1
            counts["inline_batches"] += inline
            counts["requests"] += requests
            counts["rows"] += rows
            counts["padded_rows"] += padded
            counts["failed_batches"] += failed
            counts["max_batch_rows"] = max(counts["max_batch_rows"], rows)
            self._histogram[rows] = self._histogram.get(rows, 0) + 1

    def dropped(self, why: str) -> None:
        """`why` is "expired" or "cancelled": requests taken out before they ran."""
        with self._lock:
            self._counts[why] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {**self._counts, "batch_rows": dict(self._histogram)}
