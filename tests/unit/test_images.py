"""Pictures in (serving/images.py): the one way an upload, a b64 text or a data: URL becomes
an image model's input, and the choices the page offers."""
import base64

import pytest
from tensorflow_serving.config import model_server_config_pb2

import wrappers
from serving.config.limits import DEFAULT as LIMITS
from serving.errors import InvalidArgument
from serving.images import Images, picture_bytes
from serving.inference import Inference, ModelSpec
from serving.models.manager import ModelManager
from serving.models.servable import Servable
from tests.support.helpers import ROOT
from tests.support.pictures import draw, encode

SEVEN = encode(draw(), ".png")


@pytest.fixture(scope="module")
def images():
    load = wrappers.loader()
    manager = ModelManager(lambda name, version, path: Servable(name, version, load(path)))
    config = model_server_config_pb2.ModelConfigList()
    for name in ("digits", "model_b"):
        config.config.add(name=name, base_path=str(ROOT / "models" / name))
    manager.configure(config)
    manager.sync_all()
    yield Images(Inference(manager, LIMITS), LIMITS.max_image_pixels)
    manager.close()


def test_only_image_classifiers_are_offered_with_their_labels_and_where_they_come_from(images):
    (choice,) = images.choices()
    assert (choice.name, choice.versions) == ("digits", (1,))
    assert choice.labels == tuple("0123456789")
    assert choice.labels_source == "digits/1/assets.extra/labels.txt"


def test_a_picture_is_decoded_prepared_run_and_labelled(images):
    answer = images.classify("digits", None, SEVEN, top_k=3)
    assert answer.payload["label"] == "7" and len(answer.payload["top_k"]) == 3
    assert answer.seen.shape == (28, 28, 1)
    assert answer.seen_png().startswith(b"\x89PNG") and answer.upload_png().startswith(b"\x89PNG")


def test_a_model_that_is_not_an_image_classifier_is_refused_with_what_it_would_need(images):
    with pytest.raises(InvalidArgument, match="is not an image classifier"):
        images.classify("model_b", None, SEVEN)


@pytest.mark.parametrize("top_k", [0, 1001])
def test_top_k_must_be_sensible(images, top_k):
    with pytest.raises(InvalidArgument, match="top_k"):
        images.classify("digits", None, SEVEN, top_k=top_k)


def test_a_body_image_as_base64_or_a_data_url_gives_the_same_feeds(images):
    text = base64.b64encode(SEVEN).decode()
    assert picture_bytes(text) == picture_bytes("data:image/png;base64," + text) == SEVEN
    with images.inference.resolve(ModelSpec("digits")) as target:
        feeds = images.features(target, {"image": {"b64": text}})
        assert feeds["image"].shape == (1, 28, 28, 1)
        assert images.features(target, {"text": "no picture here"}) is None
        with pytest.raises(InvalidArgument, match='"image" must be'):
            images.features(target, {"image": text})
