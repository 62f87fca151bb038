"""The rule that makes a signature an image classifier, and the geometry it implies.

Read from the SignatureDef alone, so a model dropped into models/ needs no code: one
picture-shaped input and one [N, K] score output is all it takes.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from wrappers.base import Signature

SIGNATURE = "serving_default"
SCORE_NAMES = ("probabilities", "probs", "scores", "predictions", "logits")
MIN_SIDE = 8     # smaller inputs (like model_b's 4x4) are matrices, not pictures


@dataclasses.dataclass(frozen=True)
class ImageSignature:
    """Where the picture goes in and the scores come out, and the input's geometry."""

    input_alias: str
    output_alias: str
    shape: tuple[int, ...]      # the input's shape without its batch dimension
    height: int
    width: int
    channels: int
    dtype: np.dtype
    classes: int


def image_signature(signature: Signature | None) -> ImageSignature | None:
    """The rule: one input [N,H,W,C∈{1,3}], [N,H,W] or [N,H*W] (H*W square; H, W >= 8),
    float or uint8, and one [N,K] float output (or several, one named like SCORE_NAMES)."""
    if signature is None or len(signature.inputs) != 1:
        return None
    (alias, spec), = signature.inputs.items()
    dims = spec.shape[1:] if spec.shape else ()
    if spec.np_dtype is None or not (np.issubdtype(spec.np_dtype, np.floating)
                                     or spec.np_dtype == np.uint8) or any(d <= 0 for d in dims):
        return None
    if len(dims) == 3 and dims[2] in (1, 3):
        height, width, channels = dims
    elif len(dims) == 2:
        (height, width), channels = dims, 1
    elif len(dims) == 1 and math.isqrt(dims[0]) ** 2 == dims[0]:
        height = width = math.isqrt(dims[0])
        channels = 1
    else:
        return None
    if min(height, width) < MIN_SIDE:
        return None
    scores = {a: s for a, s in signature.outputs.items()
              if s.shape and len(s.shape) == 2 and s.shape[1] >= 2
              and s.np_dtype is not None and np.issubdtype(s.np_dtype, np.floating)}
    if len(scores) > 1:
        scores = {a: s for a, s in scores.items() if a.lower() in SCORE_NAMES}
    if len(scores) != 1:
        return None
    (output, score), = scores.items()
    return ImageSignature(alias, output, tuple(dims), height, width, channels, spec.np_dtype,
                          score.shape[1])
