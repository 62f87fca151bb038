"""TensorFlow Serving's request messages (tensorflow-serving-api protos) as core calls.

The gRPC front answers them, and warmup (serving/warmup.py) replays them from a version's
PredictionLog file, so both run a request exactly the same way: TF Serving's checks on the
ModelSpec first (§2 of shared/docs/tfserving_grpc.md), then the verb's own.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from serving import tensor_proto
from serving.config.limits import Limits
from serving.errors import InvalidArgument
from serving.inference import Inference, ModelSpec, Target, Task

Resolve = Callable[..., Target]  # resolve(spec, timeout=None): timeout bounds a load's wait


def model_spec(request, field: str = "model_spec") -> ModelSpec:
    """The request's ModelSpec; the version goes by presence (`version` even 0, or
    `version_label` even "")."""
    if not request.HasField(field):
        raise InvalidArgument("Missing ModelSpec")
    spec = getattr(request, field)
    if not spec.name:
        raise InvalidArgument("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    return ModelSpec(spec.name, spec.version.value if choice == "version" else None,
                     spec.version_label if choice == "version_label" else None,
                     spec.signature_name)


def feeds(request, limits: Limits) -> dict[str, np.ndarray]:
    """A PredictRequest's inputs as arrays, read with TensorFlow's rules; the element limit is
    checked on the shapes first, so no oversized tensor is ever built."""
    limits.check_elements(sum(tensor_proto.element_count(proto)
                              for proto in request.inputs.values()))
    arrays = {}
    for alias in request.inputs:
        try:
            arrays[alias] = tensor_proto.to_array(request.inputs[alias])
        except tensor_proto.TensorParseError:
            raise InvalidArgument(f"tensor parsing error: {alias}") from None
    return arrays


def examples(input_message) -> np.ndarray:
    """An Input's serialized tf.Examples; a context's bytes go before each example's, so the
    example wins where both set a feature (TF Serving's way)."""
    kind = input_message.WhichOneof("kind")
    if kind == "example_list":
        prefix, listed = b"", input_message.example_list.examples
    elif kind == "example_list_with_context":
        both = input_message.example_list_with_context
        prefix, listed = both.context.SerializeToString(), both.examples
    else:
        listed, prefix = (), b""
    serialized = np.empty(len(listed), dtype=object)
    for index, example in enumerate(listed):
        serialized[index] = prefix + example.SerializeToString()
    return serialized


def predict(inference: Inference, resolve: Resolve, request, timeout: float | None = None):
    """(target, outputs) of a PredictRequest; the target's lease is already returned."""
    spec = model_spec(request)
    with resolve(spec, timeout=timeout) as target:
        outputs = inference.predict(target, feeds(request, inference.limits),
                                    list(request.output_filter), timeout=timeout)
    return target, outputs


def classify(inference: Inference, resolve: Resolve, request, timeout: float | None = None):
    spec = model_spec(request)
    with resolve(spec, timeout=timeout) as target:
        return target, inference.classify(target, examples(request.input), timeout=timeout)


def regress(inference: Inference, resolve: Resolve, request, timeout: float | None = None):
    spec = model_spec(request)
    with resolve(spec, timeout=timeout) as target:
        return target, inference.regress(target, examples(request.input), timeout=timeout)


def multi_inference(inference: Inference, resolve: Resolve, request):
    """(target, tasks, results): the model and version come from tasks[0] only."""
    if not request.tasks or not request.tasks[0].HasField("model_spec"):
        raise InvalidArgument("ModelSpec has no name specified.")
    first = model_spec(request.tasks[0])
    tasks = [Task(t.model_spec.name, t.model_spec.signature_name, t.method_name)
             for t in request.tasks]
    with resolve(ModelSpec(first.name, first.version, first.label)) as target:
        return target, tasks, inference.multi_inference(target, tasks, examples(request.input))
