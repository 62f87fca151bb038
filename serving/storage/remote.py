"""A base path in object storage, copied version by version into the machine's cache.

Per poll: one delimited, paginated listing of the base path (its version prefixes), shared
by the workers through the cache folder; a version's own objects are listed only until it
is loaded. A version is copied once per machine, checked (size, MD5 where the store gives
one), and only then handed to the loader.
"""
from __future__ import annotations

import hashlib
import logging
import time

from serving.errors import LoadError
from serving.storage import SETTLE_SECONDS, Fingerprint, SourceError, clouds
from serving.storage.cache import BaseCache
from serving.storage.complete import settled

log = logging.getLogger(__name__)
BACKOFF_MAX_SECONDS = 60.0   # a failing store is asked again at most this far apart
DROP_AFTER_SECONDS = 30.0    # a version gone from the bucket leaves the cache after this:
                             # every worker has unloaded it by then (each at its next poll)


class RemoteStore:
    def __init__(self, base_uri: str, cache_root: str, poll_seconds: float, fs=None):
        self.uri = base_uri.rstrip("/")
        self.fs = fs if fs is not None else clouds.filesystem(self.uri)
        self.root = self.fs._strip_protocol(self.uri).rstrip("/")
        self.cache = BaseCache(cache_root, self.uri)
        self.poll = poll_seconds
        # A listing younger than this is reused: the workers of a machine poll out of step,
        # and the first to poll lists for all.
        self.reuse = max(0.9 * poll_seconds, 0.2)
        self._failures: dict[str, tuple[str, int, float]] = {}  # copies: digest, count, retry

    # -- the base path ---------------------------------------------------------------------
    def versions(self, _base_path: str = "") -> dict[int, str]:
        with self.cache.locked():
            state, now = self.cache.read_state(), time.time()
            if state.get("error") and now < state.get("retry_at", 0):
                raise SourceError(state["error"], reported=True)  # backing off: no request
            if state.get("error") or now - state.get("listed", 0) >= self.reuse:
                self._list_base(state, now)
                self._drop_gone(state, now)
                self.cache.sweep()
                self.cache.write_state(state)
        return {int(n): f"{self.uri}/{n}" for n in sorted(state["children"], key=int)}

    def _list_base(self, state: dict, now: float) -> None:
        try:
            entries = self.fs.ls(self.root, detail=True, refresh=True)
        except Exception as exc:  # any client error is this model's, never the server's
            failures = state.get("failures", 0) + 1
            message = f"cannot list base path {self.uri}: {_reason(exc)}"
            if message != state.get("error"):
                log.error("%s", message)
            state.update(error=message, failures=failures,
                         retry_at=now + backoff(self.poll, failures))
            self.cache.write_state(state)
            raise SourceError(message, reported=True) from None
        if state.get("error"):
            log.info("base path %s can be listed again", self.uri)
        names = {e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries
                 if e.get("type") == "directory"}
        children = sorted((n for n in names if n.isdigit()), key=int)
        if not children and state.get("children", True):
            log.warning("No versions of servable found under base path %s. Did you forget to "
                        "name your leaf directory as a number (eg. '/1/')?", self.uri)
        state.update(listed=now, children=children, error=None, failures=0)

    def _drop_gone(self, state: dict, now: float) -> None:
        gone = state.setdefault("gone", {})
        for name in self.cache.cached() - set(state["children"]):
            if now - gone.setdefault(name, now) >= DROP_AFTER_SECONDS:
                self.cache.drop(name)
                state.get("versions", {}).pop(name, None)
                log.info("version %s of %s left the bucket: dropped from the cache", name,
                         self.uri)
        for name in list(gone):
            if name in state["children"] or name not in self.cache.cached():
                del gone[name]

    # -- one version -----------------------------------------------------------------------
    def fingerprint(self, uri: str) -> Fingerprint:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        with self.cache.locked():
            try:
                record = self._version(name)
            except Exception as exc:
                log.warning("cannot list %s: %s", uri, _reason(exc))
                return Fingerprint(-1, -1, time.time_ns(), settled=False)
        objects = record["objects"]
        whole = (self.cache.complete(name, record["digest"]) or
                 settled(record["listed"], record["since"], set(objects), SETTLE_SECONDS))
        return Fingerprint(len(objects), sum(o[0] for o in objects.values()),
                           int(record["since"] * 1e9), whole, self._attempt(name, record))

    def _version(self, name: str) -> dict:
        """This version's objects, from a listing younger than `reuse` (made now if none)."""
        state, now = self.cache.read_state(), time.time()
        record = state.setdefault("versions", {}).get(name)
        if record is not None and now - record["listed"] < self.reuse:
            return record
        prefix = f"{self.root}/{name}"
        objects, newest = {}, 0.0
        for key, info in self.fs.find(prefix, detail=True).items():
            relative = key[len(prefix) + 1:]
            if info.get("type") == "directory" or not relative or relative.endswith("/"):
                continue  # folder markers some tools write
            objects[relative] = [int(info.get("size") or 0), clouds.etag(info), clouds.md5(info)]
            newest = max(newest, clouds.modified(info) or now)
        digest = hashlib.sha256(repr(sorted(objects.items())).encode()).hexdigest()
        if record is not None and record["digest"] == digest:
            since = record["since"]
        else:  # first seen: trust its age by the store's clock; changed: from now on
            since = min(now, newest) if record is None and objects else now
        record = {"listed": now, "objects": objects, "digest": digest, "since": since}
        state["versions"][name] = record
        self.cache.write_state(state)
        return record

    def _attempt(self, name: str, record: dict) -> int:
        digest, count, retry_at = self._failures.get(name, ("", 0, 0.0))
        if digest != record["digest"]:
            return 0
        return count if time.time() >= retry_at else count - 1

    def local_copy(self, uri: str) -> str:
        """The version's folder in the cache, downloaded now unless another worker did."""
        from serving.storage.download import fill
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        with self.cache.locked():
            record = self._version(name)
            if self.cache.complete(name, record["digest"]):
                return self.cache.path(name)
            if not settled(record["listed"], record["since"], set(record["objects"]),
                           SETTLE_SECONDS):
                raise LoadError(f"{uri} is still being uploaded (or lacks parts of a "
                                f"SavedModel); it loads once whole and unchanged", "UNAVAILABLE")
            try:
                started = time.monotonic()
                path = self.cache.install(name, record["digest"], lambda folder: fill(
                    self.fs, f"{self.root}/{name}", record["objects"], folder))
            except Exception as exc:
                _, count, _ = self._failures.get(name, ("", 0, 0.0))
                self._failures[name] = (record["digest"], count + 1,
                                        time.time() + backoff(self.poll, count + 1))
                raise LoadError(f"cannot copy {uri} to {self.cache.path(name)}: "
                                f"{_reason(exc)}", "UNAVAILABLE") from None
        self._failures.pop(name, None)
        size = sum(o[0] for o in record["objects"].values())
        log.info("copied %s (%d objects, %d bytes) to %s in %.2fs", uri, len(record["objects"]),
                 size, path, time.monotonic() - started)
        return path


def backoff(poll: float, failures: int) -> float:
    """Seconds before asking again after `failures` in a row: the next poll, then every
    2nd, 4th, ... poll, at most BACKOFF_MAX_SECONDS apart (half a poll early: polls drift)."""
    return min(max(poll, 0.5) * (2 ** (failures - 1) - 0.5), BACKOFF_MAX_SECONDS)


def _reason(exc: Exception) -> str:
    """One line: the client's message, whatever it wrapped."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and "://" not in text and " " not in text:
        return "no object under this prefix"  # s3fs's message is then only the path
    return text if len(text) < 400 else text[:400] + "..."
