"""TF Serving's request messages as core calls (serving/requests.py): the ModelSpec rules
(the version goes by presence, not by value), Examples with a context, and the element limit
checked on a tensor's shape before the tensor is built."""
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2

from serving.config.limits import DEFAULT as LIMITS
from serving.config.limits import LimitExceeded
from serving.errors import InvalidArgument
from serving.inference import ModelSpec
from serving.requests import examples, feeds, model_spec


def request(**spec) -> predict_pb2.PredictRequest:
    message = predict_pb2.PredictRequest()
    message.model_spec.SetInParent()
    for key, value in spec.items():
        if key == "version":
            message.model_spec.version.value = value
        else:
            setattr(message.model_spec, key, value)
    return message


@pytest.mark.parametrize("message, expected", [
    (request(name="m"), ModelSpec("m")),
    (request(name="m", version=0), ModelSpec("m", 0)),            # 0 is a version, present
    (request(name="m", version_label=""), ModelSpec("m", None, "")),  # "" is a label, present
    (request(name="m", signature_name="s"), ModelSpec("m", signature_name="s")),
])
def test_the_version_choice_goes_by_presence(message, expected):
    assert model_spec(message) == expected


@pytest.mark.parametrize("message, words", [(predict_pb2.PredictRequest(), "Missing ModelSpec"),
                                            (request(), "ModelSpec has no name specified.")])
def test_a_missing_spec_or_name_is_refused(message, words):
    with pytest.raises(InvalidArgument, match=words):
        model_spec(message)


def test_a_context_goes_before_each_example_so_the_example_wins():
    message = classification_pb2.ClassificationRequest()
    both = message.input.example_list_with_context
    both.context.features.feature["x"].float_list.value.append(1.0)
    both.examples.add().features.feature["x"].float_list.value.append(4.0)
    both.examples.add()
    first, second = (example_pb2.Example.FromString(s) for s in examples(message.input))
    assert first.features.feature["x"].float_list.value == [4.0]   # the later entry wins
    assert second.features.feature["x"].float_list.value == [1.0]
    assert len(examples(classification_pb2.ClassificationRequest().input)) == 0


@pytest.mark.parametrize("dims", [[10**9], [2**32, 2**32]])
def test_a_tensor_too_big_for_the_limit_is_refused_from_its_shape_before_it_is_built(dims):
    # One float_val repeats to fill the shape: a message of a few bytes asks for 4 GB (or, as
    # 2**64 elements, for a count that wraps to 0 in np.prod).
    message = request(name="m")
    tensor = message.inputs["x"]
    tensor.dtype = types_pb2.DT_FLOAT
    tensor.float_val.append(1.0)
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    with pytest.raises(LimitExceeded, match="max_tensor_elements"):
        feeds(message, LIMITS)


def test_a_tensor_within_the_limit_is_read():
    message = request(name="m")
    message.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]], tf.float32))
    assert feeds(message, LIMITS)["x"].tolist() == [[1.0, 2.0]]
