"""The conformance run: TF Serving's own, byte-exact test models from ../shared/peer-models.

Not part of the README's test command (a plain clone has no ../shared): `.ci/run` runs it
after the suite with `python3 -m pytest tests/conformance`. Without ../shared it fails loudly.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import SERVED_MODELS
from tests.support.helpers import ROOT, ServerProcess, write_config

SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
PEER_MODELS = SHARED / "peer-models" / "tfserving-testdata"

# TF Serving's model directories, served under the names tests/conftest.py serves their
# rebuilt twins under (the models TF Serving's testdata has no counterpart of left out).
PEERS = {name: source for name, source in SERVED_MODELS.items()
         if name not in ("multi_input", "every_dtype")}


def peer_model(name: str) -> Path:
    path = PEER_MODELS / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: the conformance run needs ../shared/ "
                                f"beside the checkout (or SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def peer_server(tmp_path_factory):
    """`python app.py` over writable copies of TF Serving's models, served as tests/ does."""
    base = tmp_path_factory.mktemp("peers")
    models = {}
    for name, source in PEERS.items():
        shutil.copytree(peer_model(source), base / name, copy_function=shutil.copy)
        models[name] = base / name
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    config = write_config(base / "models.config", models)
    config.write_text(config.read_text().replace(
        'name: "two_versions"',
        'name: "two_versions"\n    model_version_policy { all {} }\n'
        '    version_labels { key: "stable" value: 123 }'))
    process = ServerProcess(f"--model_config_file={config}", "--workers=1")
    yield process
    process.stop()
