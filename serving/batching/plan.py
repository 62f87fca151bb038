"""Whether a signature's requests may share a `session.run`, decided from its static shapes.

The wrapper merges each tensor's recorded shape with the graph's own (wrappers/base.py); any
doubt means "run alone", which is always correct. A request that does not fit the plan also
runs alone, so it can never fail its batch-mates.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

Shape = tuple  # of int, -1 for an unknown dimension; None stands for an unknown rank


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """How one signature batches: `fixed` rows per run (e.g. 1 for an input [1, 784]) or any."""

    inputs: Mapping[str, Shape | None]
    fixed: int | None = None

    def rows(self, feeds: Mapping[str, np.ndarray]) -> int | None:
        """The request's row count when it can join a batch; None when it must run alone."""
        rows = None
        for alias, shape in self.inputs.items():
            array = feeds.get(alias)
            if array is None or array.ndim == 0:
                return None
            if rows is None:
                rows = array.shape[0]
            elif array.shape[0] != rows:
                return None  # inputs disagree on dim0: TF decides alone what that means
            if shape is not None and not _fits(array.shape, shape):
                return None  # TF would reject it; it must not take batch-mates down with it
        return rows or None


def _fits(actual: tuple, static: Shape) -> bool:
    if len(actual) != len(static):
        return False
    return all(s < 0 or a == s for a, s in zip(actual[1:], static[1:]))


def plan_for(signature) -> BatchPlan | None:
    """A plan when every input has a batch dimension and every output keeps it; else None.

    Reads each tensor's `static_shape`: the recorded shape refined by the graph's."""
    if not signature.inputs:
        return None
    shapes = {}
    for alias, spec in signature.inputs.items():
        shape = spec.static_shape
        if shape == "conflict" or (shape is not None and len(shape) == 0):
            return None
        shapes[alias] = shape
    fixed = {s[0] for s in shapes.values() if s is not None and s[0] >= 0}
    if len(fixed) > 1 or fixed - {1}:
        return None  # a fixed batch of several rows: splitting it could change the answer
    for spec in signature.outputs.values():
        out = spec.static_shape
        if out == "conflict" or (out is not None and (len(out) == 0 or out[0] > 1)):
            return None  # a scalar or a fixed-size output is not one row per input row
        if out is not None and out[0] == 1 and not fixed:
            return None
    return BatchPlan(shapes, fixed=1 if fixed else None)
