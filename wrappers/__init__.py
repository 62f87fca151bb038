"""Model wrappers: one class per kind of model, each owning its own tf.Graph and Session.

`load_version(path, ...)` picks the class for a version directory, by what it holds:
  * `wrapper.json` naming a registered code-defined wrapper (graph in Python + checkpoint);
  * a SavedModel (`saved_model.pb` / `saved_model.pbtxt`), an image classifier when its
    signature says so;
  * a Keras file (`*.keras`, `*.h5`), served as the SavedModel Keras exports of it;
  * a frozen GraphDef (`*.pb` without `variables/`), with `signature.json` or a guess.
Only classes registered here can be named: a model directory never chooses arbitrary code.
"""
from __future__ import annotations

import json
import os

from serving.errors import LoadError

WRAPPER_FILE = "wrapper.json"


def loader(options=None, tags: str = "serve"):
    """`load(path) -> wrapper` with these session options and tags: what the core is given."""
    def load(path: str):
        return load_version(path, options, tags)
    return load


def __getattr__(name: str):
    if name == "SessionOptions":  # without importing TensorFlow at `import wrappers`
        from wrappers.base import SessionOptions
        return SessionOptions
    raise AttributeError(name)


def code_defined_wrappers() -> dict:
    from wrappers.demo import ModelA, ModelB
    return {cls.name: cls for cls in (ModelA, ModelB)}


def load_version(path: str, options=None, tags: str = "serve"):
    """Load one version directory with the right wrapper class; raises LoadError."""
    import tensorflow as tf
    try:
        marker = os.path.join(path, WRAPPER_FILE)
        if tf.io.gfile.exists(marker):
            with tf.io.gfile.GFile(marker) as handle:
                kind = json.load(handle).get("wrapper")
            registry = code_defined_wrappers()
            if kind not in registry:
                raise LoadError(f"{marker}: unknown wrapper {kind!r}; known: {sorted(registry)}",
                                "INVALID_ARGUMENT")
            return registry[kind](path, options)
        if not any(tf.io.gfile.exists(os.path.join(path, f))
                   for f in ("saved_model.pb", "saved_model.pbtxt")):
            return _other_format(path, options, tags)
        return _saved_model(path, options, tags)
    except LoadError:
        raise
    except tf.errors.OpError as exc:
        raise LoadError(exc.message, _code_name(exc)) from None
    except Exception as exc:  # a corrupt file can raise anything from protobuf or TF
        raise LoadError(f"{type(exc).__name__}: {exc}", "INVALID_ARGUMENT") from None


def _saved_model(path: str, options, tags: str, source: str | None = None,
                 assets_dir: str | None = None):
    from wrappers.image_classifier import saved_model_class  # image classifiers by signature
    from wrappers.saved_model import read_meta_graph
    meta_graph = read_meta_graph(path, tags)
    wrapper = saved_model_class(meta_graph)(path, options, tags, meta_graph, assets_dir)
    wrapper.source = source or path
    return wrapper


def _other_format(path: str, options, tags: str):
    """A Keras file or a frozen graph; else TF Serving's own message for a missing model."""
    from wrappers.frozen_graph import FrozenGraphWrapper, frozen_graph_file
    from wrappers.keras_files import exported, keras_file
    keras = keras_file(path)
    if keras is not None:
        # The export is cached by the file's content; the labels stay the version's own.
        return _saved_model(exported(keras), options, "serve", source=keras, assets_dir=path)
    frozen = frozen_graph_file(path)
    if frozen is not None:
        return FrozenGraphWrapper(path, frozen, options)
    raise LoadError(f"SavedModel file does not exist at: {path}/{{saved_model.pbtxt|"
                    f"saved_model.pb}}", "NOT_FOUND")


def _code_name(exc) -> str:
    from tensorflow.core.protobuf import error_codes_pb2
    try:
        return error_codes_pb2.Code.Name(exc.error_code)
    except ValueError:
        return "UNKNOWN"
