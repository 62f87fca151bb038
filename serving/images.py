"""Classifying one picture with a served image model: the core of the page and /v1/images.

The wrapper (wrappers/image_classifier.py) knows its model's geometry and labels; this
module finds the servable, decodes the upload once and runs it through `servable.run`,
so a batcher, when on, batches page uploads like any other request.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from serving.errors import InvalidArgument, NotFound
from serving.manager import AVAILABLE


@dataclasses.dataclass(frozen=True)
class Choice:
    """An image model the page offers: its AVAILABLE versions (newest first), the labels of
    the newest and where they come from (e.g. "digits/1/assets.extra/labels.txt")."""

    name: str
    versions: tuple[int, ...]
    labels: tuple[str, ...] = ()
    labels_source: str = ""


@dataclasses.dataclass
class Answer:
    payload: dict            # what the JSON endpoint returns
    pixels: np.ndarray       # the decoded upload
    seen: np.ndarray         # what the model was given, HxWxC in [0, 1]

    def seen_url(self) -> str:
        from wrappers.image_io import png_data_url
        return png_data_url(self.seen)

    def upload_url(self) -> str:
        from wrappers.image_io import png_data_url, thumbnail
        return png_data_url(thumbnail(self.pixels))


def is_image_classifier(servable) -> bool:
    return callable(getattr(servable.wrapper, "preprocess", None)) and \
        hasattr(servable.wrapper, "top_k")


def choices(manager) -> list[Choice]:
    """Every model with at least one AVAILABLE image-classifier version."""
    found = []
    for name in manager.model_names():
        try:
            statuses = manager.status(name)
        except NotFound:
            continue
        usable = [s for s in statuses if s.state == AVAILABLE and s.servable is not None
                  and is_image_classifier(s.servable)]
        if usable:
            newest = usable[0].servable.wrapper
            found.append(Choice(name, tuple(s.version for s in usable), tuple(newest.labels),
                                _labels_source(name, newest)))
    return found


def _labels_source(name: str, wrapper) -> str:
    """The labels file as the operator laid it out (model/version/...), never a full path."""
    if getattr(wrapper, "labels_file", None) is None:
        return ""
    version_dir = wrapper.path.rstrip("/").rsplit("/", 1)[-1]
    return "/".join((name, version_dir, "assets.extra", "labels.txt"))


def classifier(manager, name: str, version: int | None = None):
    servable = manager.resolve(name, version)
    if not is_image_classifier(servable):
        raise InvalidArgument(
            f"Model {name} version {servable.version} is not an image classifier: its "
            "serving_default signature needs one picture input ([N,H,W,1|3], [N,H,W] or "
            "[N,H*W]) and one [N,K] score output.")
    return servable


def classify(manager, name: str, version: int | None, data: bytes, top_k: int = 5,
             max_pixels: int | None = None) -> Answer:
    """Decode, prepare, run and label one picture; raises the core's typed errors."""
    from wrappers import image_io
    servable = classifier(manager, name, version)
    if not 1 <= top_k <= 1000:
        raise InvalidArgument(f"top_k must be between 1 and 1000, got {top_k}")
    pixels = image_io.decode(data, max_pixels or image_io.MAX_PIXELS)
    wrapper = servable.wrapper
    feeds, seen = wrapper.preprocess(pixels)
    signature = servable.signature(None)
    outputs = servable.run(signature, feeds, (wrapper.image.output_alias,))
    best = wrapper.top_k(outputs, top_k)
    payload = {"model": name, "version": servable.version, "label": best[0]["label"],
               "probability": best[0]["probability"], "top_k": best}
    return Answer(payload, pixels, seen)
