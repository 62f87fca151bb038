"""Servers shared by the web, legacy and browser tests (tests/conftest.py imports them), so
that each server starts once per session whichever of those modules run.
"""
from __future__ import annotations

import shutil

import pytest

from tests.support.helpers import ROOT, ServerProcess
from tests.support.pictures import UPLOAD_LIMIT, save_image_model

LIMITS = {"MAX_IMAGE_BYTES": str(UPLOAD_LIMIT)}

@pytest.fixture(scope="session")
def models_server():
    """`python app.py --models_dir=models` (gunicorn): the shipped models, as a newcomer runs it."""
    process = ServerProcess("--models_dir=" + str(ROOT / "models"), env=LIMITS)
    yield process
    process.stop()


def _faulty(image):
    """An image classifier whose graph fails on every run (NaN caught by check_numerics)."""
    import tensorflow as tf
    nan = tf.debugging.check_numerics(tf.math.log(-1.0 - tf.reduce_mean(image)), "broken on purpose")
    return {"probabilities": tf.nn.softmax(tf.reshape(image, [-1, 784])[:, :10] + nan)}


def _scribbles(image):
    """A user's model: flattened 16x16 uint8 in, logits out, no labels: ink vs no ink."""
    import tensorflow as tf
    ink = tf.reduce_sum(tf.cast(image, tf.float32), 1) / 255.0
    return {"logits": tf.stack([ink - 6.0, tf.zeros_like(ink)], 1)}


@pytest.fixture(scope="session")
def mixed_server(tmp_path_factory):
    """models/ copied, plus a user's dropped-in image model, one model that fails to load
    (corrupt checkpoint) and one image model that fails whenever it runs; batching on."""
    base = tmp_path_factory.mktemp("mixed_models")
    for name in ("model_a", "model_b", "digits"):
        shutil.copytree(ROOT / "models" / name, base / name)
    shutil.copytree(ROOT / "models" / "model_b", base / "broken")
    (base / "broken" / "1" / "model.ckpt.data-00000-of-00001").write_bytes(b"not a checkpoint")
    save_image_model(base / "faulty" / "1", _faulty, [None, 28, 28, 1])
    save_image_model(base / "scribbles" / "1", _scribbles, [None, 256], "uint8")
    process = ServerProcess("--models_dir=" + str(base), "--enable_batching", env=LIMITS)
    yield process
    process.stop()
