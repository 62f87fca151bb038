"""A base path on a local (or TensorFlow-readable) file system: versions are read in place."""
from __future__ import annotations

import logging
import os
import time

from serving.storage import Fingerprint

log = logging.getLogger("serving.models.source")  # the messages operators know, unchanged


class LocalStore:
    def versions(self, base_path: str) -> dict[int, str]:
        """{version: directory} for the numeric children of base_path (`00000123` is 123)."""
        import tensorflow as tf
        if base_path.startswith("file://"):
            base_path = base_path[len("file://"):]
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
            log.warning("No versions of servable found under base path %s. Did you forget to "
                        "name your leaf directory as a number (eg. '/1/')?", base_path)
        return versions

    def fingerprint(self, path: str) -> Fingerprint:
        """(file count, total bytes, newest mtime in ns) of a version directory."""
        import tensorflow as tf
        count = size = newest = 0
        try:
            for root, _dirs, files in tf.io.gfile.walk(path):
                newest = max(newest, tf.io.gfile.stat(root).mtime_nsec)
                for name in files:
                    stat = tf.io.gfile.stat(os.path.join(root, name))
                    count, size = count + 1, size + stat.length
                    newest = max(newest, stat.mtime_nsec)
        except tf.errors.OpError:
            return Fingerprint(-1, -1, time.time_ns())  # vanished mid-walk: still changing
        return Fingerprint(count, size, newest)

    def local_copy(self, path: str) -> str:
        return path  # read in place


LOCAL = LocalStore()
