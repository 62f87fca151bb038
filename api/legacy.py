"""POST /get_my_predictions: the classic multi-model Flask example's endpoint.

    curl -d '{"text": "hello world"}' localhost:8501/get_my_predictions
    → {"Response": [{"model_a": [[...]]}, {"model_b": [[...]]}]}

Which models answer, and how each turns the body into its input, is declared by the models'
wrappers (wrappers/featurize.py); this view only moves JSON in and out.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from api import core
from serving import inference, jsonio
from wrappers.featurize import predict_all

bp = Blueprint("legacy", __name__)


@bp.post("/get_my_predictions")
def get_my_predictions():
    limits = current_app.extensions["limits"]
    body = inference.parse_body(request.get_data(), limits)
    return Response(jsonio.dumps({"Response": predict_all(core().manager, body, limits)}),
                    mimetype="application/json")
