"""Any SavedModel directory, TF1 SavedModelBuilder or TF2/Keras export, loaded in graph mode.

Before the load, the ops the graph uses that stock TensorFlow lacks are registered from the
library that has them (wrappers/op_libraries.py); after it, only when a signature reads
variables the restore left empty (a Keras 3 `tf.saved_model.save` export), those are filled
from its checkpoint (wrappers/variables.py).
"""
from __future__ import annotations

import os

import tensorflow as tf

from serving.errors import LoadError
from wrappers import op_libraries, variables
from wrappers.base import INIT_OP_SIGNATURE, ModelWrapper, SessionOptions

v1 = tf.compat.v1


def read_meta_graph(path: str, tags: str = "serve"):
    """The MetaGraphDef of `path` with exactly these tags, or None when there is none (or the
    file does not parse: the real load then says why)."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    model = saved_model_pb2.SavedModel()
    try:
        binary = os.path.join(path, "saved_model.pb")
        if tf.io.gfile.exists(binary):
            model.ParseFromString(tf.io.gfile.GFile(binary, "rb").read())
        else:
            text_format.Parse(tf.io.gfile.GFile(binary + "txt").read(), model)
    except Exception:  # noqa: BLE001 - any parse failure: the loader reports it properly
        return None
    return next((g for g in model.meta_graphs if set(g.meta_info_def.tags) == wanted), None)


class SavedModelWrapper(ModelWrapper):
    """Loads `saved_model.pb` + `variables/` into this wrapper's own graph and session."""

    def __init__(self, path: str, options: SessionOptions | None = None, tags: str = "serve",
                 meta_graph=None, assets_dir: str | None = None):
        self.tags = [t.strip() for t in tags.split(",") if t.strip()]
        # The version directory whose assets.extra/ (labels, image_input.json) the model
        # keeps: `path` itself, except for a Keras file exported into a shared cache.
        self.assets_dir = assets_dir or path
        self._looked_at = meta_graph   # read once by wrappers.load_version, if it did
        self.op_libraries: list[str] = []
        self.variable_fill = variables.Fill()
        super().__init__(path, options)
        if self.variable_fill.signatures:
            variables.check_signatures_run(self, self.variable_fill)

    @property
    def restored_variables(self) -> int:
        """How many empty variables the load filled from the checkpoint (0: none needed)."""
        return len(self.variable_fill.filled)

    def _build(self):
        meta_graph = self._looked_at or read_meta_graph(self.path, ",".join(self.tags))
        if meta_graph is not None:
            self.op_libraries = op_libraries.ensure_registered(meta_graph, self.path)
        self._looked_at = None
        try:
            meta_graph = v1.saved_model.loader.load(self.session, self.tags, self.path)
        except OSError as exc:  # the SavedModel proto itself is truncated or corrupt
            raise LoadError(f"Can't parse the SavedModel in {self.path}: {exc}",
                            "DATA_LOSS") from None
        self.meta_graph = meta_graph
        self.variable_fill = variables.restore_uninitialized(
            self.session, self.graph, self.path, meta_graph,
            [key for key in meta_graph.signature_def if key != INIT_OP_SIGNATURE])
        return dict(meta_graph.signature_def)
