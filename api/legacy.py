"""POST /get_my_predictions: the classic multi-model Flask example's endpoint.

    curl -d '{"text": "hello world"}' localhost:8501/get_my_predictions
    → {"Response": [{"model_a": [[...]]}, {"model_b": [[...]]}]}

Which models answer, and how each turns the body into its input, is the core's business
(serving/featurized.py); this view reads the raw `instances` a body may carry for a model by
name (TF Serving's row format) and moves JSON in and out. One model's failure becomes its
own {"error": ...} entry while the others answer.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from api import core
from api.codec import jsonio, tensors
from serving.errors import InvalidArgument, NotFound, ServingError
from serving.featurized import Outputs
from serving.inference import ModelSpec

bp = Blueprint("legacy", __name__)


@bp.post("/get_my_predictions")
def get_my_predictions():
    serving = core()
    body = jsonio.load_request(request.get_data(), serving.limits, pictures=_pictures)
    raw = body.get("instances", {})
    if not isinstance(raw, dict):
        raise InvalidArgument('"instances" must map model names to that model\'s instances')
    answers = []
    for name in serving.inference.model_names():
        try:
            answer = _answer(name, body, raw.get(name))
        except NotFound as error:
            answer = {"error": serving.featurized.why_unavailable(name) or error.message}
        except ServingError as error:
            answer = {"error": error.message}
        if answer is not None:
            answers.append({name: answer})
    if not answers:
        raise InvalidArgument('Nothing to predict: send "text", "image": {"b64": ...} or '
                              '"instances": {"<model>": [...]}')
    return Response(jsonio.dumps({"Response": answers}), mimetype="application/json")


def _pictures() -> str:
    """Where a picture sent here as a file belongs (said only when the body is one)."""
    image_models = [choice.name for choice in core().images.choices()]
    where = (f", or POST it to /v1/images/{image_models[0]}:classify (image models here: "
             f"{', '.join(image_models)})") if image_models else ""
    return f'Send it here as JSON {{"image": {{"b64": "<the picture in base64>"}}}}{where}.'


def _answer(name: str, body: dict, instances):
    serving = core()
    with serving.inference.resolve(ModelSpec(name)) as target:
        if instances is not None:
            feeds = tensors.decode_instances(instances, target.signature().inputs,
                                             limits=serving.limits)
            outputs = serving.inference.predict(target, feeds)
            return tensors.encode_predict(outputs, False)["predictions"]
        answer = serving.featurized.run(target, body)
    if isinstance(answer, Outputs):  # the body is one instance: its row
        return tensors.encode_predict(answer, False)["predictions"][0]
    return answer
