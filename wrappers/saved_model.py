"""Any SavedModel directory, TF1 SavedModelBuilder or TF2/Keras export, loaded in graph mode."""
from __future__ import annotations

import tensorflow as tf

from wrappers.base import ModelWrapper, SessionOptions

v1 = tf.compat.v1


class SavedModelWrapper(ModelWrapper):
    """Loads `saved_model.pb` + `variables/` into this wrapper's own graph and session."""

    def __init__(self, path: str, options: SessionOptions | None = None, tags: str = "serve"):
        self.tags = [t.strip() for t in tags.split(",") if t.strip()]
        super().__init__(path, options)

    def _build(self):
        meta_graph = v1.saved_model.loader.load(self.session, self.tags, self.path)
        self.meta_graph = meta_graph
        return dict(meta_graph.signature_def)
