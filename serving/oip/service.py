"""The Open Inference Protocol's verbs over the serving core, in numpy: what both OIP fronts
(api/oip/, grpc_api/oip/) call, each with its own codec and error table.

A model's OIP inputs and outputs are one signature's keys: `serving_default`, or the one a
request's `signature_name` parameter names. Inference resolves the model spec like TF
Serving's API (a version, or the routed default with its traffic split), then runs
`Inference.predict`: the same checks, limits, batcher and leases, no second path.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Sequence

import numpy as np

from serving.batching.plan import plan_for
from serving.errors import InvalidArgument, NotFound
from serving.inference import ModelSpec, Target
from serving.oip import classification, datatypes, statistics
from serving.oip.repository import Repository
from serving.oip.settings import ServerSettings
from serving import version as this_server

PLATFORM = "tensorflow_savedmodel"
EXTENSIONS = ("binary_tensor_data", "classification", "model_repository",
              "model_configuration", "statistics", "parameters")
_INT64_MAX = 2 ** 63 - 1


@dataclasses.dataclass
class InputTensor:
    """One request input as a front read it: raw bytes (binary or raw contents) or values."""

    name: str
    datatype: str
    shape: object
    raw: object = None            # bytes-like, or None
    values: object = None         # a (nested) list, or None


@dataclasses.dataclass
class InferResult:
    model_name: str
    model_version: str
    outputs: list[tuple[str, np.ndarray]]


def parse_version(version) -> int | None:
    """"" → the routed default; else a positive integer, as Triton requires."""
    if version is None or version == "":
        return None
    text = str(version)
    if not text.isdigit() or not text.isascii() or int(text) > _INT64_MAX or int(text) < 1:
        raise InvalidArgument(f"version should be an integral value > 0, got '{text}'")
    return int(text)


class OpenInference:
    def __init__(self, core):
        self.core, self.inference, self.limits = core, core.inference, core.limits
        self.manager = core.manager
        self.repository = Repository(self)  # index, load, unload
        self.server_settings = ServerSettings(self)  # shared memory, log and trace settings

    # -- lookups ---------------------------------------------------------------------------
    def _known(self, name: str) -> None:
        if not self.inference.knows(name):
            raise NotFound(f"Request for unknown model: '{name}' is not found")

    def _resolve(self, name: str, version, signature: str = "",
                 timeout: float | None = None) -> Target:
        self._known(name)
        number = parse_version(version)
        try:
            target = self.inference.resolve(ModelSpec(name, number, signature_name=signature),
                                            timeout)
        except NotFound:
            if number is not None:
                raise NotFound(f"Request for unknown model: '{name}' version {number} is not "
                               f"found") from None
            raise NotFound(f"Request for unknown model: '{name}' has no available "
                           f"versions") from None
        signatures = target.servable.signatures
        if not signature and "serving_default" not in signatures and len(signatures) == 1:
            # A model with one signature under another key: that one (as if it were named).
            target.spec = dataclasses.replace(target.spec, signature_name=next(iter(signatures)))
        return target

    def _available(self, name: str) -> list[int]:
        return self.inference.available_versions(name)

    # -- health and metadata ---------------------------------------------------------------
    def server_ready(self) -> tuple[bool, str]:
        """Every model (but those unloaded on purpose) has an AVAILABLE version."""
        waiting = self.inference.waiting_models()
        if waiting:
            return False, f"no version of model(s) {', '.join(waiting)} is ready"
        return True, ""

    def model_ready(self, name: str, version="") -> bool:
        """Unknown model: NotFound; known but that version (or any) not AVAILABLE: False."""
        self._known(name)
        number = parse_version(version)
        available = self._available(name)
        return number in available if number is not None else bool(available)

    def server_metadata(self) -> dict:
        return {"name": this_server.SERVER_NAME, "version": this_server.VERSION,
                "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version="", signature: str = "") -> dict:
        with self._resolve(name, version, signature) as target:
            sig = target.signature()
            versions = ([str(target.version)] if parse_version(version) is not None
                        else [str(v) for v in self._available(name)])
            return {"name": name, "versions": versions, "platform": PLATFORM,
                    "inputs": [_tensor(spec) for spec in sig.inputs.values()],
                    "outputs": [_tensor(spec) for spec in sig.outputs.values()]}

    def model_config(self, name: str, version="", signature: str = "") -> dict:
        """Triton's ModelConfig as this server runs the model: platform, the batching it
        does (max_batch_size > 0 only when a batcher may join this signature's requests, and
        then dims leave the batch dimension out), inputs and outputs by Triton's type names.
        Every field is there as Triton prints it (_PRINTED), 64-bit integers as numbers."""
        with self._resolve(name, version, signature) as target:
            sig, options = target.signature(), target.servable.batching
            plan = plan_for(sig) if options is not None else None
            batched = plan is not None and not plan.fixed
            config = _printed("config", {
                "name": name, "platform": PLATFORM, "backend": "tensorflow",
                "version_policy": self._policy(name),
                "max_batch_size": options.max_batch_size if batched else 0,
                "input": [_config_tensor(spec, batched, True) for spec in sig.inputs.values()],
                "output": [_config_tensor(spec, batched, False)
                           for spec in sig.outputs.values()],
                "instance_group": [_printed("instance_group", {
                    "name": name, "kind": "KIND_CPU", "count": 1})],
                "parameters": {"TF_SIGNATURE_DEF": {"string_value": sig.key}},
            })
            if batched:
                config["dynamic_batching"] = _printed("dynamic_batching", {
                    "preferred_batch_size": list(options.allowed_batch_sizes),
                    "max_queue_delay_microseconds": options.batch_timeout_micros,
                    "preserve_ordering": True})
            return config

    def _policy(self, name: str) -> dict:
        policy = self.manager.config(name).model_version_policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            return {"all": {}}
        if choice == "specific":
            return {"specific": {"versions": list(policy.specific.versions)}}
        count = policy.latest.num_versions if choice == "latest" else 1
        return {"latest": {"num_versions": max(1, count)}}

    # -- inference ---------------------------------------------------------------------------
    def infer(self, name: str, version, inputs: Sequence[InputTensor],
              outputs: Sequence[str] | None = None, signature: str = "",
              timeout: float | None = None,
              classes: dict[str, int] | None = None) -> InferResult:
        """Checks every input's name, datatype, shape and size (no tensor is allocated before
        all pass), then runs the signature through the core's predict."""
        with self._resolve(name, version, signature, timeout) as target:
            sig = target.signature()
            plan = plan_for(sig)
            # A fixed batch of one row (an input [1, 784]) that the batcher splits requests
            # into: any number of rows is served, as TF Serving's API serves them.
            any_rows = target.servable.batching is not None and plan is not None \
                and plan.fixed is not None
            total, seen = 0, set()
            for tensor in inputs:
                if not isinstance(tensor.name, str) or tensor.name not in sig.inputs:
                    raise InvalidArgument(f"unexpected inference input '{tensor.name}' for "
                                          f"model '{name}'")
                if tensor.name in seen:
                    raise InvalidArgument(f"input '{tensor.name}' is given more than once")
                seen.add(tensor.name)
                datatypes.check_datatype(tensor.name, tensor.datatype)
                expected = datatypes.of_tf(sig.inputs[tensor.name].dtype)
                if expected and tensor.datatype != expected:
                    raise InvalidArgument(f"inference input '{tensor.name}' data-type is "
                                          f"'{tensor.datatype}', but model '{name}' expects "
                                          f"'{expected}'")
                tensor.shape = datatypes.check_shape(tensor.name, tensor.shape, self.limits)
                check_declared_shape(name, sig.inputs[tensor.name], tensor.shape, any_rows)
                total += datatypes.element_count(tensor.shape)
            self.limits.check_elements(total)
            wanted = list(outputs or ())
            for output in wanted:
                if output not in sig.outputs:
                    raise InvalidArgument(f"unexpected inference output '{output}' for model "
                                          f"'{name}'")
            if len(set(wanted)) != len(wanted):
                raise InvalidArgument("an output is requested more than once")
            classes = dict(classes or {})
            for output, count in classes.items():
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    raise InvalidArgument(f"the classification count of output '{output}' "
                                          f"must be a positive integer")
            feeds = {t.name: _decode(t) for t in inputs}
            results = self.inference.predict(target, feeds, tuple(wanted), timeout)
            order = wanted or list(sig.outputs)
            batched = bool(classes) and plan is not None  # only classification asks
            return InferResult(name, str(target.version), [
                (alias, classification.classify(np.asarray(results[alias]), classes[alias], batched)
                 if alias in classes else np.asarray(results[alias])) for alias in order])

    # -- statistics --------------------------------------------------------------------------
    def statistics(self, name: str = "", version="") -> dict:
        number = parse_version(version)
        if name:
            self._known(name)
            if number is not None and number not in {s.version for s in self.inference.statuses(name)}:
                raise NotFound(f"Request for unknown model: '{name}' version {number} is not "
                               f"found")
        counters = statistics.collect()
        names = [name] if name else self.inference.model_names()
        stats = []
        for model in names:
            versions = {str(v) for v in self.inference.available_versions(model)}
            versions |= {v for (m, v) in counters if m == model}
            if number is not None:
                versions = {str(number)}
            for v in sorted(versions, key=int):
                stats.append(statistics.model_statistics(model, v, counters.get((model, v))))
        return {"model_stats": stats}


def check_declared_shape(model: str, spec, shape: Sequence[int], any_rows: bool = False) -> None:
    """Triton's check of a request's shape against the model's (core src/infer_request.cc):
    the rank, and each fixed dimension, of the shape metadata reports. Not checked: a rank
    the signature leaves unknown, or a signature and graph that disagree (the graph decides).
    `any_rows`: the first dimension is free (the batcher splits the request)."""
    declared = spec.static_shape
    if not isinstance(declared, tuple):
        return
    if len(shape) != len(declared) or any(
            want >= 0 and got != want and not (any_rows and axis == 0)
            for axis, (want, got) in enumerate(zip(declared, shape))):
        raise InvalidArgument(f"unexpected shape for input '{spec.alias}' for model '{model}'. "
                              f"Expected {_dims(_shape(spec))}, got {_dims(shape)}")


def _dims(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def _shape(spec) -> list[int]:
    shape = spec.static_shape if isinstance(spec.static_shape, tuple) else spec.shape
    return [-1] if shape is None else [int(d) if d >= 0 else -1 for d in shape]


def _tensor(spec) -> dict:
    return {"name": spec.alias, "datatype": datatypes.of_tf(spec.dtype) or spec.dtype,
            "shape": _shape(spec)}


# Triton prints a ModelConfig as protobuf JSON that always prints the fields without presence
# (core src/model_config_utils.cc, ModelConfigToJson), so scripts index them unchecked: each
# message's such fields at their defaults. Its messages left unset (sequence_batching, ...)
# are not printed; nor is `optimization`, which only Triton's own defaults fill in.
_PRINTED = {
    "config": {"runtime": "", "batch_input": [], "batch_output": [],
               "default_model_filename": "", "cc_model_filenames": {}, "metric_tags": {},
               "parameters": {}, "model_warmup": []},
    "input": {"format": "FORMAT_NONE", "is_shape_tensor": False, "allow_ragged_batch": False,
              "optional": False, "is_non_linear_format_io": False},
    "output": {"label_filename": "", "is_shape_tensor": False,
               "is_non_linear_format_io": False},
    "instance_group": {"gpus": [], "secondary_devices": [], "profile": [], "passive": False,
                       "host_policy": ""},
    "dynamic_batching": {"preferred_batch_size": [], "max_queue_delay_microseconds": 0,
                         "preserve_ordering": False, "priority_levels": 0,
                         "default_priority_level": 0, "priority_queue_policy": {}},
}


def _config_tensor(spec, batched: bool, is_input: bool) -> dict:
    dims = _shape(spec)
    if batched and dims:
        dims = dims[1:]
    datatype = datatypes.of_tf(spec.dtype)
    entry = {"name": spec.alias, "data_type": datatypes.TRITON.get(datatype, "TYPE_INVALID"),
             "dims": dims}
    # One value per row stays dims [] (Triton's own config would say dims [1] reshaped to [],
    # and answer [N, 1]): the config says what this server answers, [N], as its metadata does.
    return _printed("input" if is_input else "output", entry)


def _printed(message: str, fields: dict) -> dict:
    """`fields`, then every other field Triton prints for that message, at its default."""
    return {**fields, **{key: copy.deepcopy(value) for key, value in _PRINTED[message].items()
                         if key not in fields}}


def _decode(tensor: InputTensor) -> np.ndarray:
    if tensor.raw is not None:
        return datatypes.from_raw(tensor.name, tensor.datatype, tensor.shape, tensor.raw)
    if tensor.values is None:
        raise InvalidArgument(f"input '{tensor.name}' has no data")
    return datatypes.from_values(tensor.name, tensor.datatype, tensor.shape, tensor.values)
