"""/v2 and inference.GRPCInferenceService behind the tokens (the shared guarded server): the
protocol's probes stay open, everything else needs the API token, and loading or unloading a
model needs the admin token."""
from __future__ import annotations

import pytest
import requests
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tests.support.guarded_server import ADMIN_TOKEN, API, API_TOKENS


def test_the_probes_are_open_and_the_rest_needs_the_api_token(guarded_server):
    url = guarded_server.url
    assert requests.get(url + "/v2/health/live", timeout=30).status_code == 200
    assert requests.get(url + "/v2/health/ready", timeout=30).status_code == 200
    refused = requests.get(url + "/v2/models/half_plus_two", timeout=30)
    assert refused.status_code == 401 and "error" in refused.json()
    assert requests.get(url + "/v2/models/half_plus_two", headers=API, timeout=30).ok


def test_unloading_needs_the_admin_token(guarded_server):
    url = guarded_server.url + "/v2/repository/models/model_b/unload"
    wrong = {**API, "Authorization": "Bearer nope"}
    assert requests.post(url, headers=API, timeout=30).status_code == 401
    assert requests.post(url, headers=wrong, timeout=30).status_code == 401
    index = requests.post(guarded_server.url + "/v2/repository/index", headers=API, timeout=30)
    assert "model_b" in {entry["name"] for entry in index.json()}  # the API token reads it


def test_grpc_probes_are_open_and_repository_calls_need_the_admin_token(guarded_server):
    client = grpcclient.InferenceServerClient(guarded_server.grpc_target)
    assert client.is_server_live() and client.is_server_ready()
    with pytest.raises(InferenceServerException) as raised:
        client.get_model_metadata("half_plus_two")
    assert raised.value.status() == "StatusCode.UNAUTHENTICATED"
    api = {"authorization": f"Bearer {API_TOKENS[0]}"}
    assert client.get_model_metadata("half_plus_two", headers=api).name == "half_plus_two"
    with pytest.raises(InferenceServerException) as raised:
        client.unload_model("model_b", headers=api)
    assert raised.value.status() == "StatusCode.UNAUTHENTICATED"
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}", "x-api-key": API_TOKENS[0]}
    client.load_model("model_b", headers=admin)   # loads again what is loaded: a rescan
    assert client.is_model_ready("model_b", headers=api)
