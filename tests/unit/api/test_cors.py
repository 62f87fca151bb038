"""CORS answers are flask-cors's own, whether or not the request carries an Origin: the
answer to the Origin-less request is worked out once and reused (api/cors.py)."""
from __future__ import annotations

import pytest
import requests
from flask import Flask
from flask_cors import CORS

from api import cors
from serving.config.settings import Settings

ORIGINS = ["*", "https://good.example,https://other.example"]
REQUESTS = [
    ("POST", "/v1/models/half_plus_two:predict", {}),
    ("GET", "/v1/models/half_plus_two/metadata", {}),
    ("GET", "/V1/Models/half_plus_two", {}),
    ("GET", "/v1/models/nope", {}),                        # an error answer
    ("GET", "/healthz", {}),                               # outside /v1/: no CORS
    ("POST", "/v1/models/half_plus_two:predict", {"Origin": "https://good.example"}),
    ("POST", "/v1/models/half_plus_two:predict", {"Origin": "https://evil.example"}),
    ("OPTIONS", "/v1/models/half_plus_two:predict",
     {"Origin": "https://good.example", "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "Content-Type"}),
    ("GET", "/v1/models/half_plus_two", {"Access-Control-Request-Private-Network": "true"}),
]


def cors_headers(response) -> dict:
    return {k: v for k, v in response.headers.items()
            if k.lower().startswith("access-control-") or k.lower() == "vary"}


@pytest.fixture(scope="module", params=ORIGINS)
def pair(request, served_config):
    """Our app, and a bare Flask app given the same flask-cors options: the reference."""
    from app import create_app
    ours = create_app({"model_config_file": str(served_config), "cors_origins": request.param})
    yield ours.test_client(), reference_client(request.param)
    ours.extensions["serving"].close()


@pytest.mark.parametrize("method, path, headers", REQUESTS)
def test_every_answer_carries_exactly_flask_cors_headers(pair, method, path, headers):
    ours, reference = pair
    for _ in range(2):  # the second answer comes from what the first worked out
        mine = ours.open(path, method=method, headers=headers, json={"instances": [1.0]})
        assert cors_headers(mine) == cors_headers(
            reference.open(path, method=method, headers=headers))


def reference_client(origins: str):
    app = Flask("reference")
    CORS(app, **cors.options(Settings(cors_origins=origins)))
    app.add_url_rule("/<path:anything>", "any", lambda anything: "", methods=["GET", "POST"])
    return app.test_client()


@pytest.mark.parametrize("method, path, headers", REQUESTS[:6])
def test_the_live_server_answers_with_flask_cors_headers(server, method, path, headers):
    """Through gunicorn, whose workers build the reused answer at start."""
    expected = cors_headers(reference_client("*").open(path, method=method, headers=headers))
    for _ in range(2):
        mine = requests.request(method, server.url + path, headers=headers,
                                json={"instances": [1.0]}, timeout=30)
        assert cors_headers(mine) == expected


def test_cors_can_be_switched_off(served_config):
    from app import create_app
    app = create_app({"model_config_file": str(served_config),
                      "rest_api_enable_cors_support": False})
    try:
        answer = app.test_client().get("/v1/models/half_plus_two", headers={"Origin": "https://a.example"})
        assert answer.status_code == 200 and not cors_headers(answer)
    finally:
        app.extensions["serving"].close()
