"""Write the code-defined demo models model_a and model_b (checkpoints) under models/.

    python scripts/make_demo_models.py [MODELS_DIR]

Weights are fixed (not random) so that answers are predictable: model_a's weight is the
10x10 matrix W[i][j] = (i - j) / 10, model_b's constant is C[i][j] = i * 4 + j.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from wrappers import WRAPPER_FILE  # noqa: E402
from wrappers.demo import ModelA, ModelB  # noqa: E402

MODEL_A_WEIGHT = (np.subtract.outer(np.arange(10), np.arange(10)) / 10).astype(np.float32)
MODEL_B_CONSTANT = np.arange(16, dtype=np.float32).reshape(4, 4)


def write(models_dir: str, cls, values: dict) -> None:
    path = os.path.join(models_dir, cls.name, "1")
    os.makedirs(path, exist_ok=True)
    cls.save_checkpoint(path, values)
    with open(os.path.join(path, WRAPPER_FILE), "w") as handle:
        json.dump({"wrapper": cls.name}, handle)
    print("wrote", path)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models")
    write(out, ModelA, {"weight": MODEL_A_WEIGHT})
    write(out, ModelB, {"constant": MODEL_B_CONSTANT})
