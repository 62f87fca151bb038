"""Triton's classification extension: an output replaced by its largest values as labels,
written as Triton's server writes them (server src/classification.cc)."""
from __future__ import annotations

import math

import numpy as np

from serving.errors import InvalidArgument
from serving.oip import datatypes

# What Triton classifies; it refuses FP16, BF16, BOOL and BYTES outputs.
CLASSIFIABLE = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                          "INT64", "FP32", "FP64"})


def classify(array: np.ndarray, count: int, batched: bool) -> np.ndarray:
    """Triton's classification extension: the `count` largest values of each row (of the
    whole tensor when the signature does not batch), as BYTES "value:index", largest first."""
    datatype = datatypes.of_array(array)
    if datatype not in CLASSIFIABLE:
        raise InvalidArgument(f"class result not available for output due to unsupported "
                              f"type '{datatype}'")
    if array.ndim == 0:
        raise InvalidArgument("classification needs a numeric output of rank 1 or more")
    rows = array.reshape(array.shape[0], -1) if batched and array.ndim > 1 \
        else array.reshape(1, -1)
    count = min(count, rows.shape[1])
    top = _largest_first(rows)[:, :count]
    labels = np.empty(top.shape, dtype=object)
    for r, indices in enumerate(top):
        for k, index in enumerate(indices):
            labels[r, k] = f"{label(rows[r, index])}:{int(index)}".encode()
    return labels if batched and array.ndim > 1 else labels.reshape(count)


def label(value) -> str:
    """C++'s std::to_string, as Triton writes a value: an integer in decimal, a float as
    printf's "%f" (six decimals; inf, -inf, nan and glibc's -nan)."""
    if isinstance(value, np.integer):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "-nan" if math.copysign(1.0, number) < 0 else "nan"
    return f"{number:f}"


def _largest_first(rows: np.ndarray) -> np.ndarray:
    """Each row's indices by value, largest first, ties by lower index, NaN last. Integers
    are sorted as they are: as float64, 64-bit values above 2**53 would tie or swap."""
    if rows.dtype.kind == "f":
        return np.argsort(-rows, axis=1, kind="stable")
    # Reversed, sorted ascending (stable), read backwards: descending, ties by lower index.
    return rows.shape[1] - 1 - np.argsort(rows[:, ::-1], axis=1, kind="stable")[:, ::-1]
