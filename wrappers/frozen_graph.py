"""A frozen GraphDef (`*.pb` without `variables/`, weights folded into constants), served with
a normal predict signature: the tensors named in a small `signature.json` beside it, or, when
there is none, guessed from the graph when it has one placeholder and one sink.

    {"inputs": {"image": "input:0"}, "outputs": {"scores": "softmax:0"},
     "method": "tensorflow/serving/predict"}
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

from serving.errors import LoadError
from wrappers.base import ModelWrapper, SessionOptions

v1 = tf.compat.v1
SIDECAR = "signature.json"
_NOT_SINKS = {"NoOp", "Const", "Assert", "Placeholder", "PlaceholderWithDefault", "SaveV2",
              "RestoreV2"}


def frozen_graph_file(path: str) -> str | None:
    """The version directory's frozen graph: a `.pb` other than saved_model.pb, no variables/."""
    if tf.io.gfile.exists(os.path.join(path, "variables")):
        return None
    graphs = sorted(name for name in tf.io.gfile.listdir(path)
                    if name.endswith(".pb") and name not in ("saved_model.pb", "fingerprint.pb"))
    return os.path.join(path, graphs[0]) if graphs else None


class FrozenGraphWrapper(ModelWrapper):
    def __init__(self, path: str, graph_file: str, options: SessionOptions | None = None):
        self.graph_file = graph_file
        super().__init__(path, options)

    def _build(self):
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(tf.io.gfile.GFile(self.graph_file, "rb").read())
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise LoadError(f"{self.graph_file} is not a GraphDef: {exc}", "DATA_LOSS") from None
        from wrappers.op_libraries import unregistered
        missing = unregistered({node.op for node in graph_def.node})
        if missing:
            raise LoadError(f"{self.graph_file}: Op type not registered: "
                            f"{', '.join(sorted(missing))}; load its library with "
                            f"--custom_op_libraries", "NOT_FOUND")
        tf.import_graph_def(graph_def, name="")
        inputs, outputs, method = self._names(graph_def)
        info = v1.saved_model.utils.build_tensor_info
        try:
            signature = v1.saved_model.signature_def_utils.build_signature_def(
                {alias: info(self.graph.get_tensor_by_name(name)) for alias, name in inputs.items()},
                {alias: info(self.graph.get_tensor_by_name(name)) for alias, name in outputs.items()},
                method)
        except (KeyError, ValueError) as exc:
            raise LoadError(f"{self._sidecar()}: {exc}", "INVALID_ARGUMENT") from None
        return {"serving_default": signature}

    def _sidecar(self) -> str:
        return os.path.join(self.path, SIDECAR)

    def _names(self, graph_def) -> tuple[dict, dict, str]:
        sidecar = self._sidecar()
        if tf.io.gfile.exists(sidecar):
            try:
                with tf.io.gfile.GFile(sidecar) as handle:
                    spec = json.load(handle)
                inputs, outputs = dict(spec["inputs"]), dict(spec["outputs"])
            except (ValueError, KeyError, TypeError) as exc:
                raise LoadError(f"{sidecar}: expected {{\"inputs\": {{alias: tensor}}, "
                                f"\"outputs\": {{alias: tensor}}}} ({exc})",
                                "INVALID_ARGUMENT") from None
            return inputs, outputs, spec.get("method", "tensorflow/serving/predict")
        return (*guess_names(graph_def, self.graph_file), "tensorflow/serving/predict")


def guess_names(graph_def, where: str) -> tuple[dict, dict]:
    """One Placeholder in, one sink (an op whose output nothing reads) out, else LoadError."""
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    used = {inp.split(":")[0].lstrip("^") for node in graph_def.node for inp in node.input}
    sinks = [n.name for n in graph_def.node if n.name not in used and n.op not in _NOT_SINKS]
    if len(placeholders) != 1 or len(sinks) != 1:
        raise LoadError(f"{where}: cannot guess the signature ({len(placeholders)} placeholders: "
                        f"{placeholders[:5]}; {len(sinks)} outputs: {sinks[:5]}); name the "
                        f"tensors in {SIDECAR} beside it: {{\"inputs\": {{\"x\": \"input:0\"}}, "
                        f"\"outputs\": {{\"y\": \"output:0\"}}}}", "INVALID_ARGUMENT")
    return {_alias(placeholders[0]): f"{placeholders[0]}:0"}, {_alias(sinks[0]): f"{sinks[0]}:0"}


def _alias(name: str) -> str:
    return name.rsplit("/", 1)[-1]
