"""Copy a whole model repository (any URL a store reads) into a local TF Serving layout: what
an init container runs before the server starts (scripts/model_tool.py sync)."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile

from serving.storage import clouds, is_remote
from serving.storage.complete import has_every_part
from serving.storage.download import fill

log = logging.getLogger(__name__)


def sync(source: str, target: str) -> list[str]:
    """Copy every numeric version of `source` to `target`/<version>; returns the folders made.

    `source` is a base path (versions under it) or a folder of such base paths, as a
    model_config_list would name them. Each version lands whole or not at all."""
    os.makedirs(target, exist_ok=True)
    fs = clouds.filesystem(source) if is_remote(source) else _local()
    root = fs._strip_protocol(source).rstrip("/")
    copied = []
    for entry in fs.ls(root, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory":
            continue
        if not name.isdigit():  # a folder of models: each is a base path of its own
            copied += sync(f"{source.rstrip('/')}/{name}", os.path.join(target, name))
            continue
        objects = {key[len(f"{root}/{name}/"):]: [int(info.get("size") or 0), "",
                                                   clouds.md5(info)]
                   for key, info in fs.find(f"{root}/{name}", detail=True).items()
                   if info.get("type") != "directory" and not key.endswith("/")}
        if not has_every_part(set(objects)):
            log.warning("skipped %s/%s: not a whole version (parts missing)", source, name)
            continue
        partial = tempfile.mkdtemp(prefix=f".partial-{name}-", dir=target)
        try:
            fill(fs, f"{root}/{name}", objects, partial)
            shutil.rmtree(os.path.join(target, name), ignore_errors=True)
            os.rename(partial, os.path.join(target, name))
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        copied.append(os.path.join(target, name))
        log.info("copied %s/%s to %s", source, name, os.path.join(target, name))
    return copied


def _local():
    import fsspec
    return fsspec.filesystem("file")
