"""Where model repositories live: one Store class per kind of URL behind one interface.

A local path (or file://) is read in place; s3://, gs:// and Azure's az:// / abfs[s]:// are
copied version by version into a local cache first (serving/storage/remote.py). The manager
calls `store_for(path)` and never asks which kind it got (fsspec's registry, STYLE.md).
"""
from __future__ import annotations

import os
import tempfile
import threading
from typing import NamedTuple

# A version whose content changed less than this long ago may still be being copied or
# uploaded: it is loaded once it has been quiet this long (see each store for how it knows).
SETTLE_SECONDS = 1.0


class Fingerprint(NamedTuple):
    """What a version looks like now, to see it change. `settled` is None when the caller
    judges quietness itself (local files); a remote store decides and says so here.
    `attempt` grows when a failed copy may be tried again (backoff), so a retry differs."""
    count: int
    size: int
    newest_ns: int
    settled: bool | None = None
    attempt: int = 0


class SourceError(FileNotFoundError):
    """A base path that cannot be read now (credentials, bucket, network). `reported`: the
    store has logged it already (once, at ERROR), so callers need not log it again."""

    def __init__(self, message: str, reported: bool = False):
        super().__init__(message)
        self.reported = reported


_options = {"cache_dir": "", "poll_seconds": 2.0}
_stores: dict[str, object] = {}
_lock = threading.Lock()


def configure(cache_dir: str = "", poll_seconds: float = 2.0) -> None:
    """This process's cache folder and poll period (ServingCore passes its settings)."""
    _options.update(cache_dir=cache_dir, poll_seconds=poll_seconds)
    _stores.clear()


def cache_dir() -> str:
    return _options["cache_dir"] or os.path.join(tempfile.gettempdir(),
                                                 f"tf-serving-model-cache-{os.getuid()}")


def is_remote(path: str) -> bool:
    from serving.storage.clouds import scheme
    return scheme(path) != ""


def store_for(path: str):
    """The store that holds `path`: a base path, or one version under it (base/<version>)."""
    if not is_remote(path):
        from serving.storage.local import LOCAL
        return LOCAL
    from serving.storage.remote import RemoteStore
    base = path.rstrip("/")
    last = base.rsplit("/", 1)[-1]
    if last.isdigit() and base.rsplit("/", 1)[0] in _stores:
        base = base.rsplit("/", 1)[0]  # a version's URI: its base path's store
    with _lock:
        if base not in _stores:
            _stores[base] = RemoteStore(base, cache_dir(), _options["poll_seconds"])
        return _stores[base]
