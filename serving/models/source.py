"""Version directories under a model's base path, and which of them a policy wants loaded.

Where the base path lives (a folder, s3://, gs://, az://) is the store's business
(serving/storage/): these functions pick the store by the path and never branch on it.
"""
from __future__ import annotations

import logging
import time

from serving.storage import SETTLE_SECONDS, Fingerprint, store_for

__all__ = ["SETTLE_SECONDS", "list_versions", "aspired_versions", "fingerprint", "settled",
           "local_copy"]
log = logging.getLogger(__name__)


def list_versions(base_path: str) -> dict[int, str]:
    """{version: location} for the numeric children of base_path (`00000123` is 123);
    FileNotFoundError (storage.SourceError for a remote store) when it cannot be read."""
    return store_for(base_path).versions(base_path)


def aspired_versions(policy, available: dict[int, str]) -> list[int]:
    """The versions a ModelVersionPolicy proto selects from those on disk, newest first."""
    newest_first = sorted(available, reverse=True)
    choice = policy.WhichOneof("policy_choice") if policy is not None else None
    if choice == "all":
        return newest_first
    if choice == "specific":
        wanted = set(policy.specific.versions)
        missing = wanted - set(available)
        if missing:
            log.warning("versions %s named by a specific policy are not on disk", sorted(missing))
        return [v for v in newest_first if v in wanted]
    count = max(1, policy.latest.num_versions) if choice == "latest" else 1
    return newest_first[:count]


def fingerprint(path: str) -> Fingerprint:
    """(count, bytes, newest change in ns, ...) of a version, to see it change."""
    return store_for(path).fingerprint(path)


def local_copy(path: str) -> str:
    """A local folder holding the version at `path`, for the loader: the folder itself, or
    a checked copy in the cache for a remote store; LoadError when it cannot be had."""
    return store_for(path).local_copy(path)


def settled(now_print: tuple[int, int, int], last_print: tuple[int, int, int] | None) -> bool:
    """True when a directory looks completely copied: quiet for a while, or unchanged since
    the previous scan (which also covers file systems whose clocks run ahead of ours).
    A remote store judges that from its own listings and says so in the fingerprint."""
    if getattr(now_print, "settled", None) is not None:
        return now_print.settled
    if now_print == last_print:
        return True
    return now_print[0] >= 0 and time.time_ns() - now_print[2] > SETTLE_SECONDS * 1e9
