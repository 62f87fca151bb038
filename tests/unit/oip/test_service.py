"""The Open Inference Protocol's verbs (serving/oip/service.py) where Triton's behaviour is the
specification: an input's shape checked against the model's before anything runs, and the
model config printed with every field Triton's JSON has."""
from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2

from serving.config.batching import BatchingOptions
from serving.errors import InvalidArgument
from serving.oip.service import InputTensor, check_declared_shape
from tests.unit.oip.stubs import serve, signature, tensor

HALF_PLUS_TWO = signature([tensor("x", "DT_FLOAT", (-1, 1))], [tensor("y", "DT_FLOAT", (-1, 1))])
DIGITS = signature([tensor("image", "DT_FLOAT", (-1, 28, 28, 1))],
                   [tensor("classes", "DT_INT64", (-1,)),
                    tensor("probabilities", "DT_FLOAT", (-1, 10))])


# -- input shapes ----------------------------------------------------------------------------
@pytest.mark.parametrize("declared, shape", [
    ((-1, 1), (3, 1)), ((-1, 1), (0, 1)),
    ((-1,), (4,)),                          # a classify signature's serialized Examples
    (None, (2, 3, 4)),                      # rank unknown: anything
    ((-1, -1), (2, 7)),
])
def test_a_shape_that_fits_the_declared_one_passes(declared, shape):
    check_declared_shape("m", tensor("x", "DT_FLOAT", declared), shape)


@pytest.mark.parametrize("declared, shape, words", [
    ((-1, 1), (3,), "Expected [-1,1], got [3]"),
    ((-1, 1), (1, 3), "Expected [-1,1], got [1,3]"),
    ((-1, 28, 28, 1), (1, 4), "Expected [-1,28,28,1], got [1,4]"),
    ((1, 784), (2, 784), "Expected [1,784], got [2,784]"),
    ((), (1,), "Expected [], got [1]"),
])
def test_a_wrong_rank_or_fixed_dimension_is_refused_in_tritons_words(declared, shape, words):
    with pytest.raises(InvalidArgument) as raised:
        check_declared_shape("m", tensor("x", "DT_FLOAT", declared), shape)
    assert raised.value.message == f"unexpected shape for input 'x' for model 'm'. {words}"


def test_a_batch_dimension_the_batcher_splits_takes_any_number_of_rows():
    fixed = tensor("x", "DT_FLOAT", (1, 784))
    check_declared_shape("m", fixed, (5, 784), any_rows=True)
    with pytest.raises(InvalidArgument):
        check_declared_shape("m", fixed, (5, 783), any_rows=True)


def test_a_signature_and_graph_that_disagree_are_left_to_the_graph():
    conflict = dataclasses.replace(tensor("x", "DT_FLOAT", ()), static_shape="conflict")
    check_declared_shape("m", conflict, (3, 1))


def test_infer_refuses_a_wrong_shape_before_it_builds_a_tensor():
    oip = serve(HALF_PLUS_TWO, BatchingOptions())
    with pytest.raises(InvalidArgument) as raised:   # values that decoding would refuse
        oip.infer("m", "", [InputTensor("x", "FP32", [3], values=["not", "numbers"])])
    assert raised.value.message.endswith("Expected [-1,1], got [3]")
    assert oip.inference.fed == []
    oip.infer("m", "", [InputTensor("x", "FP32", [3, 1], values=[1, 2, 3])])
    assert [feeds["x"].shape for feeds in oip.inference.fed] == [(3, 1)]


def test_a_fixed_single_row_signature_takes_several_rows_only_when_batching_splits_them():
    sig = signature([tensor("x", "DT_FLOAT", (1,))], [tensor("y", "DT_FLOAT", (1,))])
    serve(sig, BatchingOptions()).infer("m", "", [InputTensor("x", "FP32", [3], values=[1, 2, 3])])
    with pytest.raises(InvalidArgument):
        serve(sig).infer("m", "", [InputTensor("x", "FP32", [3], values=[1, 2, 3])])


# -- model config ----------------------------------------------------------------------------
# Triton's ModelConfigToJson (core src/model_config_utils.cc) turns these 64-bit fields back
# into numbers; protobuf's JSON writes them as strings.
_NUMBERS = {"dims", "shape", "versions", "max_queue_delay_microseconds", "priority_levels",
            "default_priority_level"}


def _as_triton_prints(value, key=""):
    if isinstance(value, dict):
        return {k: _as_triton_prints(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_triton_prints(v, key) for v in value]
    return int(value) if key in _NUMBERS and isinstance(value, str) else value


@pytest.mark.parametrize("batching", [BatchingOptions(), None], ids=["batching", "no-batching"])
def test_the_config_is_what_tritons_json_prints_for_it_every_field_included(batching):
    config = serve(DIGITS, batching).model_config("m")
    message = json_format.ParseDict(config, model_config_pb2.ModelConfig())  # Triton's names
    printed = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                        always_print_fields_with_no_presence=True)
    assert config == _as_triton_prints(printed)
    assert config["output"][0]["label_filename"] == "" and config["runtime"] == ""


def test_a_scalar_per_row_output_has_the_dims_the_answers_have():
    """No batch dimension left: dims [] (answers are [N], as the metadata's [-1] says)."""
    batched = serve(DIGITS, BatchingOptions()).model_config("m")
    classes, probabilities = batched["output"]
    assert classes["dims"] == [] and "reshape" not in classes
    assert probabilities["dims"] == [10]
    unbatched = serve(DIGITS).model_config("m")["output"][0]
    assert unbatched["dims"] == [-1] and "reshape" not in unbatched
