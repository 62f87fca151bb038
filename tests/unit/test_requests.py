"""TF Serving's request messages as core calls (serving/requests.py): the ModelSpec rules
(the version goes by presence, not by value) and Examples with a context."""
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2

from serving.errors import InvalidArgument
from serving.inference import ModelSpec
from serving.requests import examples, model_spec


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
