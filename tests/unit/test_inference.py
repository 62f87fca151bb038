"""The core's verbs in tensors (serving/inference.py), as every front sees them: numpy in and
out, TF Serving's checks in TF Serving's order and words, a lease per request."""
from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.config import model_server_config_pb2

import wrappers
from serving.config.limits import DEFAULT as LIMITS
from serving.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from serving.inference import (
    CLASSIFY,
    REGRESS,
    Classification,
    Inference,
    ModelSpec,
    SignatureNotFound,
    Task,
)
from serving.models.manager import ModelManager
from serving.models.servable import Servable
from tests.support.helpers import model_source

MODELS = {"half_plus_two": "saved_model_half_plus_two_cpu",
          "two_versions": "saved_model_half_plus_two_2_versions",
          "multi_input": "multi_input"}


@pytest.fixture(scope="module")
def inference():
    load = wrappers.loader()
    manager = ModelManager(lambda name, version, path: Servable(name, version, load(path)))
    config = model_server_config_pb2.ModelConfigList()
    for name, source in MODELS.items():
        entry = config.config.add(name=name, base_path=str(model_source(source)))
        if name == "two_versions":
            entry.model_version_policy.all.SetInParent()
            entry.version_labels["stable"] = 123
    manager.configure(config)
    manager.sync_all()
    yield Inference(manager, LIMITS)
    manager.close()


def examples(*values: float) -> np.ndarray:
    serialized = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        example = example_pb2.Example()
        example.features.feature["x"].CopyFrom(
            feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[value])))
        serialized[index] = example.SerializeToString()
    return serialized


def predict(inference, spec, feeds, output_filter=()):
    with inference.resolve(spec) as target:
        return inference.predict(target, feeds, output_filter)


X = {"x": np.array([[1.0], [2.0]], np.float32)}


# -- resolving a model spec --------------------------------------------------------------------
@pytest.mark.parametrize("spec, error, message", [
    (ModelSpec("nope"), NotFound, "Servable not found for request: Latest(nope)"),
    (ModelSpec("half_plus_two", 7), NotFound, "Servable not found for request: "
                                              "Specific(half_plus_two, 7)"),
    (ModelSpec("two_versions", label="beta"), InvalidArgument,
     "Unrecognized servable version label: beta"),
])
def test_an_unknown_model_version_or_label_is_refused_as_tf_serving_does(inference, spec,
                                                                          error, message):
    with pytest.raises(error) as raised:
        inference.resolve(spec)
    assert raised.value.message == message


@pytest.mark.parametrize("spec, version", [(ModelSpec("two_versions"), 124),
                                           (ModelSpec("two_versions", 123), 123),
                                           (ModelSpec("two_versions", label="stable"), 123)])
def test_a_spec_resolves_to_the_newest_or_the_named_version(inference, spec, version):
    with inference.resolve(spec) as target:
        assert target.version == version


def test_a_target_holds_a_lease_until_the_request_is_done(inference):
    target = inference.resolve(ModelSpec("half_plus_two"))
    assert target.servable._leases == 1
    target.close()
    target.close()  # once only
    assert target.servable._leases == 0


def test_a_retired_version_is_never_leased_again(inference):
    servable = inference.manager.resolve("half_plus_two")
    servable.retire()
    try:
        assert not servable.acquire()
        assert servable.idle()
    finally:
        servable._retired = False  # the fixture's model must keep serving


# -- predict ------------------------------------------------------------------------------------
def test_predict_runs_the_signature_on_numpy_feeds(inference):
    outputs = predict(inference, ModelSpec("half_plus_two"), X)
    assert outputs["y"].tolist() == [[2.5], [3.0]] and outputs["y"].dtype == np.float32


def test_an_unknown_signature_is_a_failed_precondition_in_grpcs_words(inference):
    with pytest.raises(SignatureNotFound) as raised:
        predict(inference, ModelSpec("half_plus_two", signature_name="nope"), X)
    assert isinstance(raised.value, FailedPrecondition)
    assert raised.value.message == 'Serving signature key "nope" not found.'


@pytest.mark.parametrize("feeds, message", [
    ({**X, "z": X["x"]}, "input size does not match signature: 2!=1 len({x,z}) != len({x}). "
                         "Sent extra: {z}. Missing but required: {}."),
    ({}, "input size does not match signature: 0!=1 len({}) != len({x}). Sent extra: {}. "
         "Missing but required: {x}."),
    ({"z": X["x"]}, "Signature input alias: x(feed name: x:0) not found in request and no "
                    "default value provided. Inputs expected to be in the set {x}."),
])
def test_the_input_set_is_checked_against_the_signature(inference, feeds, message):
    with pytest.raises(InvalidArgument) as raised:
        predict(inference, ModelSpec("half_plus_two"), feeds)
    assert raised.value.message == message


def test_an_output_filter_fetches_only_what_it_names(inference):
    feeds = {"int_tensor": np.array([1], np.int32), "str_tensor": np.array([b"a"], object),
             "bin_tensor": np.array([b"b"], object)}
    outputs = predict(inference, ModelSpec("multi_input"), feeds, ["str_tensor"])
    assert list(outputs) == ["str_tensor"] and outputs["str_tensor"].tolist() == [b"a"]


@pytest.mark.parametrize("output_filter, message", [
    (["nope"], "output tensor alias not found in signature: nope Outputs expected to be in "
               "the set {y}."),
    (["y", "y"], "duplicate output tensor alias: y"),
])
def test_a_bad_output_filter_is_refused(inference, output_filter, message):
    with pytest.raises(InvalidArgument) as raised:
        predict(inference, ModelSpec("half_plus_two"), X, output_filter)
    assert raised.value.message == message


def test_feeds_past_the_element_limit_are_refused(inference):
    import dataclasses
    small = Inference(inference.manager, dataclasses.replace(LIMITS, max_tensor_elements=1))
    with pytest.raises(InvalidArgument, match="max_tensor_elements"):
        predict(small, ModelSpec("half_plus_two"), X)


# -- classify, regress, multi_inference -----------------------------------------------------
def test_classify_and_regress_take_serialized_examples(inference):
    with inference.resolve(ModelSpec("half_plus_two", signature_name="classify_x_to_y")) as t:
        classified = inference.classify(t, examples(2.0, 4.0))
    assert classified.classes is None and classified.scores.tolist() == [[3.0], [4.0]]
    with inference.resolve(ModelSpec("half_plus_two", signature_name="regress_x_to_y2")) as t:
        assert inference.regress(t, examples(2.0)).tolist() == [4.0]


@pytest.mark.parametrize("verb, signature, message", [
    ("classify", "serving_default", "No classification inputs found in SignatureDef: "),
    ("regress", "serving_default", "No regression inputs found in SignatureDef: "),
    ("classify", "regress_x_to_y", 'Expected classification signature outputs to contain at '
                                   'least one of "classes" or "scores". Signature was: '),
    ("regress", "nope", "No signature was found with the name: nope"),
])
def test_a_signature_that_cannot_classify_or_regress_says_why(inference, verb, signature,
                                                               message):
    with inference.resolve(ModelSpec("half_plus_two", signature_name=signature)) as target:
        with pytest.raises(InvalidArgument) as raised:
            getattr(inference, verb)(target, examples(1.0))
    assert raised.value.message.startswith(message)


def test_no_examples_is_refused_after_the_signature_checks(inference):
    with inference.resolve(ModelSpec("half_plus_two", signature_name="regress_x_to_y")) as t:
        with pytest.raises(InvalidArgument, match="^Input is empty.$"):
            inference.regress(t, np.empty(0, object))


def test_multi_inference_runs_several_signatures_over_the_same_examples_at_once(inference):
    tasks = [Task("half_plus_two", "classify_x_to_y", CLASSIFY),
             Task("half_plus_two", "regress_x_to_y2", REGRESS)]
    with inference.resolve(ModelSpec("half_plus_two")) as target:
        classified, regressed = inference.multi_inference(target, tasks, examples(2.0, 6.0))
    assert isinstance(classified, Classification)
    assert classified.scores.tolist() == [[3.0], [5.0]] and regressed.tolist() == [4.0, 6.0]


@pytest.mark.parametrize("tasks, error, message", [
    ([Task("", "classify_x_to_y", CLASSIFY)], InvalidArgument,
     "Found ModelSpec with an empty model name."),
    ([Task("other", "classify_x_to_y", CLASSIFY)], InvalidArgument,
     "All ModelSpecs in a MultiInferenceRequest must access the same model name."),
    ([Task("half_plus_two", "regress_x_to_y", REGRESS)] * 2, InvalidArgument,
     "Duplicate evaluation of signature: regress_x_to_y"),
    ([Task("half_plus_two", "nope", REGRESS)], InvalidArgument,
     "Requested signature not found in model graph: nope"),
    ([Task("half_plus_two", "regress_x_to_y", "tensorflow/serving/predict")], Unimplemented,
     "Unsupported signature method_name: tensorflow/serving/predict"),
])
def test_multi_inference_checks_each_task_in_order(inference, tasks, error, message):
    with inference.resolve(ModelSpec("half_plus_two")) as target:
        with pytest.raises(error) as raised:
            inference.multi_inference(target, tasks, examples(1.0))
    assert raised.value.message == message


def test_metadata_is_the_answering_version_and_its_signature_def_map(inference):
    version, signatures = inference.metadata(ModelSpec("two_versions", label="stable"))
    assert version == 123
    assert set(signatures.signature_def) >= {"serving_default", "classify_x2_to_y3"}
    assert signatures.DESCRIPTOR.full_name == "tensorflow.serving.SignatureDefMap"


def test_status_lists_every_tracked_version_newest_first(inference):
    assert [s.version for s in inference.status("two_versions")] == [124, 123]
    with pytest.raises(NotFound, match="Could not find version 5 of model two_versions"):
        inference.status("two_versions", 5)
