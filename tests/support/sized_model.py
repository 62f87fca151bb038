"""SavedModels of a chosen size: a weight variable of `megabytes` that the signature reads,
and an offset that tells copies apart (y = x + offset). What the memory-budget tests load,
unload and measure."""
from __future__ import annotations

from pathlib import Path


def export_sized_model(path: Path, megabytes: float, offset: float) -> Path:
    """serving_default: {"x": [N] float} → {"y": x + offset}; ~`megabytes` of variables."""
    import numpy as np
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    count = max(1, int(megabytes * 2**20 / 4))
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None], name="x")
        weights = v1.Variable(tf.zeros([count]), name="weights")  # no constant of that size
        # The weights are read (times zero), so they stay in the graph and in memory.
        y = tf.identity(x + offset + 0.0 * weights[0], name="y")
        session.run(v1.global_variables_initializer())
        weights.load(np.random.default_rng(int(offset)).random(count, np.float32), session)
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        predict = v1.saved_model.signature_def_utils.predict_signature_def
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": predict({"x": x}, {"y": y})})
        builder.save()
    return path
