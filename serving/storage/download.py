"""Copy one version's objects into a folder, checking each against its listing."""
from __future__ import annotations

import hashlib
import os


def safe_join(folder: str, relative: str) -> str:
    """A key like `../../etc/x` must never write outside the version's folder."""
    path = os.path.normpath(os.path.join(folder, relative))
    if os.path.isabs(relative) or not path.startswith(os.path.normpath(folder) + os.sep):
        raise ValueError(f"object key {relative!r} leaves its version's prefix")
    return path


def fill(fs, prefix: str, objects: dict, folder: str) -> None:
    """Download every object under `prefix` named in `objects` ({relative: [size, etag,
    md5 or None]}); raise if one is missing, of another size, or of another MD5."""
    for relative, (size, _etag, md5) in sorted(objects.items()):
        target = safe_join(folder, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fs.get_file(f"{prefix}/{relative}", target)
        got = os.path.getsize(target)
        if got != size:
            raise OSError(f"{relative}: {got} bytes downloaded, the listing said {size} "
                          f"(changed while copying?)")
        if md5 is not None and _md5(target) != md5:
            raise OSError(f"{relative}: MD5 differs from the store's (changed while copying?)")


def _md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
