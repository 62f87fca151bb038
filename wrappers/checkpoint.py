"""Models whose graph is written in Python and whose weights come from a tf.train.Saver checkpoint."""
from __future__ import annotations

import tensorflow as tf

from serving.errors import LoadError
from wrappers.base import ModelWrapper

v1 = tf.compat.v1


class CheckpointWrapper(ModelWrapper):
    """Subclasses define `build_graph()` returning {signature_key: SignatureDef}.

    The version directory holds the checkpoint (`checkpoint`, `*.index`, `*.data-*`) written
    by `save_checkpoint()`; `_build` builds the graph and restores every variable from it.
    """

    def build_graph(self):
        raise NotImplementedError

    def _build(self):
        signatures = self.build_graph()
        checkpoint = tf.train.latest_checkpoint(self.path)
        if checkpoint is None:
            raise LoadError(f"no tf.train.Saver checkpoint found in {self.path}", "NOT_FOUND")
        v1.train.Saver().restore(self.session, checkpoint)
        return signatures

    @classmethod
    def save_checkpoint(cls, path: str, initial_values: dict) -> None:
        """Build the graph, set variables to `initial_values` (by name) and write a checkpoint."""
        graph = tf.Graph()
        with graph.as_default(), v1.Session(graph=graph) as session:
            cls.build_graph(None)
            session.run(v1.global_variables_initializer())
            for variable in v1.global_variables():
                name = variable.op.name
                if name in initial_values:
                    variable.load(initial_values[name], session)
            v1.train.Saver().save(session, f"{path}/model.ckpt", write_meta_graph=False)
        # A relative path keeps the version directory relocatable (latest_checkpoint joins it).
        with open(f"{path}/checkpoint", "w") as handle:
            handle.write('model_checkpoint_path: "model.ckpt"\n'
                         'all_model_checkpoint_paths: "model.ckpt"\n')


def predict_signature(inputs: dict, outputs: dict):
    """A predict SignatureDef for graph tensors keyed by alias."""
    return v1.saved_model.signature_def_utils.predict_signature_def(inputs, outputs)
