"""Which version answers a request that names none: the newest, a pinned one, or a split.

TF Serving always answers with the newest AVAILABLE version. An operator may instead pin one
version or split traffic by weight between several (A/B, canary). A pinned or weighted
version that is not AVAILABLE is skipped, so a route never turns into an outage.
"""
from __future__ import annotations

import bisect
import dataclasses
import random

from serving.errors import InvalidArgument


@dataclasses.dataclass(frozen=True)
class Route:
    pinned: int | None = None
    split: tuple[tuple[int, int], ...] = ()          # ((version, weight), ...), weights > 0

    @classmethod
    def from_json(cls, data: dict | None) -> "Route":
        """{"default": N} or {"split": {"N": weight, ...}} as kept in the routing state file."""
        data = data or {}
        if data.get("default") is not None:
            return cls(pinned=parse_version(data["default"]))
        if data.get("split") is not None:
            return cls(split=parse_split(data["split"]))
        return cls()

    def to_json(self) -> dict:
        if self.pinned is not None:
            return {"default": self.pinned}
        if self.split:
            return {"split": {str(v): w for v, w in self.split}}
        return {}

    def versions(self) -> set[int]:
        """Versions this route sends traffic to, which therefore stay loaded."""
        return ({self.pinned} if self.pinned is not None else set()) | {v for v, _ in self.split}

    def choose(self, available: set[int]) -> int | None:
        """The version for one request, or None to fall back to the newest AVAILABLE one."""
        if self.pinned is not None:
            return self.pinned if self.pinned in available else None
        live = [(v, w) for v, w in self.split if v in available]
        if not live:
            return None
        cumulative, total = [], 0
        for _, weight in live:
            total += weight
            cumulative.append(total)
        return live[bisect.bisect_right(cumulative, random.random() * total)][0]


def parse_split(split) -> tuple[tuple[int, int], ...]:
    """{"123": 90, "124": 10} → ((123, 90), (124, 10)); weights are non-negative integers."""
    if not isinstance(split, dict) or not split:
        raise InvalidArgument('"split" must be a non-empty object of {"version": weight}')
    pairs = []
    for version, weight in split.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise InvalidArgument(f"weight of version {version} must be a non-negative integer, "
                                  f"got {weight!r}")
        if weight:
            pairs.append((parse_version(version), weight))
    if not pairs:
        raise InvalidArgument("a traffic split needs at least one version with a weight above 0")
    return tuple(sorted(pairs))


def parse_version(value) -> int:
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or int(text) > 2 ** 63 - 1:
        raise InvalidArgument(f"version must be a non-negative integer, got {value!r}")
    return int(text)
