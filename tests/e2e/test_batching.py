"""Batching through a real HTTP server: many concurrent clients, right answers, real batches.

The app comes from the factory with batching on and is served over loopback by a threaded
WSGI server in this process, so the test can read the batchers' counters afterwards (they
are not part of TF Serving's API, so no URL shows them).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from serving.config.batching import PER_MODEL_FILE, BatchingConfigError
from serving.config.settings import Settings
from serving.core import batching_options
from tests.support.helpers import ROOT, copy_model, free_port, write_config

CLIENTS = 64


def export_fixed_batch_model(path) -> None:
    """A TF1 SavedModel whose input is [1, 4]: its graph breaks if two rows are concatenated."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [1, 4], name="x")
        y = tf.reshape(tf.reshape(x, [4]) * 2.0 + 1.0, [1, 4], name="y")
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                {"x": x}, {"y": y})})
        builder.save()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, app) with batching on, served by a threaded server on a free port."""
    from werkzeug.serving import make_server

    from app import create_app
    base = tmp_path_factory.mktemp("batching")
    export_fixed_batch_model(base / "fixed" / "1")
    broken = copy_model("saved_model_half_plus_two_cpu", base / "broken")
    (broken / PER_MODEL_FILE).write_text("max_batch_size { value: 0 }")
    config = write_config(base / "models.config", {
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two"),
        "model_b": ROOT / "models" / "model_b", "fixed": base / "fixed", "broken": broken})
    app = create_app({"model_config_file": str(config), "enable_batching": True,
                      "file_system_poll_wait_seconds": 0})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    app.extensions["serving"].close()


def batch_stats(app, model: str) -> dict:
    return app.extensions["serving"].manager.resolve(model).batch_stats()["serving_default"]


def hammer(url: str, requests_for_client) -> list:
    """CLIENTS threads start together, each sending its own requests on its own connection."""
    start = threading.Barrier(CLIENTS)

    def client(index):
        with requests.Session() as session:
            start.wait()
            return [(expected, session.post(url + path, json=body, timeout=60))
                    for path, body, expected in requests_for_client(index)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [pair for pairs in pool.map(client, range(CLIENTS)) for pair in pairs]


def test_64_concurrent_clients_on_two_models_get_their_own_answers_in_batches(live):
    url, app = live
    constant = np.arange(16, dtype=np.float32).reshape(4, 4)  # model_b's checkpoint

    def requests_for_client(index):
        for step in range(4):
            value = float(index * 10 + step)
            yield ("/v1/models/half_plus_two:predict", {"instances": [[value]]},
                   {"predictions": [[value / 2 + 2]]})
            matrix = np.full((4, 4), value, np.float32)
            yield ("/v1/models/model_b:predict", {"instances": [matrix.tolist()]},
                   {"predictions": [(matrix + constant).tolist()]})

    answers = hammer(url, requests_for_client)
    assert len(answers) == CLIENTS * 8
    for expected, response in answers:
        assert response.status_code == 200, response.text
        assert response.json() == expected
    for model in ("half_plus_two", "model_b"):
        stats = batch_stats(app, model)
        assert stats["requests"] == CLIENTS * 4
        assert stats["max_batch_rows"] > 1, stats  # the model saw real batches
        assert stats["batches"] < stats["requests"]


def test_a_fixed_batch_of_one_model_answers_everyone_one_row_at_a_time(live):
    url, app = live

    def requests_for_client(index):
        rows = [[index + 0.25 * i for i in range(4)] for _ in range(1 + index % 3)]
        expected = [[2 * v + 1 for v in row] for row in rows]
        yield "/v1/models/fixed:predict", {"instances": rows}, {"predictions": expected}

    for expected, response in hammer(url, requests_for_client):
        assert response.status_code == 200, response.text
        assert response.json() == expected
    stats = batch_stats(app, "fixed")
    assert stats["max_batch_rows"] == 1 and stats["batch_rows"] == {1: stats["batches"]}


def test_a_request_that_does_not_fit_the_signature_runs_alone_as_without_batching(live):
    url, app = live
    before = batch_stats(app, "half_plus_two")["requests"]
    odd = requests.post(url + "/v1/models/half_plus_two:predict",
                        json={"instances": [[1.0, 2.0]]}, timeout=30)  # x is [-1, 1]
    assert odd.json() == {"predictions": [[2.5, 3.0]]}  # what TF computes for it unbatched
    assert batch_stats(app, "half_plus_two")["requests"] == before


def test_a_model_with_bad_batching_parameters_fails_to_load_with_the_bad_value(live):
    url, _ = live
    status = requests.get(url + "/v1/models/broken", timeout=30).json()
    (version,) = status["model_version_status"]
    assert version["state"] == "END"
    assert "max_batch_size must be >= 1, got 0" in version["status"]["error_message"]


def test_a_parameters_file_without_enable_batching_is_a_startup_error(tmp_path):
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 8 }")
    with pytest.raises(BatchingConfigError, match="--enable_batching"):
        batching_options(Settings.load(overrides={"batching_parameters_file": str(params),
                                                  "enable_batching": False}))
    options = batching_options(Settings.load(overrides={
        "batching_parameters_file": str(params), "enable_batching": True}))
    assert options.max_batch_size == 8
