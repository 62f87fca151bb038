"""One loaded model version as the rest of the core sees it: a wrapper, how to run it, and
who is using it (leases)."""
from __future__ import annotations

import inspect
import threading
from typing import Mapping

import numpy as np

from serving.batching.batcher import Batcher
from serving.batching.plan import plan_for
from serving.config.batching import BatchingOptions

_UNSET = object()


class Servable:
    """A model version that answers requests; `run` is the single entry to its wrapper.

    With batching on, each signature (and output set) gets its own Batcher the first time it
    is called. Requests a batch cannot take (see batching/plan.py) go straight to the
    wrapper, so turning batching on never changes an answer.

    A request holds a lease while it uses the version (`acquire`/`release`); once the manager
    has retired it, no new lease is granted and the unloader closes it when the count is 0.
    """

    def __init__(self, name: str, version: int, wrapper, runner=None,
                 batching: BatchingOptions | None = None, timeout: float = 30.0):
        self.name = name
        self.version = version
        self.wrapper = wrapper
        self.runner = runner or wrapper.run
        # ModelWrapper.run(inline=True) keeps a lone run in its caller's thread; a wrapper
        # class of a user's own that overrides run() without it just runs as it does.
        self._runs_inline = (runner is None and callable(wrapper.run)
                             and "inline" in inspect.signature(wrapper.run).parameters)
        self.batching = batching
        self.timeout = timeout
        self.signatures = wrapper.servable_signatures
        self._batchers: dict[tuple, tuple | None] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._leases = 0
        self._retired = False
        self._lease_lock = threading.Lock()
        self._signature_def_map = None

    # -- leases ------------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take a lease; False once retired (the caller resolves again, finding the new one)."""
        with self._lease_lock:
            if self._retired:
                return False
            self._leases += 1
            return True

    def release(self) -> None:
        with self._lease_lock:
            self._leases -= 1

    def retire(self) -> None:
        """No new leases from now on (the manager has taken it out of its tables)."""
        with self._lease_lock:
            self._retired = True

    def held(self) -> bool:
        """A request holds a lease now."""
        return self._leases > 0

    def retire_if_idle(self) -> bool:
        """Retire unless a request holds a lease, in one step (an eviction must never take a
        version from under a request, nor let one take it while it goes); True if retired."""
        with self._lease_lock:
            if self._leases or self._retired:
                return False
            self._retired = True
            return True

    def idle(self) -> bool:
        """Retired and no lease held: nobody can run it any more."""
        with self._lease_lock:
            return self._retired and self._leases == 0

    # -- signatures and runs -------------------------------------------------------------------
    def signature_def_map(self):
        """Every SignatureDef (the TF2 init op too) as TF Serving's SignatureDefMap proto."""
        if self._signature_def_map is None:
            from tensorflow_serving.apis import get_model_metadata_pb2
            proto = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in self.wrapper.signatures.items():
                proto.signature_def[key].CopyFrom(signature.proto)
            self._signature_def_map = proto
        return self._signature_def_map

    def run(self, signature, feeds: Mapping[str, np.ndarray], outputs=None,
            timeout: float | None = None):
        """`timeout`: how long this request may wait for its batch (default: the server's)."""
        if self.batching is not None:
            entry = self._batchers.get((signature.key, outputs), _UNSET)
            if entry is _UNSET:
                entry = self._batcher(signature, outputs)
            if entry is not None:
                batcher, plan = entry
                rows = plan.rows(feeds)
                if rows is not None:
                    return batcher.run(feeds, rows, self.timeout if timeout is None else timeout)
        return self.runner(signature.key, feeds, outputs)

    def _batcher(self, signature, outputs):
        """Build (once, lazily: threads only for signatures in use) this signature's batcher."""
        with self._lock:
            key = (signature.key, outputs)
            if key in self._batchers:
                return self._batchers[key]
            plan = None if self._closed else plan_for(signature)
            entry = None
            if plan is not None:
                options = self.batching
                if plan.fixed:  # e.g. an input [1, 784]: one row per run, requests split
                    options = BatchingOptions(
                        max_batch_size=plan.fixed, batch_timeout_micros=0,
                        max_enqueued_batches=options.max_enqueued_batches * options.max_batch_size,
                        num_batch_threads=1, max_execution_batch_size=plan.fixed)

                # Bound to the runner, not to self: the batcher's thread must not keep this
                # servable (and its graph) alive after it is closed.
                def run_batch(feeds, _key=signature.key, _outputs=outputs, _run=self.runner):
                    return _run(_key, feeds, _outputs)

                def run_alone(feeds, _key=signature.key, _outputs=outputs, _run=self.runner):
                    return _run(_key, feeds, _outputs, inline=True)

                labels = (self.name, str(self.version), signature.key)
                entry = (Batcher(run_batch, options, labels,
                                 run_alone if self._runs_inline else None), plan)
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
