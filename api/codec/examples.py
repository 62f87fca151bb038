"""TF Serving's :classify and :regress bodies: JSON examples → serialized tf.Example, and the
core's results → JSON `results`."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

from api.codec.tensors import b64_decode, is_b64, json_type
from serving.config.limits import DEFAULT as DEFAULT_LIMITS
from serving.config.limits import Limits
from serving.errors import InvalidArgument

_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _kind(value: Any, feature: str) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str) or (is_b64(value) and isinstance(value["b64"], str)):
        return "bytes"
    raise InvalidArgument(f"Feature: {feature} has element with unexpected JSON type: "
                          f"{json_type(value)}")


def _bytes(value: Any, limits: Limits) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    limits.check_b64(value["b64"])
    return b64_decode(value["b64"])


def _feature(name: str, value: Any, limits: Limits) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    if not values:
        return feature_pb2.Feature()
    kind = _kind(values[0], name)
    for item in values:
        if _kind(item, name) != kind:
            raise InvalidArgument(f"Unexpected element type in feature: {name} expecting type: "
                                  f"{kind}")
    if kind == "int64":
        ints = [int(v) for v in values]
        if any(not _INT64[0] <= v <= _INT64[1] for v in ints):
            raise InvalidArgument(f"Feature: {name} has uint64 element. Only int64 is "
                                  f"supported.")
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=ints))
    if kind == "float":
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
    return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
        value=[_bytes(v, limits) for v in values]))


def _example(features: Mapping[str, Any], limits: Limits) -> example_pb2.Example:
    example = example_pb2.Example()
    for name, value in features.items():
        example.features.feature[name].CopyFrom(_feature(name, value, limits))
    return example


def decode_examples(body: Mapping, verb: str, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """The serialized tf.Examples of a classify/regress body (context merged into each)."""
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise InvalidArgument("'context' must be a JSON object")
    # Like TF Serving: serialized context + serialized example, so the example's own value
    # wins for a feature both define (the later map entry wins when TensorFlow parses it).
    prefix = _example(context, limits).SerializeToString() if context else b""
    if "examples" not in body:
        raise InvalidArgument(f"When method is {verb}, key 'examples' is expected and was not "
                              f"found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise InvalidArgument("Expecting 'examples' value to be an list/array")
    if not examples:
        raise InvalidArgument("'examples' value is an empty array")
    limits.check_rows(len(examples), "examples")
    serialized = np.empty(len(examples), dtype=object)
    for index, item in enumerate(examples):
        if not isinstance(item, dict):
            raise InvalidArgument(f"Example must be JSON object but got JSON {json_type(item)}")
        serialized[index] = prefix + _example(item, limits).SerializeToString()
    return serialized


def encode_regress(values: np.ndarray) -> dict:
    """One float per example, in request order."""
    return {"results": values}


def encode_classify(result) -> dict:
    """[[label, score], ...] per example; label "" without classes, score 0 without scores."""
    scores, classes = result.scores, result.classes
    rows, width = (scores if scores is not None else classes).shape[:2]
    results = []
    for row in range(rows):
        pairs = []
        for column in range(width):
            label = "" if classes is None else _text(classes[row, column])
            score = 0.0 if scores is None else scores[row, column]
            pairs.append([label, score])
        results.append(pairs)
    return {"results": results}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
