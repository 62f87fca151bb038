"""Pictures in: the page, /v1/images and /get_my_predictions classify an upload here.

The one way a picture becomes a model's input: bytes (or base64 text) → the model's wrapper
decodes it (wrappers/image_io.py, header checked first against max_image_pixels) and
prepares it to its geometry → `servable.run`, so a batcher, when on, batches page uploads
like any other request. Any wrapper with `decode_picture`, `preprocess` and `top_k` counts
as an image classifier (wrappers/image_classifier.py is the one that ships).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses

import numpy as np

from serving.errors import InvalidArgument, NotFound
from serving.inference import Inference, ModelSpec, Target
from serving.models.state import AVAILABLE


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
    payload: dict            # model, version, label, probability, top_k
    pixels: np.ndarray       # the decoded upload
    seen: np.ndarray         # what the model was given, HxWxC in [0, 1]
    _wrapper: object

    def seen_png(self) -> bytes:
        return self._wrapper.png(self.seen)

    def upload_png(self) -> bytes:
        """A small copy of the upload, for the page without JavaScript."""
        return self._wrapper.png(self._wrapper.thumbnail(self.pixels))


def is_image_classifier(servable) -> bool:
    wrapper = servable.wrapper
    return all(callable(getattr(wrapper, name, None))
               for name in ("decode_picture", "preprocess", "top_k"))


def picture_bytes(text: str) -> bytes:
    """Base64 (or a `data:` URL) → bytes; InvalidArgument when it is not base64."""
    try:
        return base64.b64decode(text.split(",", 1)[1] if text.startswith("data:") else text,
                                validate=False)
    except (binascii.Error, ValueError):
        raise InvalidArgument("The image is not valid base64.") from None


class Images:
    def __init__(self, inference: Inference, max_pixels: int):
        self.inference, self.max_pixels = inference, max_pixels
        # (model, version) → (labels, labels source) of image classifiers seen loaded: under
        # a memory budget a version out of memory stays offered once it has been loaded.
        self._seen: dict[tuple[str, int], tuple[tuple, str]] = {}

    def choices(self) -> list[Choice]:
        """Every model with at least one AVAILABLE image-classifier version."""
        found = []
        for name in self.inference.model_names():
            try:
                statuses = self.inference.status(name)
            except NotFound:
                continue
            usable = []
            for status in statuses:
                if status.state != AVAILABLE:
                    continue
                servable = self.inference.manager.loaded(name, status)
                if servable is not None and is_image_classifier(servable):
                    wrapper = servable.wrapper
                    self._seen[(name, status.version)] = (tuple(wrapper.labels),
                                                          _labels_source(name, wrapper))
                if (name, status.version) in self._seen:
                    usable.append(status.version)
            if usable:
                labels, source = self._seen[(name, usable[0])]
                found.append(Choice(name, tuple(usable), labels, source))
        return found

    def classify(self, name: str, version: int | None, data: bytes, top_k: int = 5) -> Answer:
        """Decode, prepare, run and label one picture; raises the core's typed errors."""
        if not 1 <= top_k <= 1000:
            raise InvalidArgument(f"top_k must be between 1 and 1000, got {top_k}")
        with self.inference.resolve(ModelSpec(name, version)) as target:
            wrapper = _classifier(target).servable.wrapper
            pixels = wrapper.decode_picture(data, self.max_pixels)
            feeds, seen = wrapper.preprocess(pixels)
            outputs = target.servable.run(target.signature(), feeds, (wrapper.image.output_alias,))
            best = wrapper.top_k(outputs, top_k)
        payload = {"model": name, "version": target.version, "label": best[0]["label"],
                   "probability": best[0]["probability"], "top_k": best}
        return Answer(payload, pixels, seen, wrapper)

    def features(self, target: Target, body) -> dict[str, np.ndarray] | None:
        """/get_my_predictions: `{"image": {"b64": ...}}` in the body → this model's feeds."""
        image = body.get("image")
        if image is None:
            return None
        if not isinstance(image, dict) or not isinstance(image.get("b64"), str):
            raise InvalidArgument('"image" must be {"b64": "<base64 of a picture>"}')
        wrapper = target.servable.wrapper
        return wrapper.preprocess(wrapper.decode_picture(picture_bytes(image["b64"]),
                                                         self.max_pixels))[0]


def _classifier(target: Target) -> Target:
    if not is_image_classifier(target.servable):
        raise InvalidArgument(
            f"Model {target.spec.name} version {target.version} is not an image classifier: its "
            "serving_default signature needs one picture input ([N,H,W,1|3], [N,H,W] or "
            "[N,H*W]) and one [N,K] score output.")
    return target


def _labels_source(name: str, wrapper) -> str:
    """The labels file as the operator laid it out (model/version/...), never a full path."""
    if getattr(wrapper, "labels_file", None) is None:
        return ""
    version_dir = wrapper.path.rstrip("/").rsplit("/", 1)[-1]
    return "/".join((name, version_dir, "assets.extra", "labels.txt"))
