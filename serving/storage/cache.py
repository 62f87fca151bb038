"""One base path's folder in the local model cache, shared by every worker of the machine.

Layout: `<cache>/<slug>-<hash>/` holds `.lock` (flock: one lister or downloader at a time),
`state.json` (the last listings, read by every worker, so one listing serves them all) and
one folder per downloaded version, complete once `<version>.digest` names its content.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile

from serving.config.model_config import atomic_write


class BaseCache:
    def __init__(self, root: str, uri: str):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", uri.split("://", 1)[-1])[-60:]
        digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
        self.folder = os.path.join(root, f"{slug}-{digest}")
        os.makedirs(self.folder, mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def locked(self):
        """Exclusive across this machine's processes while the block runs."""
        with open(os.path.join(self.folder, ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_state(self) -> dict:
        try:
            with open(os.path.join(self.folder, "state.json")) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def write_state(self, state: dict) -> None:
        """Written beside and renamed over: a reader never sees half a file."""
        atomic_write(os.path.join(self.folder, "state.json"), json.dumps(state))

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def complete(self, name: str, digest: str) -> bool:
        """Whether version `name` is here whole, with exactly the content `digest` names."""
        try:
            with open(self.path(name) + ".digest") as handle:
                return handle.read() == digest and os.path.isdir(self.path(name))
        except OSError:
            return False

    def install(self, name: str, digest: str, fill) -> str:
        """`fill(folder)` downloads and checks into a fresh folder; only if it returns does
        the folder become version `name` (a failed or interrupted copy is never used)."""
        partial = tempfile.mkdtemp(prefix=f".partial-{name}-", dir=self.folder)
        try:
            fill(partial)
            self.drop(name)
            os.rename(partial, self.path(name))
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        with open(self.path(name) + ".digest", "w") as handle:
            handle.write(digest)
        return self.path(name)

    def sweep(self) -> None:
        """Remove copies a killed process left half done (call with the lock held: no copy
        is under way then, since copies are made with the lock held too)."""
        for name in os.listdir(self.folder):
            if name.startswith(".partial-"):
                shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)

    def cached(self) -> set[str]:
        return {n for n in os.listdir(self.folder) if n.isdigit()}

    def drop(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(name) + ".digest")
        shutil.rmtree(self.path(name), ignore_errors=True)
