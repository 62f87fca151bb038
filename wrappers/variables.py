"""Keras 3 models saved with `tf.saved_model.save(model, path)`, made to serve in graph mode.

Keras 3 keeps a second variable per weight: the SavedModel's restore op fills the copies
(`Variable`, `Variable_1`, ...) while the serving function reads the originals
(`sequential/dense/kernel`, ...), which stay uninitialised, so in any graph-mode loader (TF
Serving's too) every predict fails with "Could not find variable ...". The step acts only
then: on the empty variables a servable signature's outputs read (walking the graph back from
them), never on others (Keras' own exports keep empty, unread originals too). Each is filled
by identity, never by name (Keras 3 names repeat): the signature's call op passes it as a
captured input, the SavedModel's object graph says which tracked variable that capture is, and
the checkpoint's object graph (same nodes) where that variable's value is.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from serving.errors import LoadError

log = logging.getLogger(__name__)
REEXPORT = ("re-export it with Keras' own model.export(path) (or tf.keras.export."
            "ExportArchive), which writes a SavedModel any server can load")
CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")


@dataclass
class Fill:
    """What the step saw: the signatures that read empty variables, those variables, and
    which of them it filled (by graph name) and could not match to a checkpoint value."""
    signatures: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)

    @property
    def unmatched(self) -> list[str]:
        return [name for name in self.empty if name not in self.filled]

    def describe(self) -> str:
        text = (f"signature{'s' if len(self.signatures) > 1 else ''} "
                f"{', '.join(self.signatures)} could not run: {len(self.empty)} variables "
                f"{'they' if len(self.signatures) > 1 else 'it'} read were left empty by the "
                f"SavedModel's restore; {len(self.filled)} "
                f"filled from its checkpoint through its object graph (a Keras 3 "
                f"tf.saved_model.save export)")
        if self.unmatched:
            text += (f"; {len(self.unmatched)} matched no checkpoint value: "
                     f"{', '.join(self.unmatched[:5])}")
        return text


def restore_uninitialized(session, graph, export_dir: str, meta_graph,
                          signature_keys) -> Fill:
    """Fill the empty variables the signatures `signature_keys` read; what was done (an
    empty Fill, and no log line, when every signature reads only restored variables)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    reads = {key: _variables_read(graph, meta_graph.signature_def[key])
             for key in sorted(signature_keys)}
    handles = sorted({op.name: op for ops in reads.values() for op in ops}.values(),
                     key=lambda op: op.name)
    if not handles or {op.name for op in handles} <= _restored_by_saver(graph, meta_graph):
        return Fill()  # nothing read, or all restored: no session run (~25% of a small load)
    checks = [v1.raw_ops.VarIsInitializedOp(resource=op.outputs[0]) for op in handles]
    empty = {op.name for op, ready in zip(handles, session.run(checks)) if not ready}
    if not empty:
        return Fill()
    fill = Fill(signatures=[key for key, ops in reads.items()
                            if any(op.name in empty for op in ops)],
                empty=sorted(empty))
    values = _checkpoint_values(graph, export_dir, meta_graph,
                                [op for op in handles if op.name in empty])
    feeds, assigns = {}, []
    for op in handles:
        if op.name in values:
            holder = v1.placeholder(op.get_attr("dtype"), np.shape(values[op.name]))
            assigns.append(v1.raw_ops.AssignVariableOp(resource=op.outputs[0], value=holder))
            feeds[holder] = values[op.name]
            fill.filled.append(op.name)
    if assigns:
        session.run(assigns, feeds)
    log.info("%s: %s", export_dir, fill.describe())
    return fill


def _restored_by_saver(graph, meta_graph) -> set[str]:
    """The VarHandleOps the SavedModel's restore op assigns (TF1's saver) or hands to its
    restore function (TF2's): filled by the load. Any other (an init op's, a Keras 3
    original, one behind an Identity) is checked in the session."""
    try:
        stack = [graph.get_operation_by_name(meta_graph.saver_def.restore_op_name)]
    except (KeyError, ValueError):  # no saver: nothing is known restored
        return set()
    seen, found = set(), set()
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type == "AssignVariableOp" and op.inputs[0].op.type == "VarHandleOp":
            found.add(op.inputs[0].op.name)
        elif op.type in CALL_OPS:  # TF2: the restore function is handed what it assigns
            found.update(t.op.name for t in op.inputs if t.op.type == "VarHandleOp")
        stack.extend(tensor.op for tensor in op.inputs)
        stack.extend(op.control_inputs)
    return found


def _variables_read(graph, signature) -> list:
    """The VarHandleOps a signature's outputs depend on (data and control inputs)."""
    seen, stack, found = set(), [], []
    for info in signature.outputs.values():
        try:
            stack.append(graph.get_tensor_by_name(info.name).op)
        except (KeyError, ValueError):  # not in the graph: the signature's own check says so
            continue
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type == "VarHandleOp":
            found.append(op)
        stack.extend(tensor.op for tensor in op.inputs)
        stack.extend(op.control_inputs)
    return found


def _checkpoint_values(graph, export_dir: str, meta_graph, empty) -> dict:
    """{graph variable name: its value} for the `empty` VarHandleOps that a signature call
    captures as exactly one tracked variable with a checkpoint value of the same dtype and
    shape; any other is left out rather than guessed."""
    import tensorflow as tf
    wanted = {op.name: op for op in empty}
    nodes = _captured_nodes(graph, meta_graph, wanted)
    if not nodes:
        return {}
    try:
        reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables", "variables"))
        keys = _checkpoint_keys(reader, meta_graph.object_graph_def)
    except (tf.errors.OpError, ValueError):
        return {}
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    values = {}
    for name, node in nodes.items():
        key, op = keys.get(node), wanted[name]
        if key is None or key not in shapes:
            continue
        if dtypes[key].base_dtype != tf.as_dtype(op.get_attr("dtype")).base_dtype:
            continue
        if not tf.TensorShape(op.get_attr("shape")).is_compatible_with(shapes[key]):
            continue
        values[name] = reader.get_tensor(key)
    return values


def _captured_nodes(graph, meta_graph, wanted) -> dict:
    """{graph variable name: SavedObjectGraph node id}, read off every call of a saved
    function: its last inputs are its captures, in the order of the function's
    `bound_inputs`. A variable captured as two different nodes is left out."""
    functions = meta_graph.object_graph_def.concrete_functions
    seen: dict[str, set] = {}
    for op in graph.get_operations():
        if op.type not in CALL_OPS:
            continue
        function = functions.get(op.get_attr("f").name)
        if function is None or not function.bound_inputs:
            continue
        bound = list(function.bound_inputs)
        if len(bound) > len(op.inputs):
            continue
        for tensor, node in zip(list(op.inputs)[len(op.inputs) - len(bound):], bound):
            if tensor.op.name in wanted and tensor.op.type == "VarHandleOp":
                seen.setdefault(tensor.op.name, set()).add(node)
    saved = meta_graph.object_graph_def.nodes
    return {name: next(iter(ids)) for name, ids in seen.items()
            if len(ids) == 1 and next(iter(ids)) < len(saved)
            and saved[next(iter(ids))].WhichOneof("kind") == "variable"}


def _checkpoint_keys(reader, saved_graph) -> dict:
    """{node id: checkpoint key of its value}, from the checkpoint's own object graph, whose
    nodes are the SavedModel's (checked: the same children everywhere, else nothing)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    if len(graph.nodes) != len(saved_graph.nodes) or any(
            [(c.node_id, c.local_name) for c in ours.children]
            != [(c.node_id, c.local_name) for c in theirs.children]
            for ours, theirs in zip(graph.nodes, saved_graph.nodes)):
        return {}
    keys = {}
    for node_id, node in enumerate(graph.nodes):
        values = [a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE"]
        if len(values) == 1:
            keys[node_id] = values[0]
    return keys


def check_signatures_run(wrapper, fill: Fill) -> None:
    """Run each signature that read empty variables, when its inputs are numbers of known
    shape, on zeros (one row); one that still reads a missing variable fails the load,
    anything else is the input's business and is left to real requests."""
    for key in fill.signatures:
        signature = wrapper.servable_signatures.get(key)
        if signature is None:
            continue
        feeds = {}
        for alias, spec in signature.inputs.items():
            if spec.np_dtype is None or spec.np_dtype == object or spec.shape is None:
                break
            feeds[alias] = np.zeros([1 if d < 0 else d for d in spec.shape], spec.np_dtype)
        else:
            try:
                wrapper.run(key, feeds)
            except Exception as exc:  # noqa: BLE001 - only the missing variable matters here
                if "Could not find variable" in str(exc):
                    raise LoadError(
                        f"{wrapper.path}: signature {key} reads variables the SavedModel "
                        f"never restores and its checkpoint has no value for "
                        f"({', '.join(fill.unmatched[:5]) or 'unknown'}); {REEXPORT}",
                        "FAILED_PRECONDITION") from None
