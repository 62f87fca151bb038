"""The two code-defined demo models of the classic multi-model Flask example."""
from __future__ import annotations

import tensorflow as tf

from wrappers.checkpoint import CheckpointWrapper, predict_signature
from wrappers.featurize import text_feeds

v1 = tf.compat.v1


class ModelA(CheckpointWrapper):
    """A [N,10,10] input times a 10x10 weight matrix (restored from the checkpoint)."""

    name = "model_a"

    @classmethod
    def featurize(cls, body):
        """/get_my_predictions: the body's "text" as 100 hashed word counts in a 10x10 grid."""
        return text_feeds(body, "x", (10, 10))

    def build_graph(self):
        x = v1.placeholder(tf.float32, [None, 10, 10], name="x")
        weight = v1.get_variable("weight", [10, 10], initializer=v1.zeros_initializer())
        y = tf.identity(tf.einsum("nij,jk->nik", x, weight), name="y")
        return {"serving_default": predict_signature({"x": x}, {"y": y})}


class ModelB(CheckpointWrapper):
    """A [N,4,4] input plus a 4x4 constant (a variable restored from the checkpoint)."""

    name = "model_b"

    @classmethod
    def featurize(cls, body):
        """/get_my_predictions: the body's "text" as 16 hashed word counts in a 4x4 grid."""
        return text_feeds(body, "x", (4, 4))

    def build_graph(self):
        x = v1.placeholder(tf.float32, [None, 4, 4], name="x")
        constant = v1.get_variable("constant", [4, 4], initializer=v1.zeros_initializer())
        y = tf.identity(x + constant, name="y")
        return {"serving_default": predict_signature({"x": x}, {"y": y})}
