"""KServe's v1 protocol against the real server: the request forms a KServe v1 client sends
to `POST /v1/models/{m}:predict`, and the documented differences (README, "KServe v1"), so
the table there stays true."""
from __future__ import annotations

import pytest

PREDICT = "/v1/models/half_plus_two:predict"


@pytest.mark.parametrize("body", [
    {"instances": [1.0, 2.0, 5.0]},                          # one value per instance
    {"instances": [[1.0], [2.0], [5.0]]},                    # one list per instance
    {"instances": [{"x": 1.0}, {"x": 2.0}, {"x": 5.0}]},     # named inputs per instance
], ids=["scalars", "lists", "named"])
def test_kserve_v1_instances_are_answered_with_predictions(server, body):
    answer = server.post(PREDICT, json=body)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    flat = [p[0] if isinstance(p, list) else p for p in predictions]
    assert flat == [2.5, 3.0, 4.5]


@pytest.mark.parametrize("body", [{"inputs": [1.0, 2.0, 5.0]}, {"inputs": {"x": [1.0, 2.0]}}],
                         ids=["list", "named"])
def test_kserve_v1_inputs_are_answered_with_tf_servings_outputs_key(server, body):
    """KServe's own servers answer `inputs` with `predictions`; TF Serving, and so we, with
    `outputs` (a documented difference; KServe does not enforce the response)."""
    answer = server.post(PREDICT, json=body)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"outputs"}
    assert answer.json()["outputs"][:2] == [2.5, 3.0]


def test_an_unknown_model_is_404_with_an_error_message_as_in_kserve(server):
    answer = server.post("/v1/models/no_such_model:predict", json={"instances": [1.0]})
    assert answer.status_code == 404
    assert set(answer.json()) == {"error"}


def test_model_readiness_has_tf_servings_shape_not_kserves_name_and_ready(server):
    """KServe v1: {"name": m, "ready": true}. Ours: ready is "a version is AVAILABLE"."""
    status = server.get("/v1/models/half_plus_two").json()
    assert "ready" not in status
    states = [v["state"] for v in status["model_version_status"]]
    assert "AVAILABLE" in states


def test_the_model_list_holds_objects_where_kserve_lists_names(server):
    """KServe v1: {"models": ["half_plus_two", ...]}. Ours: {"models": [{"name", ...}]}."""
    models = server.get("/v1/models").json()["models"]
    names = {m["name"] for m in models}
    assert "half_plus_two" in names
    assert all("model_version_status" in m for m in models)


def test_explain_is_not_served_and_says_so_as_tf_serving_does(server):
    answer = server.post("/v1/models/half_plus_two:explain", json={"instances": [1.0]})
    assert answer.status_code == 400
    assert answer.json() == {"error": "Malformed request: POST /v1/models/half_plus_two:explain"}
