"""A SavedModel that sleeps as long as its input says and counts the rows it has run: the
deterministic slow model the overload and timeout tests need (no wall-clock guessing)."""
from __future__ import annotations

from pathlib import Path


def export_slow_model(path: Path) -> Path:
    """serving_default: y = 2x after sleeping max(x) milliseconds; `runs`: rows run so far."""
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops.testing import sleep  # a graph op: SleepDataset
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        runs = v1.Variable(tf.constant(0, tf.int64), name="runs", use_resource=True)
        micros = tf.cast(tf.reduce_max(x) * 1000.0, tf.int64)
        sleeping = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).apply(
            sleep(micros))
        slept = tf.data.experimental.get_single_element(sleeping)
        with tf.control_dependencies([slept]):
            counted = runs.assign_add(tf.shape(x, out_type=tf.int64)[0])
        with tf.control_dependencies([counted]):
            y = tf.identity(x * 2.0, name="y")
        so_far = tf.fill(tf.shape(x)[:1], runs.read_value(), name="so_far")
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        predict = v1.saved_model.signature_def_utils.predict_signature_def
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": predict({"x": x}, {"y": y}),
            "runs": predict({"x": x}, {"runs": so_far})})
        builder.save()
    return path
