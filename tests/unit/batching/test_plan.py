"""Which signatures batch, decided from their static shapes (serving/batching/plan.py),
and which requests may join a batch."""
import numpy as np
import pytest

from serving.batching.plan import BatchPlan, plan_for


class _Spec:
    def __init__(self, shape):
        self.static_shape = shape


class _Signature:
    def __init__(self, inputs, outputs):
        self.inputs = {k: _Spec(v) for k, v in inputs.items()}
        self.outputs = {k: _Spec(v) for k, v in outputs.items()}


@pytest.mark.parametrize("inputs, outputs, expected", [
    ({"x": (-1, 784)}, {"y": (-1, 62)}, "any"),
    ({"x": (1, 4)}, {"y": (1, 4)}, 1),               # fixed batch of one: split, never joined
    ({"x": (8, 4)}, {"y": (8, 4)}, None),            # a fixed batch of several rows: alone
    ({"x": ()}, {"y": ()}, None),                    # scalars have no batch dimension
    ({"x": (-1, 3)}, {"y": ()}, None),               # an output without one either
    ({}, {"y": (-1,)}, None),                        # nothing to batch
    ({"x": None}, {"y": None}, "any"),               # unknown rank: checked per request
    ({"x": "conflict"}, {"y": (-1,)}, None),         # recorded and graph shapes disagree
])
def test_plan_follows_the_static_shapes(inputs, outputs, expected):
    plan = plan_for(_Signature(inputs, outputs))
    if expected is None:
        assert plan is None
    else:
        assert plan is not None and plan.fixed == (None if expected == "any" else expected)


@pytest.mark.parametrize("feeds, expected", [
    ({"a": np.zeros((3, 4)), "b": np.zeros((3,))}, 3),
    ({"a": np.zeros((3, 5)), "b": np.zeros((3,))}, None),   # TF would reject it: runs alone
    ({"a": np.zeros((3, 4)), "b": np.zeros((2,))}, None),   # dim0 disagrees
    ({"a": np.zeros(()), "b": np.zeros((1,))}, None),       # rank 0
])
def test_a_request_joins_a_batch_only_when_it_fits_the_plan(feeds, expected):
    assert BatchPlan({"a": (-1, 4), "b": (-1,)}).rows(feeds) == expected
