"""Train the shipped handwritten-digit classifier and export it to models/digits/1/.

    python scripts/train_digits.py [OUT_DIR]        # about a minute on 2 CPU cores

Data: scikit-learn's bundled digits set (1,797 real handwritten digits from UCI, 8x8, no
download). Each is upscaled and run through the same ink centring the server applies to
uploads (wrappers/image_prep.py), so training and serving see the same MNIST-like 28x28
light-on-dark geometry; random shifts, scale, rotation, shear, stroke thickness and blur
stand in for the variety of real drawings. Needs: tensorflow, scikit-learn, scikit-image.
The held-out quarter (stratified, SEED) is never trained on; tests/test_model_accuracy.py
evaluates the shipped model on it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from wrappers.image_prep import centre_ink  # noqa: E402

SEED = 20240607
SIDE = 28
COPIES = 12          # augmented renderings of each training digit
EPOCHS = 10


def load_split(seed: int = SEED):
    """(train images, held-out images, train labels, held-out labels); images 8x8 in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    return train_test_split(images, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


def render(image8: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """One 8x8 digit → 28x28 strokes; with `rng`, a randomly varied rendering."""
    from skimage.transform import resize
    big = resize(image8, (32, 32), order=1, mode="edge")
    low, width = (rng.uniform(0.15, 0.45), rng.uniform(0.1, 0.4)) if rng else (0.3, 0.25)
    strokes = np.clip((big - low) / width, 0.0, 1.0)
    out = centre_ink(strokes, SIDE, SIDE)
    return _vary(out, rng) if rng else out


def _vary(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter, grey_dilation, grey_erosion
    from skimage.transform import AffineTransform, warp
    centre = np.array([SIDE / 2, SIDE / 2])
    move = AffineTransform(translation=-centre)
    shape = AffineTransform(rotation=rng.uniform(-0.26, 0.26), shear=rng.uniform(-0.25, 0.25),
                            scale=(rng.uniform(0.8, 1.15), rng.uniform(0.8, 1.15)))
    back = AffineTransform(translation=centre + rng.uniform(-1.5, 1.5, size=2))
    image = warp(image, (move + shape + back).inverse, order=1)
    roll = rng.random()
    if roll < 0.25:
        image = grey_dilation(image, size=(2, 2))
    elif roll < 0.4:
        image = grey_erosion(image, size=(2, 2))
    if rng.random() < 0.5:
        image = gaussian_filter(image, rng.uniform(0.3, 0.8))
    return np.clip(image, 0.0, 1.0)


def dataset(images8: np.ndarray, labels: np.ndarray, copies: int, seed: int):
    rng = np.random.default_rng(seed)
    xs = [render(image, rng) for _ in range(copies) for image in images8]
    return np.stack(xs)[..., None].astype(np.float32), np.tile(labels, copies)


def build_model():
    import keras
    return keras.Sequential([
        keras.Input((SIDE, SIDE, 1), name="image"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def export(model, out_dir: str) -> None:
    """A SavedModel whose serving_default maps image [N,28,28,1] → probabilities, classes."""
    import keras
    import tensorflow as tf
    clean = build_model()  # without the optimizer's slots: a third of the size
    clean.set_weights(model.get_weights())

    def serve(image):
        probabilities = clean(image, training=False)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, 1)}

    archive = keras.export.ExportArchive()  # Keras' own export: loads in graph mode too
    archive.track(clean)
    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec([None, SIDE, SIDE, 1], tf.float32)])
    shutil.rmtree(out_dir, ignore_errors=True)
    archive.write_out(out_dir, verbose=False)
    extra = os.path.join(out_dir, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, "labels.txt"), "w") as handle:
        handle.write("".join(f"{digit}\n" for digit in range(10)))
    with open(os.path.join(extra, "image_input.json"), "w") as handle:
        json.dump({"layout": "NHWC", "range": [0, 1], "background": "dark",
                   "ink_fraction": 20 / 28}, handle)
        handle.write("\n")


def main(out_dir: str) -> float:
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    train8, test8, y_train, y_test = load_split()
    x_train, y_train = dataset(train8, y_train, COPIES, SEED)
    x_test = np.stack([render(image) for image in test8])[..., None]
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=EPOCHS, verbose=2, shuffle=True)
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test))
    print(f"held-out accuracy: {accuracy:.4f} on {len(y_test)} digits never trained on")
    export(model, out_dir)
    print("wrote", out_dir)
    return accuracy


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "models", "digits", "1")))
