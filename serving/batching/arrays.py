"""Array work around one batched run: join the requests' feeds, cut the outputs back apart.

Padding follows TF Serving: variable-length inputs are padded with each tensor's first
element, and a batch is padded up to an allowed size by repeating the first row of its last
request; padded rows never reach a client.
"""
from __future__ import annotations

import bisect
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Mapping, Sequence

import numpy as np

from serving.errors import FailedPrecondition, InvalidArgument


def request_rows(feeds: Mapping[str, np.ndarray]) -> int:
    """TF Serving's checks on a batched request: rank >= 1 and one dim0 for all inputs."""
    sizes = set()
    for array in feeds.values():
        if np.ndim(array) == 0:
            raise InvalidArgument("Batching Run() input tensors must have at least one "
                                  "dimension")
        sizes.add(len(array))
    if len(sizes) != 1:
        raise InvalidArgument("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


def shape_key(feeds: Mapping[str, np.ndarray], pad: bool) -> tuple:
    """Requests with equal keys can be concatenated (after padding, when `pad`)."""
    if pad:
        return tuple((a.ndim, a.dtype.str) for a in feeds.values())
    return tuple((a.shape[1:], a.dtype.str) for a in feeds.values())


def padded_size(rows: int, allowed: Sequence[int]) -> int:
    if not allowed:
        return rows
    return allowed[min(bisect.bisect_left(allowed, rows), len(allowed) - 1)]


def join(tasks, total: int, pad_lengths: bool) -> dict[str, np.ndarray]:
    """One feed per input for the whole batch, `total` rows long (padding included)."""
    if len(tasks) == 1 and total == tasks[0].rows:
        return tasks[0].feeds  # nothing to copy
    feeds = {}
    for alias in tasks[0].feeds:
        parts = [task.feeds[alias] for task in tasks]
        if pad_lengths:
            parts = _pad_lengths(parts)
        extra = total - sum(len(part) for part in parts)
        if extra:
            parts.append(np.repeat(parts[-1][:1], extra, axis=0))
        feeds[alias] = np.concatenate(parts)
    return feeds


def _pad_lengths(parts: list[np.ndarray]) -> list[np.ndarray]:
    target = np.max([part.shape[1:] for part in parts], axis=0)
    padded = []
    for part in parts:
        widths = [(0, 0)] + [(0, int(t - s)) for s, t in zip(part.shape[1:], target)]
        if any(w for _, w in widths) and part.size:
            part = np.pad(part, widths, constant_values=part.flat[0])
        padded.append(part)
    return padded


def split(outputs: Mapping[str, np.ndarray], tasks, total: int) -> list[dict]:
    """Each request's rows of every output; every output must be `total` rows long."""
    if len(tasks) == 1 and total == tasks[0].rows:
        return [dict(outputs)]  # exactly what an unbatched run returns
    for alias, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            got = "a scalar" if array.ndim == 0 else f"0th dimension {array.shape[0]}"
            raise FailedPrecondition(
                f"Batched output tensor '{alias}' has {got}, expected {total} (the batch's row "
                f"count): a model served with batching must keep dim0 as the batch dimension "
                f"in every output; disable batching for this model if it cannot")
    parts, start = [], 0
    for task in tasks:
        stop = start + task.rows
        parts.append({alias: array[start:stop] for alias, array in outputs.items()})
        start = stop
    return parts


def gather(parts: list[Future]) -> Future:
    """One future for a request that was split into chunks; cancelling it cancels them."""
    whole: Future = Future()
    lock = threading.Lock()
    remaining = [len(parts)]

    def chunk_done(_):
        with lock:  # chunks can finish on different batch threads at once
            remaining[0] -= 1
            if remaining[0]:
                return
        try:
            results = [part.result(0) for part in parts]
            value = {alias: np.concatenate([r[alias] for r in results]) for alias in results[0]}
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request as is
            settle(whole, exc=exc)
        else:
            settle(whole, value=value)

    whole.add_done_callback(lambda f: f.cancelled() and [part.cancel() for part in parts])
    for part in parts:
        part.add_done_callback(chunk_done)
    return whole


def settle(future: Future, value=None, exc: BaseException | None = None) -> None:
    try:
        if exc is None:
            future.set_result(value)
        else:
            future.set_exception(exc)
    except InvalidStateError:
        pass  # the caller already gave up on it (cancelled) or it was failed at shutdown
