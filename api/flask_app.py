"""The Flask class this server runs: Flask, minus a per-call cost no view here needs."""
from __future__ import annotations

from flask import Flask


class ServerFlask(Flask):
    """Flask asks `inspect.iscoroutinefunction` of every view and hook on every request
    (~2.5 µs each, seven times per predict); the answer never changes, so it is kept."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synced: dict = {}

    def ensure_sync(self, func):
        try:
            return self._synced[func]
        except KeyError:
            synced = self._synced[func] = super().ensure_sync(func)
            return synced
        except TypeError:  # an unhashable callable: ask every time
            return super().ensure_sync(func)
