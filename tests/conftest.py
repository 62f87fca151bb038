"""Shared fixtures: the test models in temporary base paths, an in-process app, a live server."""
from __future__ import annotations

import pytest

from tests.support.guarded_server import guarded_flags
from tests.support.helpers import ROOT, ServerProcess, build_test_models, copy_model, write_config
from tests.support.image_fixtures import mixed_server, models_server  # noqa: F401  (fixtures)


def pytest_sessionstart(session):
    """Build the test models (scripts/make_test_models.py) before the first test, once."""
    build_test_models()


# The test models the REST tests serve together, by the name they are served under.
SERVED_MODELS = {
    "half_plus_two": "saved_model_half_plus_two_cpu",
    "half_plus_three": "saved_model_half_plus_three",
    "two_versions": "saved_model_half_plus_two_2_versions",
    "tf2": "saved_model_half_plus_two_tf2_cpu",
    "counter": "saved_model_counter",
    "matrix": "matrix_half_plus_two",
    "gpu_pinned": "saved_model_half_plus_two_gpu",
    "bad": "bad_half_plus_two",
    "multi_input": "multi_input",
    "every_dtype": "every_dtype",
}


@pytest.fixture(scope="session")
def served_config(tmp_path_factory):
    """A model_config_list over copies of the test models plus the shipped demo models."""
    base = tmp_path_factory.mktemp("models")
    models = {name: copy_model(source, base / name) for name, source in SERVED_MODELS.items()}
    models["model_a"] = ROOT / "models" / "model_a"
    models["model_b"] = ROOT / "models" / "model_b"
    path = write_config(base / "models.config", models)
    text = path.read_text().replace(
        'name: "two_versions"',
        'name: "two_versions"\n    model_version_policy { all {} }\n'
        '    version_labels { key: "stable" value: 123 }\n'
        '    version_labels { key: "canary" value: 124 }')
    path.write_text(text)
    return path


@pytest.fixture
def app(served_config):
    """A fresh app from the factory for each test (flaskr's way): nothing one test does to
    it (labels, counters, closed versions) reaches the next."""
    from app import create_app
    application = create_app({"model_config_file": str(served_config),
                              "file_system_poll_wait_seconds": 0})
    application.config["TESTING"] = True
    yield application
    application.extensions["serving"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def server(served_config):
    """The real thing: `python app.py --model_config_file=...` under gunicorn on loopback.
    One worker: the test models include a stateful counter, and each worker keeps its own
    state (README "Workers"); several workers have tests of their own."""
    process = ServerProcess(f"--model_config_file={served_config}", "--workers=1")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory):
    """A live server with low limits and both tokens on (tests/support/guarded_server.py)."""
    # One worker: the documented examples change labels and read them back in sequence.
    process = ServerProcess(*guarded_flags(tmp_path_factory.mktemp("guarded")), "--workers=1",
                            ready_path="/readyz")
    yield process
    process.stop()
