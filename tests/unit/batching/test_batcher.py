"""The batcher's contract, pinned with extreme timeouts and gates instead of sleeps.

A 1000 s window means only a full batch (or an idle queue) can release a batch; a gate holds
the first batch inside the model so the next requests pile up behind it. The stub model
records how many rows each run received, which is what the assertions read.
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import wait

import numpy as np
import pytest

from serving.batching.batcher import QUEUE_FULL, Batcher
from serving.config.batching import BatchingOptions
from serving.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, Unavailable
from tests.support.helpers import eventually

FOREVER = 1000 * 1000 * 1000  # µs: a window that never closes by itself within a test
SHORT = 0.05                  # s: how long "nothing happened yet" is watched


class StubModel:
    """y = 2x; records the rows of every run; can hold its first run or fail on a value."""

    def __init__(self, hold_first: bool = False, poison: float | None = None):
        self.inputs: list[np.ndarray] = []
        self.hold_first, self.poison = hold_first, poison
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, feeds):
        x = feeds["x"]
        self.inputs.append(x.copy())
        if self.hold_first and len(self.inputs) == 1:
            self.entered.set()
            assert self.release.wait(10), "test never released the held batch"
        if self.poison is not None and self.poison in x:
            raise ValueError("poisoned batch")
        return {"y": x * 2}

    @property
    def runs(self) -> list[list[float]]:
        return [x[:, 0].tolist() for x in self.inputs]

    @property
    def rows(self) -> list[int]:
        return [len(x) for x in self.inputs]


def rows(*values: float) -> dict:
    return {"x": np.array([[v] for v in values], dtype=np.float32)}


def make(model, threads: int = 1, **options) -> Batcher:
    options.setdefault("batch_timeout_micros", FOREVER)
    return Batcher(model, BatchingOptions(num_batch_threads=threads, **options))


@contextlib.contextmanager
def holding(threads: int = 1, **options):
    """A batcher whose first batch (request 0.0) is held inside the model until the end.

    With one thread nobody forms the next batch meanwhile, so requests pile up untouched;
    with two, the second thread forms the next batch while the first one is "running".
    """
    model = StubModel(hold_first=True)
    batcher = make(model, threads=threads, **options)
    first = batcher.submit(rows(0.0))
    assert model.entered.wait(5)
    try:
        yield batcher, model, first
    finally:
        model.release.set()
        batcher.shutdown(timeout=5)


def test_an_idle_single_request_is_not_delayed_by_the_window():
    model = StubModel()
    batcher = make(model)
    assert batcher.submit(rows(1.0)).result(timeout=5)["y"].tolist() == [[2.0]]
    batcher.shutdown()


def test_a_request_that_finds_the_batcher_idle_runs_in_its_own_thread():
    threads = []
    batcher = make(lambda feeds: threads.append(threading.get_ident()) or {"y": feeds["x"]})
    assert batcher.run(rows(1.0))["y"].tolist() == [[1.0]]
    assert threads == [threading.get_ident()]  # no hand-off to the batch thread and back
    assert batcher.stats()["inline_batches"] == 1
    batcher.shutdown()


def test_a_run_with_no_company_goes_to_the_inline_runner_and_batches_to_the_runner():
    """The wrapper keeps a lone run in its caller's thread (inline_runner); batches formed
    by the batch thread use the runner, which keeps TensorFlow's pool."""
    alone, batched = StubModel(), StubModel(hold_first=True)
    batcher = Batcher(batched, BatchingOptions(num_batch_threads=1,
                                               batch_timeout_micros=FOREVER,
                                               max_batch_size=2), inline_runner=alone)
    try:
        assert batcher.run(rows(1.0))["y"].tolist() == [[2.0]]
        first = batcher.submit(rows(2.0))  # through the queue: the batch thread runs it
        assert batched.entered.wait(5)
        later = [batcher.submit(rows(v)) for v in (3.0, 4.0)]
        batched.release.set()
        assert [f.result(5)["y"].tolist() for f in (first, *later)] == [[[4.0]], [[6.0]],
                                                                        [[8.0]]]
        assert alone.runs == [[1.0]] and batched.runs == [[2.0], [3.0, 4.0]]
    finally:
        batched.release.set()
        batcher.shutdown(timeout=5)


def test_a_request_never_overtakes_a_running_batch():
    with holding(max_batch_size=4) as (batcher, model, _):
        answers = []
        caller = threading.Thread(target=lambda: answers.append(batcher.run(rows(1.0))))
        caller.start()
        caller.join(SHORT)
        assert not answers and model.rows == [1]  # queued, not run beside the held batch
        model.release.set()
        caller.join(5)
        assert answers[0]["y"].tolist() == [[2.0]] and model.rows == [1, 1]


def test_a_batch_forms_when_full():
    with holding(threads=2, max_batch_size=4) as (batcher, model, _):
        waiting = [batcher.submit(rows(v)) for v in (1.0, 2.0, 3.0)]
        done, _ = wait(waiting, timeout=SHORT)
        assert not done  # a batch is running, so the window stays open: 3 rows of 4
        waiting.append(batcher.submit(rows(4.0)))
        assert [f.result(5)["y"].tolist() for f in waiting] == [[[2.0]], [[4.0]], [[6.0]],
                                                                [[8.0]]]
        assert model.rows == [1, 4]


def test_a_batch_is_released_when_its_window_closes():
    with holding(threads=2, max_batch_size=4, batch_timeout_micros=200_000) as (batcher,
                                                                                 model, _):
        started = time.monotonic()
        assert batcher.submit(rows(1.0)).result(5)["y"].tolist() == [[2.0]]
        assert time.monotonic() - started >= 0.2  # it waited for company, then went alone
        assert model.rows == [1, 1]


def test_rows_not_requests_count_toward_the_batch_size():
    with holding(threads=2, max_batch_size=4) as (batcher, model, _):
        two = batcher.submit(rows(1.0, 2.0))
        three = batcher.submit(rows(3.0, 4.0, 5.0))  # 2 + 3 > 4: closes the batch of two
        one = batcher.submit(rows(6.0))              # 3 + 1 = 4: fills the next one
        assert two.result(5)["y"].tolist() == [[2.0], [4.0]]
        assert three.result(5)["y"].tolist() == [[6.0], [8.0], [10.0]]
        assert one.result(5)["y"].tolist() == [[12.0]]
        assert model.rows == [1, 2, 4]
        assert batcher.stats()["batch_rows"] == {2: 1, 4: 1}  # the held batch is not done


def test_a_request_larger_than_the_batch_is_split_in_order():
    model = StubModel()
    batcher = make(model, max_batch_size=4)
    answer = batcher.submit(rows(*range(10))).result(timeout=5)
    assert answer["y"][:, 0].tolist() == [2.0 * v for v in range(10)]
    assert sorted(model.rows) == [2, 4, 4]
    batcher.shutdown()


def test_an_oversized_request_is_refused_when_splitting_is_off():
    batcher = make(StubModel(), max_batch_size=4, enable_large_batch_splitting=False)
    with pytest.raises(InvalidArgument, match="Task size 5 is larger than maximum batch size 4"):
        batcher.submit(rows(*range(5)))
    batcher.shutdown()


def test_a_model_error_reaches_exactly_its_batch_mates_and_the_thread_lives_on():
    model = StubModel(hold_first=True, poison=-1.0)
    batcher = make(model, max_batch_size=4)
    first = batcher.submit(rows(0.0))
    assert model.entered.wait(5)
    mates = [batcher.submit(rows(-1.0)), batcher.submit(rows(5.0))]
    model.release.set()
    assert first.result(5)["y"].tolist() == [[0.0]]
    for mate in mates:
        with pytest.raises(ValueError, match="poisoned batch"):
            mate.result(5)
    assert model.rows == [1, 2]
    assert batcher.submit(rows(7.0)).result(5)["y"].tolist() == [[14.0]]
    assert batcher.stats()["failed_batches"] == 1
    batcher.shutdown()


def test_cancelled_and_expired_requests_are_not_run():
    with holding(max_batch_size=4) as (batcher, model, first):
        cancelled = batcher.submit(rows(1.0))
        assert cancelled.cancel()
        expired = batcher.submit(rows(2.0), deadline=time.monotonic())
        model.release.set()
        with pytest.raises(DeadlineExceeded):
            expired.result(5)
        first.result(5)
        assert batcher.submit(rows(3.0)).result(5)["y"].tolist() == [[6.0]]
        assert [v for run in model.runs for v in run] == [0.0, 3.0]
        assert batcher.stats()["cancelled"] == 1 and batcher.stats()["expired"] == 1


def test_a_request_withdrawn_while_its_batch_waits_for_a_slot_is_not_run():
    model = StubModel(hold_first=True)
    batcher = make(model, max_batch_size=4)
    lone = threading.Thread(target=batcher.run, args=(rows(0.0),))
    lone.start()
    assert model.entered.wait(5)  # the lone request runs inline and holds the only slot
    waiting = batcher.submit(rows(1.0))
    assert eventually(lambda: batcher._slots.claiming)  # the batch thread has it, awaits the slot
    assert waiting.cancel()  # not marked running yet, so its caller can still withdraw it
    model.release.set()
    lone.join(5)
    assert batcher.submit(rows(2.0)).result(5)["y"].tolist() == [[4.0]]
    assert model.runs == [[0.0], [2.0]]
    batcher.shutdown()


def test_a_request_that_waits_past_its_timeout_is_withdrawn_with_504():
    with holding(max_batch_size=4) as (batcher, model, _):
        with pytest.raises(DeadlineExceeded, match="waited"):
            batcher.run(rows(1.0), timeout=SHORT)
        model.release.set()
        assert batcher.submit(rows(2.0)).result(5)["y"].tolist() == [[4.0]]
        assert 1.0 not in [v for run in model.runs for v in run]


def test_a_full_queue_answers_overloaded_at_once():
    with holding(max_batch_size=1, max_enqueued_batches=2) as (batcher, model, _):
        queued = [batcher.submit(rows(1.0)), batcher.submit(rows(2.0))]
        with pytest.raises(Unavailable, match=QUEUE_FULL):
            batcher.submit(rows(3.0))
        model.release.set()
        assert [f.result(5)["y"].tolist() for f in queued] == [[[2.0]], [[4.0]]]


def test_shutdown_resolves_every_future_even_a_stuck_batch():
    with holding(max_batch_size=1) as (batcher, model, stuck):
        queued = [batcher.submit(rows(v)) for v in (1.0, 2.0)]
        batcher.shutdown(drain=False, timeout=SHORT)
        for future in [stuck, *queued]:
            assert isinstance(future.exception(timeout=0), Unavailable)
        with pytest.raises(Unavailable):
            batcher.submit(rows(3.0))


def test_shutdown_with_drain_answers_what_is_queued():
    with holding(max_batch_size=4) as (batcher, model, first):
        queued = [batcher.submit(rows(v)) for v in (1.0, 2.0)]
        model.release.set()
        batcher.shutdown(drain=True, timeout=5)
        assert [f.result(0)["y"].tolist() for f in [first, *queued]] == [[[0.0]], [[2.0]],
                                                                        [[4.0]]]


def test_requests_with_other_non_batch_dims_are_never_concatenated():
    with holding(max_batch_size=4) as (batcher, model, _):
        narrow = batcher.submit({"x": np.ones((1, 1), np.float32)})
        wide = batcher.submit({"x": np.ones((1, 3), np.float32)})
        model.release.set()
        assert narrow.result(5)["y"].shape == (1, 1) and wide.result(5)["y"].shape == (1, 3)
        assert model.rows == [1, 1, 1]


def test_variable_length_inputs_are_padded_with_the_first_element_when_asked():
    with holding(max_batch_size=4, pad_variable_length_inputs=True) as (batcher, model, _):
        futures = [batcher.submit({"x": np.array([row], np.float32)})
                   for row in ([7], [1, 2, 3], [4, 4, 4], [9, 9])]
        model.release.set()
        answers = [f.result(5)["y"].tolist() for f in futures]
        assert model.inputs[1].tolist() == [[7, 7, 7], [1, 2, 3], [4, 4, 4], [9, 9, 9]]
        assert answers == [[[14, 14, 14]], [[2, 4, 6]], [[8, 8, 8]], [[18, 18, 18]]]


def test_allowed_batch_sizes_pad_the_batch_and_padding_never_reaches_a_client():
    model = StubModel()
    batcher = make(model, max_batch_size=4, allowed_batch_sizes=(2, 4))
    answer = batcher.submit(rows(1.0, 2.0, 3.0)).result(5)
    assert answer["y"][:, 0].tolist() == [2.0, 4.0, 6.0]
    assert model.runs == [[1.0, 2.0, 3.0, 1.0]]  # the first row of the last request repeated
    assert batcher.stats()["padded_rows"] == 1
    batcher.shutdown()


def test_an_output_that_lost_the_batch_dimension_fails_the_batch_with_a_clear_error():
    with holding(max_batch_size=4) as (batcher, model, _):
        batcher.runner = lambda feeds: {"y": np.zeros(1)}
        mates = [batcher.submit(rows(1.0)), batcher.submit(rows(2.0))]
        model.release.set()
        for mate in mates:
            with pytest.raises(FailedPrecondition, match="must keep dim0 as the batch"):
                mate.result(5)
