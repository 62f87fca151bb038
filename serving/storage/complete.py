"""When a version prefix in object storage is whole: object stores have no folders, and an
uploader writes one object at a time, so a listing may show half a version."""
from __future__ import annotations

import re

_SHARD = re.compile(r"^variables/variables\.data-(\d+)-of-(\d+)$")


def has_every_part(names: set[str]) -> bool:
    """A SavedModel names its own parts: saved_model.pb, and with variables, the index and
    every shard `data-0000i-of-0000N` counts. Other formats have no such list: True."""
    if not names:
        return False
    if not names & {"saved_model.pb", "saved_model.pbtxt"}:
        return not any(n.startswith("variables/") for n in names)  # variables before the graph
    shards = [m for m in map(_SHARD.match, names) if m]
    if not shards and "variables/variables.index" not in names:
        return True  # a graph with no variables
    if "variables/variables.index" not in names or not shards:
        return False
    total = int(shards[0].group(2))
    return {int(m.group(1)) for m in shards if int(m.group(2)) == total} == set(range(total))


def settled(listed_at: float, since: float, names: set[str], settle_seconds: float) -> bool:
    """Whole, and unchanged for `settle_seconds`: the same content seen by two listings that
    far apart (or, when first seen, last modified that long before the listing)."""
    return has_every_part(names) and listed_at - since >= settle_seconds
