"""A Keras file dropped into a version directory (`model.keras`, or a legacy `.h5` where
tf-keras is installed), served as the SavedModel Keras' own `export` makes of it.

The export goes to a cache in the system's temporary folder, keyed by the file's content and
the Keras version, never next to (let alone over) the user's file: the version directory
stays what the operator put there, and an unchanged file is converted once per machine.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from serving.errors import LoadError

CACHE = os.path.join(tempfile.gettempdir(), "tf-flask-serving-keras-exports")


def keras_file(path: str) -> str | None:
    import tensorflow as tf
    names = sorted(n for n in tf.io.gfile.listdir(path) if n.endswith((".keras", ".h5")))
    return os.path.join(path, names[0]) if names else None


def exported(source: str) -> str:
    """The SavedModel directory for `source`, converted now if the cache lacks it."""
    import tensorflow as tf
    data = tf.io.gfile.GFile(source, "rb").read()
    legacy = source.endswith(".h5")
    keras = _tf_keras(source) if legacy else _keras()
    digest = hashlib.sha256(data + keras.__version__.encode()).hexdigest()[:16]
    target = os.path.join(CACHE, digest)
    if os.path.exists(os.path.join(target, "saved_model.pb")):
        return target
    work = tempfile.mkdtemp(prefix=digest + ".", dir=_cache_dir())
    try:
        local = os.path.join(work, os.path.basename(source))
        with open(local, "wb") as handle:  # the loaders want a local file; gfile may be remote
            handle.write(data)
        try:
            model = keras.models.load_model(local, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a bad file
            raise LoadError(f"{source}: Keras cannot load it: {type(exc).__name__}: {exc}",
                            "INVALID_ARGUMENT") from None
        export_dir = os.path.join(work, "saved_model")
        try:
            if legacy:
                tf.saved_model.save(model, export_dir)
            else:
                model.export(export_dir, verbose=False)
        except Exception as exc:  # noqa: BLE001
            raise LoadError(f"{source}: Keras cannot export it as a SavedModel: "
                            f"{type(exc).__name__}: {exc}", "INVALID_ARGUMENT") from None
        os.remove(local)
        try:
            os.replace(export_dir, target)
        except OSError:  # another worker converted it at the same time
            pass
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cache_dir() -> str:
    os.makedirs(CACHE, exist_ok=True)
    return CACHE


def _keras():
    import keras
    return keras


def _tf_keras(source: str):
    try:
        import tf_keras
    except ImportError:
        raise LoadError(f"{source}: a legacy .h5 Keras file needs tf-keras (pip install "
                        f"tf-keras); or save it as model.keras", "FAILED_PRECONDITION") from None
    return tf_keras
