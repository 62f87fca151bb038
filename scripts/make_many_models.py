"""Write N copies of the shipped `digits` SavedModel, each with its own weights, for the
many-models benchmark (bench/many_models.py).

    python scripts/make_many_models.py OUT_DIR [--models 500] [--seed 7]

Each model `m000`, `m001`, ... is `OUT_DIR/<name>/1/`: the shipped `models/digits/1`
graph (saved_model.pb, assets) with a checkpoint rewritten by SaveV2 in which the last
layer's bias is the shipped one plus a per-model random offset (normal, scale 1.5, seeded by
the model's index). Every model is the same size as `digits` (~0.9 MB on disk), and each one
answers a fixed input with its own probabilities: `OUT_DIR/expected.npz` holds that input and
every model's expected `probabilities`, computed here in float64 from the shipped model's
logits (checked against TensorFlow's own answer). A reply proves which model ran when it is
within 1e-4 of the asked model's row and nearer to it than to any other row.

`OUT_DIR/models.config` lists them all as a model_config_list. fingerprint.pb is left out:
every copy would otherwise carry the shipped model's fingerprint (its checkpoint hash).
Building 500 takes a few seconds after TensorFlow's import: one graph, one SaveV2 per model.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "digits" / "1"
SCALE = 1.5
MANIFEST = "manifest.json"


def name(index: int, count: int) -> str:
    return f"m{index:0{max(3, len(str(count - 1)))}d}"


def offsets(count: int) -> np.ndarray:
    """Per-model bias offsets [count, 10], float32 (what the checkpoints hold)."""
    return np.stack([np.random.default_rng(1000 + i).normal(0.0, SCALE, 10)
                     for i in range(count)]).astype(np.float32)


def _logits(tensors: dict, image: np.ndarray) -> np.ndarray:
    """The shipped network's pre-softmax output for `image` [1,28,28,1], from its variables."""
    import tensorflow as tf
    v = {k.split("/")[1]: t for k, t in tensors.items() if k.startswith("variables/")}
    x = tf.nn.relu(tf.nn.conv2d(image, v["0"], 1, "SAME") + v["1"])
    x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    x = tf.nn.relu(tf.nn.conv2d(x, v["2"], 1, "SAME") + v["3"])
    x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    x = tf.reshape(x, [1, -1])
    x = tf.nn.relu(tf.matmul(x, v["5"]) + v["6"])
    return (tf.matmul(x, v["7"]) + v["8"]).numpy()[0].astype(np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def build(out: Path, count: int, seed: int = 7, source: Path = SOURCE) -> dict:
    """Write `count` models under `out` (replacing what is there); return the manifest."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    started = time.monotonic()
    reader = tf.train.load_checkpoint(str(source / "variables" / "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    keys = sorted(dtypes)
    tensors = {k: reader.get_tensor(k) for k in keys}
    # The final bias is stored twice (the `variables` and `_all_variables` views of the same
    # Keras weights); change every [10] float tensor equal to it.
    bias = tensors["variables/8/.ATTRIBUTES/VARIABLE_VALUE"]
    bias_keys = [k for k in keys if dtypes[k] == tf.float32 and tensors[k].shape == (10,)
                 and np.array_equal(tensors[k], bias)]
    image = np.random.default_rng(seed).uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)
    logits = _logits(tensors, image)
    base = tf.saved_model.load(str(source)).signatures["serving_default"]
    got = base(tf.constant(image))["probabilities"].numpy()[0]
    if not np.allclose(got, _softmax(logits), atol=1e-5):
        raise RuntimeError("the digits graph is not the one this script models; "
                           f"TF says {got}, numpy {_softmax(logits)}")
    deltas = offsets(count)
    expected = _softmax(logits[None, :] + deltas.astype(np.float64))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    names = [name(i, count) for i in range(count)]
    slices = [""] * len(keys)
    for index, model in enumerate(names):
        version = out / model / "1"
        (version / "variables").mkdir(parents=True)
        shutil.copyfile(source / "saved_model.pb", version / "saved_model.pb")
        if (source / "assets.extra").is_dir():
            shutil.copytree(source / "assets.extra", version / "assets.extra")
        values = [tensors[k] + deltas[index] if k in bias_keys else tensors[k] for k in keys]
        tf.raw_ops.SaveV2(prefix=str(version / "variables" / "variables"), tensor_names=keys,
                          shape_and_slices=slices, tensors=values)
    np.savez(out / "expected.npz", image=image, probabilities=expected,
             names=np.array(names))
    (out / "models.config").write_text(
        "model_config_list {\n" + "".join(
            f'  config {{ name: "{m}" base_path: "{out / m}" model_platform: "tensorflow" }}\n'
            for m in names) + "}\n")
    manifest = {"models": count, "seed": seed, "scale": SCALE, "source": str(source),
                "source_mtime": (source / "variables" / "variables.data-00000-of-00001")
                .stat().st_mtime,
                "bytes_on_disk": sum(f.stat().st_size for f in (out / names[0]).rglob("*")
                                     if f.is_file()),
                "seconds": round(time.monotonic() - started, 1)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def up_to_date(out: Path, count: int, seed: int = 7, source: Path = SOURCE) -> bool:
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (manifest.get("models") == count and manifest.get("seed") == seed
            and manifest.get("scale") == SCALE and manifest.get("source") == str(source)
            and manifest.get("source_mtime") ==
            (source / "variables" / "variables.data-00000-of-00001").stat().st_mtime)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7, help="seed of the fixed input image")
    args = parser.parse_args(argv)
    manifest = build(Path(args.out).resolve(), args.models, args.seed)
    print(json.dumps(manifest))


if __name__ == "__main__":
    sys.exit(main())
