"""create_app() builds a working server from settings; nothing heavy happens at import time."""
import subprocess
import sys

from tests.support.helpers import ROOT


def test_importing_app_does_not_import_tensorflow():
    # gunicorn imports app.py in the master before forking: TensorFlow must not be loaded there.
    code = "import sys, app; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_factory_serves_every_configured_model(client):
    listing = client.get("/v1/models").get_json()
    names = {model["name"] for model in listing["models"]}
    assert {"half_plus_two", "model_a", "model_b", "bad"} <= names


def test_demo_models_answer_with_their_checkpoint_weights(client):
    identity = [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)]
    answer = client.post("/v1/models/model_b:predict", json={"instances": [identity]})
    assert answer.status_code == 200
    expected = [[(1.0 if i == j else 0.0) + i * 4 + j for j in range(4)] for i in range(4)]
    assert answer.get_json() == {"predictions": [expected]}
