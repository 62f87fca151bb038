"""Triton's classification extension: an output replaced by its largest values as labels."""
from __future__ import annotations

import numpy as np

from serving.errors import InvalidArgument


def classify(array: np.ndarray, count: int, batched: bool) -> np.ndarray:
    """Triton's classification extension: the `count` largest values of each row (of the
    whole tensor when the signature does not batch), as BYTES "value:index", largest first."""
    if array.dtype.kind not in "iuf" or array.ndim == 0:
        raise InvalidArgument("classification needs a numeric output of rank 1 or more")
    rows = array.reshape(array.shape[0], -1) if batched and array.ndim > 1 \
        else array.reshape(1, -1)
    count = min(count, rows.shape[1])
    top = np.argsort(-rows.astype(np.float64), axis=1, kind="stable")[:, :count]
    labels = np.empty(top.shape, dtype=object)
    for r, indices in enumerate(top):
        for k, index in enumerate(indices):
            labels[r, k] = f"{float(rows[r, index]):f}:{int(index)}".encode()
    return labels if batched and array.ndim > 1 else labels.reshape(count)
