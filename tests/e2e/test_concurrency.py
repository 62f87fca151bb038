"""Many clients at once: every answer is right, so each model's graph and session is isolated."""
import threading

import numpy as np
import requests

from scripts.make_demo_models import MODEL_A_WEIGHT, MODEL_B_CONSTANT

THREADS = 32
REQUESTS_PER_THREAD = 6


def _expected(model: str, x: np.ndarray) -> np.ndarray:
    if model == "model_a":
        return x @ MODEL_A_WEIGHT
    if model == "model_b":
        return x + MODEL_B_CONSTANT
    return 0.5 * x + 2.0


def test_32_threads_predicting_on_two_models_all_get_their_own_answers(server):
    start = threading.Barrier(THREADS)
    failures: list[str] = []

    def client(index: int) -> None:
        rng = np.random.default_rng(index)
        session = requests.Session()
        start.wait()
        for step in range(REQUESTS_PER_THREAD):
            # Alternate the two demo models, with half_plus_two in between, and row/columnar.
            model = ("model_a", "model_b", "half_plus_two")[(index + step) % 3]
            shape = {"model_a": (2, 10, 10), "model_b": (3, 4, 4), "half_plus_two": (5,)}[model]
            x = rng.integers(-8, 9, size=shape).astype(np.float32) + index
            key, body = ("outputs", {"inputs": x.tolist()}) if step % 2 else \
                ("predictions", {"instances": x.tolist()})
            try:
                answer = session.post(f"{server.url}/v1/models/{model}:predict", json=body,
                                      timeout=60)
                got = np.asarray(answer.json()[key], dtype=np.float32)
                if answer.status_code != 200 or not np.allclose(got, _expected(model, x),
                                                                atol=1e-4):
                    failures.append(f"thread {index} {model}: {answer.status_code} "
                                    f"{answer.text[:200]}")
            except Exception as exc:  # a failure in a thread must reach the assertion below
                failures.append(f"thread {index} {model}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    assert failures == []
