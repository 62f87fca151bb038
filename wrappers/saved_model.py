"""Any SavedModel directory, TF1 SavedModelBuilder or TF2/Keras export, loaded in graph mode."""
from __future__ import annotations

import tensorflow as tf

from serving.errors import LoadError
from wrappers.base import ModelWrapper, SessionOptions

v1 = tf.compat.v1


class SavedModelWrapper(ModelWrapper):
    """Loads `saved_model.pb` + `variables/` into this wrapper's own graph and session."""

    def __init__(self, path: str, options: SessionOptions | None = None, tags: str = "serve"):
        self.tags = [t.strip() for t in tags.split(",") if t.strip()]
        super().__init__(path, options)

    def _build(self):
        try:
            meta_graph = v1.saved_model.loader.load(self.session, self.tags, self.path)
        except OSError as exc:  # the SavedModel proto itself is truncated or corrupt
            raise LoadError(f"Can't parse the SavedModel in {self.path}: {exc}",
                            "DATA_LOSS") from None
        self.meta_graph = meta_graph
        return dict(meta_graph.signature_def)
