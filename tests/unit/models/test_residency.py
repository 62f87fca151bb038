"""The memory budget's policy (serving/models/residency.py), with fake models: sizes the test
chooses, a fake resident-memory reading, and gates instead of sleeps."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from serving.errors import LoadError, ModelDoesNotFit, Unavailable
from serving.models.residency import Residency
from serving.models.servable import Servable
from tests.support.helpers import wait_until

MB = 2**20


class Models:
    """Loads models of chosen sizes into a fake process memory; gates hold chosen loads."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = sizes
        self.rss = 100 * MB
        self.loads: list[str] = []
        self.closed: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.broken: set[str] = set()

    def loader(self, name: str, version: int = 1):
        def load():
            if name in self.gates:
                assert self.gates[name].wait(30)
            if name in self.broken:
                raise LoadError(f"{name} is broken", "INVALID_ARGUMENT")
            self.loads.append(name)
            self.rss += self.sizes[name]
            return Servable(name, version, SimpleNamespace(
                servable_signatures={}, run=None, close=lambda: self._close(name)))
        return load

    def _close(self, name: str) -> None:
        self.closed.append(name)
        self.rss -= self.sizes[name]


@pytest.fixture
def models():
    return Models({"a": 10 * MB, "b": 10 * MB, "c": 10 * MB, "big": 50 * MB})


def residency_for(models: Models, budget: int = 25 * MB, **options) -> Residency:
    return Residency(budget, memory=lambda: models.rss, release=lambda refrozen: None,
                     **options)


def fetch(residency: Residency, models: Models, name: str, files: int = MB, **kw):
    return residency.fetch((name, 1), models.loader(name), files, **kw)


def use(residency, models, name):
    fetch(residency, models, name).release()


def test_the_first_request_loads_and_the_next_finds_it_loaded(models):
    residency = residency_for(models)
    first = fetch(residency, models, "a")
    second = fetch(residency, models, "a")
    assert first is second and models.loads == ["a"]
    assert residency.resident_bytes(("a", 1)) == 10 * MB  # measured, not the files' 1 MB


def test_concurrent_first_requests_cause_one_load_and_each_gets_a_lease(models):
    residency = residency_for(models)
    models.gates["a"] = threading.Event()
    got = []
    threads = [threading.Thread(target=lambda: got.append(fetch(residency, models, "a")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: residency._flights.get(("a", 1)) is not None
               and residency._flights[("a", 1)].waiters == 8, what="8 waiting requests")
    models.gates["a"].set()
    for thread in threads:
        thread.join(30)
    assert models.loads == ["a"] and len(got) == 8 and len({id(s) for s in got}) == 1
    assert got[0]._leases == 8  # taken for them before anyone else could evict it


def test_the_least_recently_used_version_is_unloaded_first(models):
    residency = residency_for(models)
    use(residency, models, "a")
    use(residency, models, "b")
    use(residency, models, "a")  # a is now more recently used than b
    use(residency, models, "c")
    assert models.closed == ["b"]
    assert residency.lru() == [("a", 1), ("c", 1)]
    assert models.rss == 100 * MB + 20 * MB


def test_a_pinned_model_is_never_unloaded_to_make_room(models):
    residency = residency_for(models, pinned={"a"})
    use(residency, models, "a")
    use(residency, models, "b")
    use(residency, models, "c")
    assert models.closed == ["b"]
    use(residency, models, "b")
    assert models.closed == ["b", "c"] and residency.resident_bytes(("a", 1)) == 10 * MB


def test_a_version_a_request_holds_is_not_unloaded_and_the_request_completes(models):
    residency = residency_for(models)
    held = fetch(residency, models, "a")  # oldest, but in flight
    use(residency, models, "b")
    use(residency, models, "c")
    assert models.closed == ["b"]
    assert held.acquire()  # not retired: the request holding it goes on
    held.release()
    held.release()
    assert residency.lru() == [("a", 1), ("c", 1)]


def test_a_model_that_cannot_fit_gets_resource_exhausted_naming_model_size_and_budget(models):
    residency = residency_for(models)
    with pytest.raises(ModelDoesNotFit) as raised:
        fetch(residency, models, "big", files=50 * MB)
    assert "big" in raised.value.message and "50.0 MiB" in raised.value.message
    assert "25.0 MiB" in raised.value.message and raised.value.code == "RESOURCE_EXHAUSTED"
    assert models.loads == [] and raised.value.retry_after >= 1


def test_when_every_other_version_is_held_the_load_is_refused_and_nothing_is_unloaded(models):
    residency = residency_for(models)
    a, b = fetch(residency, models, "a"), fetch(residency, models, "b")
    with pytest.raises(ModelDoesNotFit, match="held by pinned models or requests in flight"):
        fetch(residency, models, "c", files=10 * MB)
    assert models.closed == []
    a.release()
    use(residency, models, "c")  # once a request ends, its version may go
    assert models.closed == ["a"]
    b.release()


def test_a_failed_load_reaches_every_waiter_and_the_next_request_tries_again(models):
    residency = residency_for(models)
    models.broken.add("a")
    with pytest.raises(LoadError, match="a is broken"):
        fetch(residency, models, "a")
    models.broken.clear()
    use(residency, models, "a")
    assert models.loads == ["a"]


def test_a_request_stops_waiting_after_the_timeout_and_the_load_still_lands(models):
    residency = residency_for(models)
    models.gates["a"] = threading.Event()
    with pytest.raises(Unavailable, match="still loading"):
        fetch(residency, models, "a", timeout=0.01)
    models.gates["a"].set()
    wait_until(lambda: residency.resident_bytes(("a", 1)) is not None, what="the load")
    servable = fetch(residency, models, "a")
    assert servable._leases == 1  # none was taken for the request that gave up
    servable.release()


def test_the_load_timeout_bounds_a_request_whose_deadline_is_longer(models):
    residency = residency_for(models, load_timeout=0.01)
    models.gates["a"] = threading.Event()
    with pytest.raises(Unavailable, match="still loading after 0.01s"):
        fetch(residency, models, "a", timeout=30)  # the client's deadline: the shorter wins
    models.gates["a"].set()


def test_the_next_estimate_is_the_last_measurement(models):
    residency = residency_for(models)
    use(residency, models, "a")
    assert residency._estimate(("a", 1), MB) == 10 * MB
    assert residency._estimate(("b", 1), MB) == 10 * MB  # files + what loads cost beyond
    assert residency._estimate(("b", 1), 20 * MB) == 25 * MB  # never more than the budget


def test_a_version_measured_low_on_a_later_load_keeps_its_largest_size(models):
    residency = residency_for(models)
    use(residency, models, "a")
    residency.unload("a")
    models.sizes["a"] = 4 * MB  # the next load reuses freed heap: its growth reads low
    use(residency, models, "a")
    assert residency.resident_bytes(("a", 1)) == 10 * MB


def test_a_load_that_reuses_freed_heap_counts_the_heap_it_took(models):
    heap = {"in use": 0}
    real = models.loader("a")

    def load():  # malloc hands out 10 MB, from heap freed before: the resident set grows 2
        servable = real()
        models.rss -= 8 * MB
        heap["in use"] += 10 * MB
        return servable
    residency = residency_for(models, heap=lambda: heap["in use"])
    residency.fetch(("a", 1), load, MB).release()
    assert residency.resident_bytes(("a", 1)) == 10 * MB


def test_a_load_measured_below_its_files_counts_its_files(models):
    models.sizes["a"] = 0  # e.g. it reused memory an unload freed
    residency = residency_for(models)
    fetch(residency, models, "a", files=3 * MB).release()
    assert residency.resident_bytes(("a", 1)) == 3 * MB


def test_an_admin_unload_closes_idle_versions_now_and_held_ones_when_they_end(models):
    retired = []
    residency = residency_for(models, discard=retired.append)
    use(residency, models, "a")
    held = fetch(residency, models, "b")
    assert residency.unload("a") == 1 and models.closed == ["a"]
    assert residency.unload("b") == 1 and retired == [held] and not held.acquire()
    assert residency.lru() == []
    held.release()


def test_a_version_unloaded_by_the_manager_while_loading_goes_to_its_waiters_then_away(models):
    retired = []
    residency = residency_for(models, discard=retired.append)
    models.gates["a"] = threading.Event()
    got = []
    thread = threading.Thread(target=lambda: got.append(fetch(residency, models, "a")))
    thread.start()
    wait_until(lambda: ("a", 1) in residency._flights, what="the load")
    residency.forget(("a", 1))
    models.gates["a"].set()
    thread.join(30)
    assert got and retired == got and residency.resident_bytes(("a", 1)) is None
    got[0].release()


def test_loads_beyond_max_concurrent_loads_wait_their_turn(models):
    residency = residency_for(models, max_concurrent_loads=1)
    models.gates["a"] = threading.Event()
    threading.Thread(target=lambda: use(residency, models, "a"), daemon=True).start()
    wait_until(lambda: ("a", 1) in residency._flights, what="a's load")
    done = threading.Event()
    threading.Thread(target=lambda: (use(residency, models, "b"), done.set()),
                     daemon=True).start()
    wait_until(lambda: ("b", 1) in residency._flights, what="b's load to be asked for")
    assert not done.is_set() and models.loads == []
    models.gates["a"].set()
    assert done.wait(30) and models.loads == ["a", "b"]
