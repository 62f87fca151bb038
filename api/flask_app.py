"""The Flask class this server runs: Flask, minus a per-call cost no view here needs."""
from __future__ import annotations

from flask import Flask


class ServerFlask(Flask):
    """Flask asks `inspect.iscoroutinefunction` of every view and hook on every request
    (~2.5 µs each, seven times per predict); the answer never changes, so it is kept."""

    def ensure_sync(self, func):
        cache = self.__dict__.setdefault("_sync_functions", {})
        try:
            return cache[func]
        except (KeyError, TypeError):  # TypeError: an unhashable callable; ask every time
            synced = super().ensure_sync(func)
        try:
            cache[func] = synced
        except TypeError:
            pass
        return synced
