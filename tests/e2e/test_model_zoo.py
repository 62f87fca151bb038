"""Every way people export a model, served right: each model of the zoo (scripts/
make_zoo_models.py) is AVAILABLE, has its metadata, and answers a row and a columnar predict
with what TensorFlow computes for it eagerly, through the real server; empty variables are
filled at load exactly where TensorFlow's own graph-mode load leaves a signature unable to run."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from scripts.make_zoo_models import CASES
from tests.support.helpers import ROOT, ServerProcess, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    base = tmp_path_factory.mktemp("zoo")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_zoo_models.py"),
                          str(base)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    config = write_config(base / "models.config", {name: base / name for name in CASES})
    server = ServerProcess(f"--model_config_file={config}", "--workers=1", timeout=300)
    yield server, base
    server.stop()


def case(base, name) -> dict:
    return json.loads((base / f"{name}.case.json").read_text())


def same(got, expected) -> bool:
    if isinstance(expected, list) and expected and isinstance(expected[0], str):
        return got == expected
    return np.allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                       rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_export_loads_describes_itself_and_answers_as_tensorflow_does(zoo, name):
    server, base = zoo
    spec = case(base, name)
    status = server.get(f"/v1/models/{name}").json()["model_version_status"]
    assert [(s["state"], s["status"]["error_code"]) for s in status] == [("AVAILABLE", "OK")], \
        status
    metadata = server.get(f"/v1/models/{name}/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"][spec["signature"]]
    assert set(signature["inputs"]) == set(spec["inputs"])
    assert set(signature["outputs"]) == set(spec["outputs"])

    columnar = server.post(f"/v1/models/{name}:predict", json={
        "signature_name": spec["signature"], "inputs": spec["inputs"]})
    assert columnar.status_code == 200, columnar.text
    outputs = columnar.json()["outputs"]
    if len(spec["outputs"]) == 1:
        outputs = {next(iter(spec["outputs"])): outputs}
    for alias, expected in spec["outputs"].items():
        assert same(outputs[alias], expected), (alias, outputs[alias], expected)

    aliases = list(spec["inputs"])
    rows = len(next(iter(spec["inputs"].values())))
    instances = ([spec["inputs"][aliases[0]][i] for i in range(rows)] if len(aliases) == 1 else
                 [{a: spec["inputs"][a][i] for a in aliases} for i in range(rows)])
    row = server.post(f"/v1/models/{name}:predict", json={
        "signature_name": spec["signature"], "instances": instances})
    assert row.status_code == 200, row.text
    predictions = row.json()["predictions"]
    for alias, expected in spec["outputs"].items():
        got = predictions if len(spec["outputs"]) == 1 else [p[alias] for p in predictions]
        assert same(got, expected), (alias, got, expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_variables_are_filled_only_where_tensorflows_graph_mode_load_cannot_run_the_model(
        zoo, name):
    server, base = zoo
    spec = case(base, name)
    if name.endswith("_tf_saved_model_save"):  # Keras 3's export TF Serving cannot run
        assert spec["graph_mode_runs"] is False
    elif name.endswith("_model_export"):
        assert spec["graph_mode_runs"] is True
    lines = [line for line in server.log_path.read_text(errors="replace").splitlines()
             if f"/{name}/1: signature" in line]
    if spec["graph_mode_runs"] is False:
        assert len(lines) == 1 and "signature serving_default could not run:" in lines[0], lines
        empty, filled = (int(n) for n in re.search(
            r": (\d+) variables it read were left empty .*; (\d+) filled from", lines[0]).groups())
        assert empty == filled > 0, lines[0]
        assert "matched no checkpoint value" not in lines[0]
    else:
        assert lines == []
