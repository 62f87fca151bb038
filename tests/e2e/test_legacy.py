"""POST /get_my_predictions: one body, every model that takes part, each featurized its own way."""
import base64
import re

import numpy as np
import pytest

from scripts.make_demo_models import MODEL_A_WEIGHT, MODEL_B_CONSTANT
from tests.support.pictures import draw, encode
from wrappers.featurize import hashed_words

pytestmark = pytest.mark.e2e

TEXT = "The quick brown fox jumps over the lazy dog; the dog sleeps."
IMAGE = {"b64": base64.b64encode(encode(draw(), ".png")).decode()}


def predictions(server, body):
    answer = server.post("/get_my_predictions", json=body)
    assert answer.status_code == 200, answer.text
    response = answer.json()["Response"]
    assert all(len(entry) == 1 for entry in response)     # [{"model_a": ...}, {"model_b": ...}]
    return [name for entry in response for name in entry], {k: v for e in response
                                                             for k, v in e.items()}


def test_text_and_a_picture_reach_every_model_in_the_classic_shape(models_server):
    names, answers = predictions(models_server, {"text": TEXT, "image": IMAGE})
    assert names == ["digits", "model_a", "model_b"]
    words_a = hashed_words(TEXT, 100).reshape(10, 10)      # model_a's featurizer: 10x10
    words_b = hashed_words(TEXT, 16).reshape(4, 4)         # model_b's featurizer: 4x4
    assert np.allclose(answers["model_a"], words_a @ MODEL_A_WEIGHT, atol=1e-6)
    assert np.allclose(answers["model_b"], words_b + MODEL_B_CONSTANT, atol=1e-6)
    assert answers["digits"]["label"] == "7" and len(answers["digits"]["top_k"]) == 5


def test_hashed_words_are_stable_and_count_repeats():
    once, twice = hashed_words("dog", 16), hashed_words("dog dog cat", 16)
    assert np.array_equal(once, hashed_words("Dog!", 16)) and np.count_nonzero(once) == 1
    assert sorted(twice[twice > 0]) == pytest.approx([1 / 5 ** 0.5, 2 / 5 ** 0.5])  # L2-normed


def test_a_model_with_nothing_in_the_body_for_it_sits_out(models_server):
    names, _ = predictions(models_server, {"text": TEXT})
    assert names == ["model_a", "model_b"]


def test_raw_instances_go_to_the_model_they_name(models_server):
    identity = np.eye(4).tolist()
    names, answers = predictions(models_server, {"instances": {"model_b": [identity]}})
    assert names == ["model_b"]
    assert np.allclose(answers["model_b"], [np.eye(4) + MODEL_B_CONSTANT])


@pytest.mark.parametrize("body, message", [
    (b"{not json", "JSON"), (b"[1, 2]", "Is not object"), (b"{}", "Nothing to predict"),
    (b'{"instances": [1]}', "instances"),
])
def test_a_body_that_asks_nothing_of_anyone_is_a_400(models_server, body, message):
    answer = models_server.post("/get_my_predictions", data=body,
                                headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and message in answer.json()["error"]


def batches_run(server) -> dict[str, float]:
    metrics = server.get("/monitoring/prometheus/metrics").text
    return {model: float(count) for model, count in re.findall(
        r'serving_batch_size_count\{model="(\w+)"[^}]*\} (\S+)', metrics)}


def test_one_failing_model_gets_an_error_entry_while_the_others_answer(mixed_server):
    before = batches_run(mixed_server)
    names, answers = predictions(mixed_server, {"text": TEXT, "image": IMAGE})
    assert names == ["broken", "digits", "faulty", "model_a", "model_b", "scribbles"]
    assert answers["broken"]["error"].startswith("Model broken has no version that can serve:")
    assert "broken on purpose" in answers["faulty"]["error"]
    assert answers["digits"]["label"] == "7" and answers["scribbles"]["label"] == "0"
    assert np.array(answers["model_a"]).shape == (10, 10)
    after = batches_run(mixed_server)                    # this server batches: each went through
    for name in ("digits", "model_a", "model_b", "scribbles"):
        assert after[name] == before.get(name, 0) + 1


def test_a_bad_picture_fails_only_the_picture_models(models_server):
    names, answers = predictions(models_server, {"text": TEXT, "image": {"b64": "aGVsbG8="}})
    assert "PNG, JPEG" in answers["digits"]["error"]
    assert "error" not in answers["model_a"] and "error" not in answers["model_b"]
