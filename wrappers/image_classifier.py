"""SavedModels that classify pictures: which ones count, their labels, and picture → top-k.

Any SavedModel whose serving_default takes one picture-shaped input and gives one [N, K]
score output is served as an image classifier, with no code of its own; its version
directory may carry `assets.extra/labels.txt` (one label per line) and
`assets.extra/image_input.json` ({"range": [lo, hi], "background": "dark"|"light"|"any"}).
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from serving.errors import LoadError
from wrappers import image_io
from wrappers.base import Signature
from wrappers.image_prep import ImageInput, prepare
from wrappers.image_signature import SIGNATURE, ImageSignature, image_signature
from wrappers.saved_model import SavedModelWrapper

BACKGROUNDS = ("dark", "light", "any")


def saved_model_class(meta_graph):
    """ImageClassifierWrapper when the MetaGraphDef's signature says so, else SavedModelWrapper."""
    proto = meta_graph.signature_def.get(SIGNATURE) if meta_graph is not None else None
    if proto is not None and image_signature(Signature.from_proto(SIGNATURE, proto)) is not None:
        return ImageClassifierWrapper
    return SavedModelWrapper


class ImageClassifierWrapper(SavedModelWrapper):
    """A SavedModel image classifier: turns any picture into its input, scores into labels."""

    def __init__(self, path: str, options=None, tags: str = "serve", meta_graph=None,
                 assets_dir: str | None = None):
        super().__init__(path, options, tags, meta_graph, assets_dir)
        self.image = image_signature(self.signatures.get(SIGNATURE))
        if self.image is None:
            raise LoadError(f"{path}: serving_default is not an image classifier signature",
                            "INVALID_ARGUMENT")
        self.input = _image_input(self.assets_dir, self.image)
        self.labels, self.labels_file = _labels(self.assets_dir, self.image.classes)

    def preprocess(self, pixels: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Decoded pixels → (feeds for serving_default, the HxWxC picture the model sees)."""
        seen = prepare(pixels, self.input)
        low, high = self.input.value_range
        values = (low + seen * (high - low)).reshape((1,) + self.image.shape)
        if self.image.dtype == np.uint8:
            values = np.round(values)
        return {self.image.input_alias: values.astype(self.image.dtype)}, seen

    def scores(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The first row of the score output as probabilities (softmax if they are logits)."""
        row = np.asarray(outputs[self.image.output_alias], np.float64)[0]
        if row.min() >= 0 and row.max() <= 1 and abs(row.sum() - 1) < 1e-3:
            return row
        shifted = np.exp(row - row.max())
        return shifted / shifted.sum()

    def top_k(self, outputs: dict[str, np.ndarray], k: int = 5) -> list[dict]:
        probabilities = self.scores(outputs)
        order = np.argsort(-probabilities, kind="stable")[:max(1, k)]
        return [{"label": self.labels[i], "index": int(i), "probability": float(probabilities[i])}
                for i in order]

    def decode_picture(self, data: bytes, max_pixels: int) -> np.ndarray:
        """Bytes of a picture → float pixels (image_io: the header is checked first)."""
        return image_io.decode(data, max_pixels)

    def png(self, pixels: np.ndarray) -> bytes:
        return image_io.png(pixels)

    def thumbnail(self, pixels: np.ndarray) -> np.ndarray:
        return image_io.thumbnail(pixels)


LABELS_FILE = os.path.join("assets.extra", "labels.txt")


def _labels(path: str, classes: int) -> tuple[list[str], str | None]:
    """(names from assets.extra/labels.txt padded with class indices, that file's path or
    None when there is none and the names are the indices)."""
    names: list[str] = []
    labels = os.path.join(path, LABELS_FILE)
    found = tf.io.gfile.exists(labels)
    if found:
        with tf.io.gfile.GFile(labels) as handle:
            names = [line.strip() for line in handle.read().splitlines()][:classes]
    return names + [str(i) for i in range(len(names), classes)], labels if found else None


def _image_input(path: str, image: ImageSignature) -> ImageInput:
    settings: dict = {}
    description = os.path.join(path, "assets.extra", "image_input.json")
    if tf.io.gfile.exists(description):
        try:
            with tf.io.gfile.GFile(description) as handle:
                settings = json.load(handle)
        except ValueError as exc:
            raise LoadError(f"{description}: {exc}", "INVALID_ARGUMENT") from None
    background = settings.get("background", "dark" if image.channels == 1 else "any")
    default_range = (0.0, 255.0) if image.dtype == np.uint8 else (0.0, 1.0)
    value_range = tuple(float(v) for v in settings.get("range", default_range))
    fraction = float(settings.get("ink_fraction", 20 / 28))
    if background not in BACKGROUNDS or len(value_range) != 2 or not 0 < fraction <= 1:
        raise LoadError(f"{description}: expected background in {BACKGROUNDS}, range [lo, hi] "
                        f"and 0 < ink_fraction <= 1; got {settings}", "INVALID_ARGUMENT")
    return ImageInput(image.height, image.width, image.channels, background, value_range,
                      fraction)
