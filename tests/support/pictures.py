"""Pictures and tiny image models made in the test, so each test shows what it sends."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

UPLOAD_LIMIT = 2 * 1024 * 1024   # MAX_IMAGE_BYTES of the test servers: oversized tests stay quick
SEVEN = [((30, 20), (30, 140)), ((30, 140), (180, 60))]       # (row, col) strokes in 200x160


def draw(strokes=SEVEN, shape=(200, 160), width: int = 9, dark_on_light: bool = True):
    """A uint8 grayscale picture of strokes (default: a 7 in 200x160), like a pen on paper."""
    from skimage.draw import disk, line
    ink = np.zeros(shape, bool)
    scale = min(shape[0] / 200, shape[1] / 160)   # strokes are given for a 200x160 picture
    for (r0, c0), (r1, c1) in strokes:
        ends = [round(v * scale) for v in (r0, c0, r1, c1)]
        for r, c in zip(*line(*ends)):
            ink[disk((r, c), width / 2, shape=shape)] = True
    picture = np.where(ink, 0, 255) if dark_on_light else np.where(ink, 255, 0)
    return picture.astype(np.uint8)


def encode(pixels: np.ndarray, extension: str) -> bytes:
    import imageio.v3 as iio
    return iio.imwrite("<bytes>", pixels, extension=extension)


def save_image_model(path: Path, fn, input_shape, dtype="float32", labels=None,
                     image_input=None) -> Path:
    """A SavedModel (constants only) whose serving_default maps `image` to fn's outputs."""
    import tensorflow as tf
    module = tf.Module()
    module.serve = tf.function(fn, input_signature=[tf.TensorSpec(input_shape, dtype, "image")])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    if labels is not None or image_input is not None:
        (path / "assets.extra").mkdir()
    if labels is not None:
        (path / "assets.extra" / "labels.txt").write_text("".join(f"{x}\n" for x in labels))
    if image_input is not None:
        (path / "assets.extra" / "image_input.json").write_text(json.dumps(image_input))
    return path
