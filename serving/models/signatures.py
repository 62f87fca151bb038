"""A version's SignatureDefs read from its `saved_model.pb`, without loading its graph: the
metadata of a version registered under --model_memory_budget but not in memory."""
from __future__ import annotations

import functools
import os

_REF = 100  # DT_FLOAT_REF is DT_FLOAT + 100: metadata shows base types, as a loaded version


@functools.lru_cache(maxsize=1024)
def signature_def_map(path: str, tags: str = "serve"):
    """TF Serving's SignatureDefMap of the MetaGraph with exactly these tags, or None when
    the version is no plain binary SavedModel (then only a load can tell)."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2
    binary = os.path.join(path, "saved_model.pb")
    if not tf.io.gfile.exists(binary) or tf.io.gfile.exists(os.path.join(path, "wrapper.json")):
        return None
    model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(binary, "rb") as handle:
            model.ParseFromString(handle.read())
    except (DecodeError, OSError, tf.errors.OpError):
        return None
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    graph = next((g for g in model.meta_graphs if set(g.meta_info_def.tags) == wanted), None)
    if graph is None:
        return None
    proto = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in graph.signature_def.items():
        proto.signature_def[key].CopyFrom(signature)
        for info in (*proto.signature_def[key].inputs.values(),
                     *proto.signature_def[key].outputs.values()):
            if info.dtype > _REF:
                info.dtype -= _REF
    return proto
