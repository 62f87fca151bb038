"""Big float tensors in JSON through the real server (gunicorn, two workers, real HTTP): the
dense path (api/codec/dense.py) answers exactly what the general decoder answers, from many
threads at once (each gunicorn thread has its own parser)."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from api.codec import dense

pytestmark = pytest.mark.e2e

PICTURES = np.random.default_rng(11).uniform(size=(3, 28, 28, 1)).round(3).tolist()


def pairs():
    """(dense body, the same values in a shape the dense path leaves alone) for each key."""
    row_dense = {"instances": PICTURES}
    row_general = {"instances": [{"image": picture} for picture in PICTURES]}
    columnar_dense = {"inputs": PICTURES}
    columnar_general = {"inputs": {"image": PICTURES}}
    return [(row_dense, row_general), (columnar_dense, columnar_general)]


def same_answer(fast: dict, slow: dict) -> bool:
    def rows(answer):
        body = answer.get("predictions") or answer["outputs"]
        if isinstance(body, dict):
            return body["classes"], body["probabilities"]
        return [r["classes"] for r in body], [r["probabilities"] for r in body]
    (fast_classes, fast_p), (slow_classes, slow_p) = rows(fast), rows(slow)
    return fast_classes == slow_classes and np.allclose(fast_p, slow_p, rtol=1e-5, atol=1e-7)


def test_the_bodies_take_the_paths_this_test_means():
    import json
    for fast, slow in pairs():
        assert dense.split(json.dumps(fast).encode()) is not None
        assert dense.split(json.dumps(slow).encode()) is None


def test_a_big_nested_float_body_answers_as_the_general_path_from_many_threads(models_server):
    url = models_server.url + "/v1/models/digits:predict"

    def both(pair):
        fast, slow = (requests.post(url, json=body, timeout=30) for body in pair)
        assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
        return fast.json(), slow.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(both, pairs() * 8))
    # Exactly the same inputs, but not always the same batch-mates: oneDNN's float sums
    # depend on the batch's size, so answers agree to float32's precision, not to the bit.
    for fast, slow in answers:
        assert same_answer(fast, slow)
    rows, columns = answers[0][0], answers[1][0]
    assert [len(row["probabilities"]) for row in rows["predictions"]] == [10, 10, 10]
    assert np.allclose([row["probabilities"] for row in rows["predictions"]],
                       columns["outputs"]["probabilities"], rtol=1e-5, atol=1e-7)
