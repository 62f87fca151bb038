"""/get_my_predictions in tensors: one body, featurized for every model that takes part.

A model takes part when its wrapper declares `featurize(body) -> feeds | None` (None: the
body holds nothing for it; the demo models hash the words of "text"), or when it is an image
classifier and the body holds `"image": {"b64": ...}`. A wrapper may declare
`describe(outputs)` to shape its answer (image classifiers answer their top 5). The REST
front adds models named in the body's raw `instances` (it owns that JSON) and encodes.
"""
from __future__ import annotations

from typing import Any, Mapping

from serving.errors import NotFound
from serving.images import Images, is_image_classifier
from serving.inference import Inference, Target


class Featurized:
    def __init__(self, inference: Inference, images: Images):
        self.inference, self.images = inference, images

    def run(self, target: Target, body: Mapping[str, Any]):
        """This model's answer to the body: the outputs (numpy, for the front to encode), or
        a plain dict when its wrapper describes them itself; None when the body holds
        nothing for this model."""
        wrapper = target.servable.wrapper
        if is_image_classifier(target.servable):
            feeds = self.images.features(target, body)
        else:
            featurize = getattr(wrapper, "featurize", None)
            feeds = featurize(body) if featurize is not None else None
        if feeds is None:
            return None
        outputs = self.inference.predict(target, feeds)
        if is_image_classifier(target.servable):
            best = wrapper.top_k(outputs, 5)
            return {"label": best[0]["label"], "probability": best[0]["probability"],
                    "top_k": best}
        describe = getattr(wrapper, "describe", None)
        return describe(outputs) if describe is not None else Outputs(outputs)

    def why_unavailable(self, name: str) -> str | None:
        """A model without a servable version: the reason its newest failure gives."""
        try:
            failed = [s for s in self.inference.status(name) if s.error_code != "OK"]
        except NotFound:
            return None
        if not failed:
            return None
        return f"Model {name} has no version that can serve: {failed[0].error_message}"


class Outputs(dict):
    """A model's outputs by alias, as arrays (as opposed to a wrapper's description)."""
