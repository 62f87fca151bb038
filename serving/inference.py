"""The verbs of TensorFlow Serving's APIs, in tensors: what every front (REST, gRPC, page) calls.

Protocol-neutral: numpy arrays in and out (serialized tf.Examples for classify and regress),
typed errors from serving/errors.py; each front owns its codec and its wording of a request.
A request first resolves its ModelSpec to a Target, which holds a lease on that one version
until the request is done, so a version that is being unloaded is never closed under it and
a traffic split picks a version once per request. Checks run in TensorFlow Serving's order:
model lookup → signature → inputs → run → outputs.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from serving import metrics, observe
from serving.config.limits import Limits
from serving.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from serving.models.manager import ModelManager
from serving.routing import unloading

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Which model, which version (a number, a label, or neither: the routed default) and
    which signature ("" is serving_default) a request asks for."""

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    @property
    def signature_key(self) -> str:
        return self.signature_name or "serving_default"


class SignatureNotFound(FailedPrecondition):
    """A signature the version does not have. The text is gRPC Predict's; the REST front and
    classify/regress say it their own way (TF Serving's words differ by path)."""

    def __init__(self, key: str):
        super().__init__(f'Serving signature key "{key}" not found.')
        self.key = key


class Target:
    """A spec resolved to one loaded version, leased until `close()` (or the `with` ends).
    A request's Target (not warmup's) also counts it in its model's in-flight gauge: every
    front resolves here, and the lease lasts until the request's answer is made."""

    def __init__(self, servable, spec: ModelSpec, in_flight=None):
        self.servable, self.spec = servable, spec
        self._held = True
        self._in_flight = in_flight
        if in_flight is not None:
            in_flight.inc()

    @property
    def version(self) -> int:
        return self.servable.version

    def signature(self):
        signature = self.servable.signatures.get(self.spec.signature_key)
        if signature is None:
            raise SignatureNotFound(self.spec.signature_key)
        return signature

    def close(self) -> None:
        if self._held:
            self._held = False
            self.servable.release()
            if self._in_flight is not None:
                self._in_flight.dec()

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class Classification:
    """One row per example: `classes` [N, K] (bytes) and/or `scores` [N, K] (float)."""

    classes: np.ndarray | None
    scores: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class Task:
    """One MultiInference task: a signature of the request's model, and the method to apply."""

    model_name: str
    signature_name: str
    method_name: str


class Inference:
    def __init__(self, manager: ModelManager, limits: Limits):
        self.manager, self.limits = manager, limits

    # -- lookups -------------------------------------------------------------------------------
    def resolve(self, spec: ModelSpec, timeout: float | None = None) -> Target:
        """NotFound (unknown model or version), InvalidArgument (unknown label), or a Target.
        `timeout` (the client's deadline) bounds a wait for the version's load (a budget)."""
        servable = self.manager.acquire(spec.name, spec.version, spec.label, timeout)
        exchange = observe.current()  # the request's record, when something observes it
        if exchange is not None:
            exchange.resolved(servable.name, servable.version, spec.signature_key)
        return Target(servable, spec, metrics.in_flight(servable.name))

    def model_names(self) -> list[str]:
        return self.manager.model_names()

    def knows(self, name: str) -> bool:
        return self.manager.knows(name)

    def status(self, name: str, version: int | None = None):
        """Every tracked version of a model, newest first (TF Serving's GetModelStatus)."""
        return self.manager.status(name, version)

    def statuses(self, name: str) -> list:
        """status(name), or [] for a model with no version tracked yet, or unknown."""
        try:
            return self.status(name)
        except NotFound:
            return []

    # -- readiness: /readyz, gRPC health and the Open Inference Protocol read it here ----------
    def available_versions(self, name: str) -> list[int]:
        """A model's AVAILABLE versions, oldest first; [] for none yet or an unknown model."""
        return sorted(self.manager.available(name)) if self.manager.knows(name) else []

    def waiting_models(self) -> list[str]:
        """The models that should serve and have no AVAILABLE version: while there is one the
        server is not ready (a model an operator unloaded on purpose is not waited for)."""
        return [name for name in self.model_names() if not self.available_versions(name)
                and not unloading.is_unloaded(self.manager, name)]

    def metadata(self, spec: ModelSpec):
        """(version answering, SignatureDefMap proto): every signature, TF2's init op too.
        A version not in memory (a memory budget) answers from its files, without a load."""
        on_disk = self.manager.signatures_on_disk(spec.name, spec.version, spec.label)
        if on_disk is not None:
            return on_disk
        with self.resolve(spec) as target:
            return target.version, target.servable.signature_def_map()

    # -- verbs ---------------------------------------------------------------------------------
    # `timeout`: how long a request may wait for its batch (the client's deadline, when it
    # sent one); None is the server's --rest_api_timeout_in_ms.
    def predict(self, target: Target, feeds: Mapping[str, np.ndarray],
                output_filter: Sequence[str] = (), timeout: float | None = None
                ) -> dict[str, np.ndarray]:
        """The signature's outputs (those of `output_filter`, when given) for `feeds`."""
        signature = target.signature()
        feeds = _with_defaults(signature, feeds)
        _check_dtypes(signature, feeds)
        outputs = _outputs(signature, output_filter)
        self.limits.check_feeds(feeds)
        return target.servable.run(signature, feeds, outputs, timeout)

    def classify(self, target: Target, examples: np.ndarray,
                 timeout: float | None = None) -> Classification:
        """Scores and/or classes of serialized tf.Examples (a [N] object array of bytes)."""
        signature = self._example_signature(target)
        wanted = _classify_outputs(signature)
        _require_examples(examples)
        self.limits.check_rows(len(examples), "examples")
        outputs = target.servable.run(signature, {"inputs": examples}, wanted, timeout)
        return _classification(outputs, len(examples))

    def regress(self, target: Target, examples: np.ndarray,
                timeout: float | None = None) -> np.ndarray:
        """One float per serialized tf.Example."""
        signature = self._example_signature(target)
        _regress_outputs(signature)
        _require_examples(examples)
        self.limits.check_rows(len(examples), "examples")
        outputs = target.servable.run(signature, {"inputs": examples}, ("outputs",), timeout)
        return _regression(outputs["outputs"], len(examples))

    def multi_inference(self, target: Target, tasks: Sequence[Task],
                        examples: np.ndarray) -> list[Classification | np.ndarray]:
        """Several classify/regress signatures of one version over the same examples, in
        one run; results in task order."""
        signatures, seen = [], set()
        for task in tasks:
            if not task.model_name:
                raise InvalidArgument("Found ModelSpec with an empty model name.")
            if task.model_name != target.spec.name:
                raise InvalidArgument("All ModelSpecs in a MultiInferenceRequest must access "
                                      "the same model name.")
            key = task.signature_name or "serving_default"
            if key in seen:
                raise InvalidArgument(f"Duplicate evaluation of signature: {key}")
            seen.add(key)
            signature = target.servable.signatures.get(key)
            if signature is None:
                raise InvalidArgument(f"Requested signature not found in model graph: {key}")
            if task.method_name not in (CLASSIFY, REGRESS):
                raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
            wanted = (_classify_outputs(signature) if task.method_name == CLASSIFY
                      else _regress_outputs(signature))
            signatures.append((task.method_name, signature, wanted))
        _require_examples(examples)
        self.limits.check_rows(len(examples), "examples")
        feeds = {s.inputs["inputs"].name: examples for _, s, _ in signatures}
        fetches = tuple(dict.fromkeys(s.outputs[a].name for _, s, wanted in signatures
                                      for a in wanted))
        values = dict(zip(fetches, target.servable.wrapper.run_tensors(feeds, fetches)))
        results = []
        for method, signature, wanted in signatures:
            outputs = {alias: values[signature.outputs[alias].name] for alias in wanted}
            if method == CLASSIFY:
                results.append(_classification(outputs, len(examples)))
            else:
                results.append(_regression(outputs["outputs"], len(examples)))
        return results

    def _example_signature(self, target: Target):
        key = target.spec.signature_key
        signature = target.servable.signatures.get(key)
        if signature is None:
            raise InvalidArgument(f"No signature was found with the name: {key}")
        return signature


# -- TF Serving's checks, with its messages ---------------------------------------------------
def _with_defaults(signature, feeds: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """The request's feeds, checked against the signature, omitted ones from its `defaults`."""
    expected, sent = set(signature.inputs), set(feeds)
    defaults = signature.defaults
    if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent - set(defaults)))}}}.")
    for alias in sorted(expected - sent):
        if alias not in defaults:
            raise InvalidArgument(
                f"Signature input alias: {alias}(feed name: {signature.inputs[alias].name}) not "
                f"found in request and no default value provided. Inputs expected to be in the "
                f"set {{{','.join(sorted(expected))}}}.")
    for alias in sorted(sent - expected):
        raise InvalidArgument(f"Inputs contains invalid name. Used request inputs: "
                              f"{','.join(sorted(sent & expected))}, request input: {alias}")
    if expected == sent:
        return feeds
    return {**{alias: defaults[alias] for alias in expected - sent}, **feeds}


_TF_NAMES = {"float32": "float", "float64": "double", "float16": "half", "object": "string"}


def _tf_name(dtype: np.dtype) -> str:
    return _TF_NAMES.get(dtype.name, "string" if dtype.kind in "SU" else dtype.name)


def _check_dtypes(signature, feeds: Mapping[str, np.ndarray]) -> None:
    """TensorFlow's own check and words, made before the run: a mistyped request must not
    reach (and fail) a batch it shares with others."""
    for index, (alias, spec) in enumerate(signature.inputs.items()):
        array, expected = feeds[alias], spec.np_dtype
        if expected is None or array.dtype == expected:
            continue
        if expected == object and array.dtype.kind in "OSU":
            continue  # strings in any numpy form
        raise InvalidArgument(f"Expects arg[{index}] to be {_tf_name(expected)} but "
                              f"{_tf_name(array.dtype)} is provided")


def _outputs(signature, output_filter: Sequence[str]) -> tuple[str, ...] | None:
    if not output_filter:
        return None
    seen = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise InvalidArgument(f"output tensor alias not found in signature: {alias} Outputs "
                                  f"expected to be in the set {{{','.join(sorted(signature.outputs))}}}.")
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return tuple(seen)


def _debug_string(signature) -> str:
    return str(signature.proto) if signature.proto is not None else signature.key


def _check_example_inputs(signature, kind: str) -> None:
    if len(signature.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if "inputs" not in signature.inputs:
        raise InvalidArgument(f"No {kind} inputs found in SignatureDef: "
                              f"{_debug_string(signature)}")


def _classify_outputs(signature) -> tuple[str, ...]:
    _check_example_inputs(signature, "classification")
    if len(signature.outputs) not in (1, 2):
        raise InvalidArgument(f"Expected one or two output Tensors, found "
                              f"{len(signature.outputs)}")
    found = tuple(a for a in ("classes", "scores") if a in signature.outputs)
    if not found:
        raise InvalidArgument('Expected classification signature outputs to contain at least '
                              'one of "classes" or "scores". Signature was: '
                              f"{_debug_string(signature)}")
    return found


def _regress_outputs(signature) -> tuple[str, ...]:
    _check_example_inputs(signature, "regression")
    if len(signature.outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "outputs" not in signature.outputs:
        raise InvalidArgument(f"No regression outputs found in SignatureDef: "
                              f"{_debug_string(signature)}")
    return ("outputs",)


def _require_examples(examples: np.ndarray) -> None:
    if examples is None or len(examples) == 0:
        raise InvalidArgument("Input is empty.")


def _classification(outputs: Mapping[str, np.ndarray], count: int) -> Classification:
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for alias, array in (("classes", classes), ("scores", scores)):
        if array is None:
            continue
        if array.ndim != 2:
            raise InvalidArgument(f"Expected Tensor shape: [batch_size num_classes] but got "
                                  f"{list(array.shape)} for output {alias}")
        if array.shape[0] != count:
            raise InvalidArgument(f"Input batch size did not match output batch size: {count} "
                                  f"vs. {array.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(f"Tensors class and score should match in dim_size(1). Got "
                              f"{classes.shape[1]} vs. {scores.shape[1]}")
    if scores is not None and scores.dtype.kind != "f":
        raise InvalidArgument(f"Expected scores Tensor of DT_FLOAT. Got: {scores.dtype}")
    return Classification(classes, scores)


def _regression(values: np.ndarray, count: int) -> np.ndarray:
    if values.dtype.kind != "f":
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InvalidArgument(f"Expected output Tensor shape to be either [batch_size] or "
                              f"[batch_size, 1] but got {list(values.shape)}")
    if values.shape[0] != count:
        raise InvalidArgument(f"Input batch size did not match output batch size: {count} vs. "
                              f"{values.shape[0]}")
    return values
