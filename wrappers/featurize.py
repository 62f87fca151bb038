"""/get_my_predictions: one JSON body, featurized for every model that takes part, run on each.

A model takes part when its wrapper declares `featurize(body) -> feeds | None` (None: the
body holds nothing for it), or when the body names it in `instances` with raw inputs. A
wrapper may also declare `describe(outputs)` to shape its answer; otherwise the answer is
its output's first row. One model's failure becomes that model's {"error": ...} entry.
"""
from __future__ import annotations

import math
import re
import zlib
from typing import Any, Mapping

import numpy as np

from serving import tensors
from serving.errors import InvalidArgument, NotFound, ServingError
from serving.limits import DEFAULT as DEFAULT_LIMITS, Limits

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


def predict_all(manager, body: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> list[dict]:
    """[{model: answer or {"error": ...}}, ...] in model-name order."""
    raw = body.get("instances", {})
    if not isinstance(raw, dict):
        raise InvalidArgument('"instances" must map model names to that model\'s instances')
    answers = []
    for name in manager.model_names():
        try:
            answer = _predict_one(manager, name, body, raw.get(name), limits)
        except NotFound as error:
            answer = {"error": _why_unavailable(manager, name) or error.message}
        except ServingError as error:
            answer = {"error": error.message}
        if answer is not None:
            answers.append({name: answer})
    if not answers:
        raise InvalidArgument('Nothing to predict: send "text", "image": {"b64": ...} or '
                              '"instances": {"<model>": [...]}')
    return answers


def _predict_one(manager, name: str, body: Mapping, instances: Any, limits: Limits):
    servable = manager.resolve(name)
    signature = servable.signature(None)
    wrapper = servable.wrapper
    if instances is not None:
        feeds = tensors.decode_instances(instances, signature.inputs, limits=limits)
        return tensors.encode_predict(servable.run(signature, feeds), False)["predictions"]
    featurize = getattr(wrapper, "featurize", None)
    feeds = featurize(body) if featurize is not None else None
    if feeds is None:
        return None
    outputs = servable.run(signature, feeds)
    describe = getattr(wrapper, "describe", None)
    if describe is not None:
        return describe(outputs)
    return tensors.encode_predict(outputs, False)["predictions"][0]


def _why_unavailable(manager, name: str) -> str | None:
    try:
        failed = [s for s in manager.status(name) if s.error_code != "OK"]
    except NotFound:
        return None
    if not failed:
        return None
    return f"Model {name} has no version that can serve: {failed[0].error_message}"
