"""Which SavedModels are image classifiers, read from their signature; geometry, range, labels."""
import json

import numpy as np
import pytest
import tensorflow as tf

from serving.errors import LoadError
from tests.support.pictures import draw, save_image_model
from wrappers import image_io, load_version
from wrappers.base import Signature, TensorSpec
from wrappers.image_classifier import ImageClassifierWrapper
from wrappers.image_signature import image_signature
from wrappers.saved_model import SavedModelWrapper

FLOAT, UINT8, STRING = np.dtype("float32"), np.dtype("uint8"), np.dtype(object)


def signature(inputs, outputs):
    spec = lambda alias, shape, dtype: TensorSpec(alias, alias + ":0", "DT_?", shape, dtype)  # noqa: E731
    return Signature("serving_default", "tensorflow/serving/predict",
                     {a: spec(a, s, d) for a, (s, d) in inputs.items()},
                     {a: spec(a, s, d) for a, (s, d) in outputs.items()}, None)


SCORES = {"probabilities": ((-1, 10), FLOAT)}


@pytest.mark.parametrize("shape, dtype, geometry", [
    ((-1, 28, 28, 1), FLOAT, (28, 28, 1)),
    ((-1, 224, 224, 3), FLOAT, (224, 224, 3)),
    ((-1, 224, 224, 3), UINT8, (224, 224, 3)),
    ((-1, 28, 28), FLOAT, (28, 28, 1)),
    ((-1, 784), FLOAT, (28, 28, 1)),
    ((1, 64), FLOAT, (8, 8, 1)),
])
def test_picture_shaped_inputs_with_one_score_output_are_image_classifiers(shape, dtype, geometry):
    found = image_signature(signature({"x": (shape, dtype)}, SCORES))
    assert (found.height, found.width, found.channels) == geometry
    assert found.shape == shape[1:] and found.classes == 10


@pytest.mark.parametrize("inputs, outputs", [
    ({"x": ((-1, 10, 10), FLOAT)}, {"y": ((-1, 10, 10), FLOAT)}),           # model_a: a matrix
    ({"x": ((-1, 4, 4), FLOAT)}, {"y": ((-1, 4), FLOAT)}),                  # too small a picture
    ({"x": ((-1, 780), FLOAT)}, SCORES),                                     # not a square
    ({"x": ((-1, 28, 28, 2), FLOAT)}, SCORES),                               # two channels?
    ({"x": ((-1, -1, -1, 3), FLOAT)}, SCORES),                               # unknown size
    ({"x": ((-1,), STRING)}, SCORES),                                        # encoded bytes
    ({"a": ((-1, 784), FLOAT), "b": ((-1, 784), FLOAT)}, SCORES),            # two inputs
    ({"x": ((-1, 784), FLOAT)}, {"y": ((-1,), FLOAT)}),                      # a regression
    ({"x": ((-1, 784), FLOAT)}, {"a": ((-1, 10), FLOAT), "b": ((-1, 10), FLOAT)}),
])
def test_anything_else_is_not(inputs, outputs):
    assert image_signature(signature(inputs, outputs)) is None


def test_of_several_outputs_the_one_named_like_scores_is_used():
    found = image_signature(signature({"x": ((-1, 784), FLOAT)}, {
        "logits": ((-1, 10), FLOAT), "embedding": ((-1, 64), FLOAT),
        "classes": ((-1,), np.dtype("int64"))}))
    assert found.output_alias == "logits"


def load(path):
    wrapper = load_version(str(path))
    yield wrapper
    wrapper.close()


@pytest.fixture
def flat_uint8(tmp_path):
    """A user's model: flattened 8x8 uint8 input, logits out, no labels, no description."""
    yield from load(save_image_model(
        tmp_path / "1", lambda image: {"logits": tf.stack(
            [tf.reduce_sum(tf.cast(image, tf.float32), 1) / 255.0 - 6.0,
             tf.zeros(tf.shape(image)[:1])], 1)}, [None, 64], "uint8"))


def test_a_dropped_in_model_without_labels_answers_with_class_indices(flat_uint8):
    assert isinstance(flat_uint8, ImageClassifierWrapper)
    assert flat_uint8.labels == ["0", "1"]
    feeds, seen = flat_uint8.preprocess(image_io.to_unit_float(draw()))
    assert feeds["image"].shape == (1, 64) and feeds["image"].dtype == np.uint8
    assert feeds["image"].max() == 255 and seen.shape == (8, 8, 1)
    best = flat_uint8.top_k(flat_uint8.run("serving_default", feeds))
    assert [row["label"] for row in best] == ["0", "1"]
    assert sum(row["probability"] for row in best) == pytest.approx(1.0)  # logits → softmax


def test_range_and_polarity_come_from_image_input_json(tmp_path):
    path = save_image_model(tmp_path / "1", lambda image: {"scores": tf.nn.softmax(
        tf.reduce_mean(image, [1, 2]))}, [None, 16, 16, 3], labels=["red", "green", "blue"],
        image_input={"range": [-1, 1], "background": "any"})
    for wrapper in load(path):
        picture = np.zeros((40, 40, 3), np.float32)
        picture[...] = (1, 0, 0)
        feeds, _ = wrapper.preprocess(picture)
        assert feeds["image"].shape == (1, 16, 16, 3)
        assert np.allclose(feeds["image"][0, 5, 5], (1, -1, -1))
        assert wrapper.top_k(wrapper.run("serving_default", feeds), 1)[0]["label"] == "red"


def test_a_model_that_is_not_a_picture_model_keeps_the_plain_wrapper(tmp_path):
    path = save_image_model(tmp_path / "1", lambda image: {"y": image * 2.0}, [None, 10, 10])
    for wrapper in load(path):
        assert type(wrapper) is SavedModelWrapper


def test_a_broken_image_input_json_fails_the_load_with_its_reason(tmp_path):
    path = save_image_model(tmp_path / "1", lambda image: {"p": tf.nn.softmax(
        tf.reshape(image, [-1, 64])[:, :2])}, [None, 8, 8, 1])
    (path / "assets.extra").mkdir()
    (path / "assets.extra" / "image_input.json").write_text(json.dumps({"background": "pink"}))
    with pytest.raises(LoadError, match="background"):
        load_version(str(path))
