"""The in-flight gauge autoscalers read (serving_requests_in_flight): a request counts from the
moment it resolves a version until its Target is closed, on every path out, and only then."""
from __future__ import annotations

import pytest

from serving import metrics
from serving.config.limits import DEFAULT as LIMITS
from serving.errors import NotFound
from serving.inference import Inference, ModelSpec, Target


class _Servable:
    def __init__(self, name: str):
        self.name, self.version, self.leases = name, 1, 0

    def acquire(self) -> bool:
        self.leases += 1
        return True

    def release(self) -> None:
        self.leases -= 1


class _Manager:
    """Knows one model; resolving any other raises NotFound as the real manager does."""

    def __init__(self, name: str):
        self.servable = _Servable(name)

    def acquire(self, name, version=None, label=None, timeout=None):
        if name != self.servable.name:
            raise NotFound(f"Servable not found for request: Latest({name})")
        self.servable.acquire()
        return self.servable


def in_flight(model: str) -> float:
    value = metrics._m().registry.get_sample_value("serving_requests_in_flight",
                                                   {"model": model})
    return value or 0.0


@pytest.fixture
def inference(request):
    return Inference(_Manager(request.node.name[:40]), LIMITS)


def test_a_request_is_in_flight_while_it_holds_its_target(inference):
    name = inference.manager.servable.name
    with inference.resolve(ModelSpec(name)):
        assert in_flight(name) == 1
        with inference.resolve(ModelSpec(name)):
            assert in_flight(name) == 2
        assert in_flight(name) == 1
    assert in_flight(name) == 0


def test_a_request_that_fails_inside_its_lease_is_no_longer_counted(inference):
    name = inference.manager.servable.name
    with pytest.raises(ValueError):
        with inference.resolve(ModelSpec(name)):
            raise ValueError("the model failed")
    assert in_flight(name) == 0 and inference.manager.servable.leases == 0


def test_closing_a_target_twice_counts_it_out_once(inference):
    name = inference.manager.servable.name
    outer, inner = inference.resolve(ModelSpec(name)), inference.resolve(ModelSpec(name))
    inner.close()
    inner.close()
    assert in_flight(name) == 1
    outer.close()
    assert in_flight(name) == 0


def test_an_unknown_model_is_never_counted(inference):
    with pytest.raises(NotFound):
        inference.resolve(ModelSpec("no_such_model"))
    assert metrics._m().registry.get_sample_value(
        "serving_requests_in_flight", {"model": "no_such_model"}) is None


def test_warmups_targets_are_not_requests(inference):
    servable = inference.manager.servable
    with Target(servable, ModelSpec(servable.name)):   # as serving/warmup.py builds them
        assert in_flight(servable.name) == 0
