"""Servable.run: which run of the wrapper a request gets. A request that finds its batcher
idle runs alone and in its own thread (the wrapper's `inline=True`); batches formed by the
batch thread keep TensorFlow's pool; a wrapper class whose run() has no `inline` still runs."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import wrappers
from serving.config.batching import BatchingOptions
from serving.models.servable import Servable
from tests.support.helpers import eventually, model_source


@pytest.fixture(scope="module")
def wrapper():
    loaded = wrappers.loader()(str(model_source("saved_model_half_plus_two_cpu") / "00000123"))
    yield loaded
    loaded.close()


class Recording:
    """The real wrapper's run, noting each call's rows and `inline`; the first pooled run can
    be held so that requests queue behind it."""

    def __init__(self, wrapper, hold_first_batch: bool = False):
        self.wrapper, self.calls = wrapper, []
        self.servable_signatures = wrapper.servable_signatures
        self.hold = hold_first_batch
        self.entered, self.release = threading.Event(), threading.Event()

    def run(self, key, feeds, outputs=None, inline=False):
        self.calls.append((len(next(iter(feeds.values()))), inline))
        if self.hold and not inline and not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        return self.wrapper.run(key, feeds, outputs, inline=inline)

    def close(self):
        """The module's wrapper outlives each test's servable."""


def x(*values: float) -> dict:
    return {"x": np.array([[v] for v in values], np.float32)}


def test_a_lone_request_runs_inline_and_batches_on_the_pool(wrapper):
    recording = Recording(wrapper, hold_first_batch=True)
    servable = Servable("half", 123, recording, batching=BatchingOptions(
        max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1))
    signature = servable.signatures["serving_default"]
    try:
        assert servable.run(signature, x(2.0))["y"].tolist() == [[3.0]]
        assert recording.calls == [(1, True)]
        batcher = servable._batchers[("serving_default", None)][0]
        first = batcher.submit(x(4.0))  # queued: the batch thread runs it, and is held
        assert recording.entered.wait(5)
        answers = []
        callers = [threading.Thread(target=lambda v=v: answers.append(
            servable.run(signature, x(v))["y"].tolist())) for v in (6.0, 8.0)]
        for caller in callers:
            caller.start()
        assert eventually(lambda: batcher.stats()["queued"] == 2, timeout=5)
        recording.release.set()
        for caller in callers:
            caller.join(5)
        assert first.result(5)["y"].tolist() == [[4.0]]
        assert sorted(answers) == [[[5.0]], [[6.0]]]
        assert recording.calls[1:] == [(1, False), (2, False)]
    finally:
        recording.release.set()
        servable.close()


def test_a_wrapper_whose_run_takes_no_inline_is_run_as_before(wrapper):
    calls = []

    class Plain:
        servable_signatures = wrapper.servable_signatures

        def run(self, key, feeds, outputs=None):
            calls.append(key)
            return wrapper.run(key, feeds, outputs)

        def close(self):
            pass

    servable = Servable("half", 123, Plain(), batching=BatchingOptions(max_batch_size=4))
    try:
        assert servable.run(servable.signatures["serving_default"], x(2.0))["y"].tolist() \
            == [[3.0]]
        assert calls == ["serving_default"]
    finally:
        servable.close()

