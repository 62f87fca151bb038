"""One loaded model version as the rest of the core sees it: a wrapper plus how to run it."""
from __future__ import annotations

import threading
from typing import Mapping

import numpy as np

from serving.errors import InvalidArgument


class Servable:
    """A model version that answers requests; `run` is the single entry to its wrapper.

    A batcher, when batching is on, sits between `run` and the wrapper: `runner` is any
    callable with the wrapper's `run(signature_key, feeds, outputs)` contract.
    """

    def __init__(self, name: str, version: int, wrapper, runner=None):
        self.name = name
        self.version = version
        self.wrapper = wrapper
        self.runner = runner or wrapper.run
        self._metadata_cache: dict | None = None
        self._lock = threading.Lock()

    @property
    def signatures(self):
        return self.wrapper.servable_signatures()

    def signature(self, key: str | None):
        key = key or "serving_default"
        signature = self.signatures.get(key)
        if signature is None:
            raise InvalidArgument(f'Serving signature name: "{key}" not found in signature def')
        return signature

    def run(self, signature, feeds: Mapping[str, np.ndarray], outputs=None):
        return self.runner(signature.key, feeds, outputs)

    def close(self) -> None:
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()
        self.wrapper.close()
