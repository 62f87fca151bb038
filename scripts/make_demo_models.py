"""Write the small demo models under models/, and the example picture the README's tour sends.

    python scripts/make_demo_models.py [MODELS_DIR]

* model_a, model_b: code-defined graphs (wrappers/demo.py) with fixed, predictable weights
  in a tf.train.Saver checkpoint: model_a's weight is W[i][j] = (i - j) / 10 (y = x @ W on
  [N,10,10]), model_b's constant is C[i][j] = 4 * i + j (y = x + C on [N,4,4]).
* half_plus_two: TensorFlow Serving's own example model, rebuilt (y = 0.5 * x + 2, with
  predict, classify and regress signatures; scripts/make_test_models.py), with a warmup file
  of one predict, classify and regress request (scripts/make_warmup_file.py).
* static/examples/seven.png: a handwritten-looking 7, dark ink on white paper.

models/digits is trained by scripts/train_digits.py instead.
"""
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from scripts import make_test_models, make_warmup_file  # noqa: E402
from wrappers import WRAPPER_FILE  # noqa: E402
from wrappers.demo import ModelA, ModelB  # noqa: E402

MODEL_A_WEIGHT = (np.subtract.outer(np.arange(10), np.arange(10)) / 10).astype(np.float32)
MODEL_B_CONSTANT = np.arange(16, dtype=np.float32).reshape(4, 4)
HALF_PLUS_TWO_VERSION = "00000123"   # as in TF Serving's own copy and its tutorials
EXAMPLE_PICTURE = os.path.join(HERE, "..", "static", "examples", "seven.png")


def write(models_dir: str, cls, values: dict) -> None:
    path = os.path.join(models_dir, cls.name, "1")
    os.makedirs(path, exist_ok=True)
    cls.save_checkpoint(path, values)
    with open(os.path.join(path, WRAPPER_FILE), "w") as handle:
        json.dump({"wrapper": cls.name}, handle)
    print("wrote", path)


WARMUP_REQUESTS = [{"instances": [[1.0], [2.0]]},
                   {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
                   {"signature_name": "regress_x_to_y", "examples": [{"x": 3.0}]}]


def write_half_plus_two(models_dir: str) -> None:
    path = os.path.join(models_dir, "half_plus_two", HALF_PLUS_TWO_VERSION)
    shutil.rmtree(path, ignore_errors=True)
    make_test_models.half_plus_two(path)
    make_warmup_file.write(path, WARMUP_REQUESTS)
    print("wrote", path)


def write_example_picture(path: str = EXAMPLE_PICTURE) -> None:
    """A 7 drawn with a pen of varying pressure: a slanted bar and a curved down-stroke."""
    import imageio.v3 as iio
    from skimage.draw import bezier_curve, disk
    from skimage.filters import gaussian
    ink = np.zeros((240, 200))
    strokes = [((52, 40), (44, 100), (58, 160), 1.0),     # the bar, slightly wavy
               ((58, 160), (120, 120), (205, 88), 2.0)]   # the down-stroke, bowed
    for (r0, c0), (r1, c1), (r2, c2), weight in strokes:
        rows, cols = bezier_curve(r0, c0, r1, c1, r2, c2, weight, shape=ink.shape)
        for index, (r, c) in enumerate(zip(rows, cols)):
            pressure = 6 + 3 * np.sin(index / max(1, len(rows)) * np.pi)
            ink[disk((r, c), pressure, shape=ink.shape)] = 1.0
    paper = 1.0 - 0.9 * gaussian(ink, sigma=1.2)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    iio.imwrite(path, np.round(paper * 255).astype(np.uint8), extension=".png")
    print("wrote", path)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "models")
    write(out, ModelA, {"weight": MODEL_A_WEIGHT})
    write(out, ModelB, {"constant": MODEL_B_CONSTANT})
    write_half_plus_two(out)
    write_example_picture()
