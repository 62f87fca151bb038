"""scripts/model_tool.py, run as a user runs it: inspect prints the signatures and what the
server will do, convert writes a SavedModel in TF Serving's layout, check loads the model as
the server does and answers a request (or says why it cannot)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT, copy_model

pytestmark = pytest.mark.e2e


def tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "model_tool.py"), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_inspect_prints_each_signature_and_what_the_server_will_do():
    run = tool("inspect", ROOT / "models" / "half_plus_two")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "signature_def['serving_default']:  method: tensorflow/serving/predict" in out
    assert "x: DT_FLOAT (-1, 1)  (x:0)" in out and "y: DT_FLOAT (-1, 1)  (y:0)" in out
    assert "signature_def['classify_x_to_y']" in out and "inputs: DT_STRING unknown rank" in out
    assert "concurrent requests share a run" in out
    assert "warmup file: yes" in out


def test_inspect_names_an_image_classifier_and_a_fixed_batch():
    run = tool("inspect", ROOT / "models" / "digits")
    assert "image classifier: yes" in run.stdout, run.stderr


def test_check_loads_as_the_server_does_and_answers(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [[1.0], [3.0]]}))
    run = tool("check", ROOT / "models" / "half_plus_two", "--request", request)
    assert run.returncode == 0, run.stderr
    assert "load: AVAILABLE" in run.stdout
    assert 'answer: {"predictions":[[2.5],[3.5]]}' in run.stdout and "predict:" in run.stdout
    made_up = tool("check", ROOT / "models" / "model_b")  # a request from the signature
    assert made_up.returncode == 0 and 'answer: {"outputs":' in made_up.stdout, made_up.stderr


def test_check_says_why_a_model_will_not_serve(tmp_path):
    broken = copy_model("bad_half_plus_two", tmp_path / "broken")
    run = tool("check", broken)
    assert run.returncode == 1
    assert "load: END" in run.stdout and "saved_model.pb" in run.stdout


def test_convert_a_code_defined_checkpoint_to_a_saved_model_that_serves(tmp_path):
    run = tool("convert", ROOT / "models" / "model_b" / "1", tmp_path / "model_b",
               "--version", 3, "--wrapper", "model_b")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "model_b" / "3" / "saved_model.pb").is_file()
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [[[0.0] * 4] * 4]}))
    checked = tool("check", tmp_path / "model_b", "--request", request)
    assert '"predictions":[[[0.0,1.0,2.0,3.0]' in checked.stdout, checked.stdout + checked.stderr


def test_convert_a_frozen_graph_with_tensors_named_on_the_command_line(tmp_path):
    from scripts.make_zoo_models import _frozen
    _frozen(str(tmp_path / "frozen"), sidecar=False)
    run = tool("convert", tmp_path / "frozen" / "frozen_graph.pb", tmp_path / "converted",
               "--version", 1, "--inputs", "image=pixels:0", "--outputs",
               "scores=probabilities:0")
    assert run.returncode == 0, run.stderr
    assert "image: DT_FLOAT (-1, 4)" in run.stdout and "scores: DT_FLOAT" in run.stdout
