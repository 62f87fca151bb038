"""Keras 3 models saved with `tf.saved_model.save(model, path)`, made to serve in graph mode.

Keras 3 keeps a second variable per weight: the SavedModel's restore op fills the copies
(`Variable`, `Variable_1`, ...) while the serving function reads the originals
(`sequential/dense/kernel`, ...), which stay uninitialised, so in any graph-mode loader (TF
Serving's too) every predict fails with "Could not find variable ...". The values are in
`variables/` all the same, keyed through the checkpoint's object graph by the originals'
names: after the load, each uninitialised variable is filled from there, and a version whose
signatures still read a missing variable fails to load (not every request) with the fix.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from serving.errors import LoadError

log = logging.getLogger(__name__)
REEXPORT = ("re-export it with Keras' own model.export(path) (or tf.keras.export."
            "ExportArchive), which writes a SavedModel any server can load")


def restore_uninitialized(session, graph, export_dir: str) -> int:
    """Fill the variables the restore left empty; the number filled."""
    import tensorflow as tf
    v1 = tf.compat.v1
    handles = [op for op in graph.get_operations() if op.type == "VarHandleOp"]
    if not handles:
        return 0
    with graph.as_default():
        checks = [v1.raw_ops.VarIsInitializedOp(resource=op.outputs[0]) for op in handles]
    empty = [op for op, ready in zip(handles, session.run(checks)) if not ready]
    if not empty:
        return 0
    reader, keys = _checkpoint_keys(export_dir)
    names = [op.get_attr("shared_name").decode() or op.name for op in empty]
    unknown = [name for name in names if name not in keys]
    if unknown:
        raise LoadError(f"{export_dir}: variables {', '.join(unknown[:5])} are never restored "
                        f"by the SavedModel and are not in its checkpoint; {REEXPORT}",
                        "FAILED_PRECONDITION")
    feeds, assigns = {}, []
    with graph.as_default():
        for op, name in zip(empty, names):
            value = reader.get_tensor(keys[name])
            holder = v1.placeholder(op.get_attr("dtype"), np.shape(value))
            assigns.append(v1.raw_ops.AssignVariableOp(resource=op.outputs[0], value=holder))
            feeds[holder] = value
    session.run(assigns, feeds)
    log.info("%s: %d variables the SavedModel's restore left empty were filled from its "
             "checkpoint (a Keras 3 tf.saved_model.save export)", export_dir, len(empty))
    return len(empty)


def _checkpoint_keys(export_dir: str):
    """(the checkpoint's reader, {variable name: checkpoint key}) from its own object graph."""
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    try:
        reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables", "variables"))
        raw = reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    except (tf.errors.OpError, ValueError) as exc:
        raise LoadError(f"{export_dir}: some variables are uninitialised after the load and "
                        f"the checkpoint has no object graph to find them in ({exc}); "
                        f"{REEXPORT}", "FAILED_PRECONDITION") from None
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(raw)
    return reader, {attribute.full_name: attribute.checkpoint_key for node in graph.nodes
                    for attribute in node.attributes if attribute.name == "VARIABLE_VALUE"}


def check_signatures_run(wrapper) -> None:
    """Run every signature whose inputs are numbers of known shape on zeros (one row);
    one that still reads a missing variable fails the load, anything else is the input's
    business and is left to real requests."""
    for key, signature in wrapper.servable_signatures.items():
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
                    raise LoadError(f"{wrapper.path}: signature {key} reads a variable the "
                                    f"SavedModel never restores; {REEXPORT}",
                                    "FAILED_PRECONDITION") from None
