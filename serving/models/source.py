"""Version directories under a model's base path, and which of them a policy wants loaded."""
from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

# A version directory whose newest file changed less than this long ago may still be being
# copied: it is loaded once it has been quiet this long, or unchanged across two scans.
SETTLE_SECONDS = 1.0


def list_versions(base_path: str) -> dict[int, str]:
    """{version: directory} for the numeric children of base_path (`00000123` is 123).

    Reads through tf.io.gfile, so object stores TensorFlow understands work as well.
    """
    import tensorflow as tf
    try:
        names = tf.io.gfile.listdir(base_path)
    except tf.errors.OpError as exc:
        raise FileNotFoundError(f"cannot list base path {base_path}: {exc.message}") from None
    versions: dict[int, str] = {}
    for name in names:
        name = name.rstrip("/")
        if not name.isdigit():
            continue
        path = os.path.join(base_path, name)
        if not tf.io.gfile.isdir(path):
            continue
        version = int(name)
        if version in versions:
            log.warning("two directories give version %d under %s; using %s",
                        version, base_path, versions[version])
            continue
        versions[version] = path
    if not versions:
        log.warning("No versions of servable found under base path %s. Did you forget to name "
                    "your leaf directory as a number (eg. '/1/')?", base_path)
    return versions


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


def fingerprint(path: str) -> tuple[int, int, int]:
    """(file count, total bytes, newest mtime in ns) of a version directory, to see it change."""
    import tensorflow as tf
    count = size = newest = 0
    try:
        for root, _dirs, files in tf.io.gfile.walk(path):
            newest = max(newest, tf.io.gfile.stat(root).mtime_nsec)
            for name in files:
                stat = tf.io.gfile.stat(os.path.join(root, name))
                count, size, newest = count + 1, size + stat.length, max(newest, stat.mtime_nsec)
    except tf.errors.OpError:
        return (-1, -1, time.time_ns())  # vanished mid-walk: treat as still changing
    return count, size, newest


def settled(now_print: tuple[int, int, int], last_print: tuple[int, int, int] | None) -> bool:
    """True when a directory looks completely copied: quiet for a while, or unchanged since
    the previous scan (which also covers file systems whose clocks run ahead of ours)."""
    if now_print == last_print:
        return True
    return now_print[0] >= 0 and time.time_ns() - now_print[2] > SETTLE_SECONDS * 1e9
