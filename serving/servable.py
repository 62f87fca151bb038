"""One loaded model version as the rest of the core sees it: a wrapper plus how to run it."""
from __future__ import annotations

import threading
from typing import Mapping

import numpy as np

from serving.batch_plan import plan_for
from serving.batcher import Batcher
from serving.batching_config import BatchingOptions
from serving.errors import InvalidArgument

_UNSET = object()


class Servable:
    """A model version that answers requests; `run` is the single entry to its wrapper.

    With batching on, each signature (and output set) gets its own Batcher the first time it
    is called. Requests a batch cannot take (see batch_plan) go straight to the wrapper, so
    turning batching on never changes an answer.
    """

    def __init__(self, name: str, version: int, wrapper, runner=None,
                 batching: BatchingOptions | None = None, timeout: float = 30.0):
        self.name = name
        self.version = version
        self.wrapper = wrapper
        self.runner = runner or wrapper.run
        self.batching = batching
        self.timeout = timeout
        self._batchers: dict[tuple, tuple | None] = {}
        self._metadata_cache: dict | None = None
        self._lock = threading.Lock()
        self._closed = False

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
        if self.batching is not None:
            entry = self._batchers.get((signature.key, outputs), _UNSET)
            if entry is _UNSET:
                entry = self._batcher(signature, outputs)
            if entry is not None:
                batcher, plan = entry
                rows = plan.rows(feeds)
                if rows is not None:
                    return batcher.run(feeds, rows, self.timeout)
        return self.runner(signature.key, feeds, outputs)

    def _batcher(self, signature, outputs):
        """Build (once, lazily: threads only for signatures in use) this signature's batcher."""
        with self._lock:
            key = (signature.key, outputs)
            if key in self._batchers:
                return self._batchers[key]
            plan = None if self._closed else plan_for(self.wrapper, signature)
            entry = None
            if plan is not None:
                options = self.batching
                if plan.fixed:  # e.g. an input [1, 784]: one row per run, requests split
                    options = BatchingOptions(
                        max_batch_size=plan.fixed, batch_timeout_micros=0,
                        max_enqueued_batches=options.max_enqueued_batches * options.max_batch_size,
                        num_batch_threads=1, max_execution_batch_size=plan.fixed)

                # Bound to the runner, not to self: the batcher's thread must not keep this
                # servable alive, or the unloader could never see it idle and close it.
                def run_batch(feeds, _key=signature.key, _outputs=outputs, _run=self.runner):
                    return _run(_key, feeds, _outputs)

                labels = (self.name, str(self.version), signature.key)
                entry = (Batcher(run_batch, options, labels), plan)
            self._batchers[key] = entry
            return entry

    def batch_stats(self) -> dict[str, dict]:
        """Each batcher's counters, keyed by signature (and output set when not all)."""
        found = {}
        for (key, outputs), entry in list(self._batchers.items()):
            if entry is not None:
                found[key if outputs is None else f"{key}{list(outputs)}"] = entry[0].stats()
        return found

    def close(self) -> None:
        """Answer what is queued (drain), then free the session."""
        with self._lock:
            self._closed = True
            entries = [e for e in self._batchers.values() if e is not None]
        for batcher, _ in entries:
            batcher.shutdown(drain=True, timeout=self.timeout)
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()
        self.wrapper.close()
