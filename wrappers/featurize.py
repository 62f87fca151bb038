"""Featurizers wrappers declare for /get_my_predictions (serving/featurized.py calls them):
`featurize(body) -> feeds | None`, from the request's plain JSON values to numpy feeds."""
from __future__ import annotations

import math
import re
import zlib
from typing import Mapping

import numpy as np

from serving.errors import InvalidArgument

_WORD = re.compile(r"\w+", re.UNICODE)


def hashed_words(text: str, buckets: int) -> np.ndarray:
    """Bag of words by the hashing trick (crc32: stable across processes), L2-normalised."""
    counts = np.zeros(buckets, np.float32)
    for word in _WORD.findall(text.lower()):
        counts[zlib.crc32(word.encode("utf-8")) % buckets] += 1.0
    norm = float(np.linalg.norm(counts))
    return counts / norm if norm else counts


def text_feeds(body: Mapping, alias: str, shape: tuple[int, ...]) -> dict | None:
    """The body's "text" as one [1, *shape] row of hashed word counts, or None without text."""
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidArgument('"text" must be a string')
    return {alias: hashed_words(text, math.prod(shape)).reshape((1,) + shape)}
