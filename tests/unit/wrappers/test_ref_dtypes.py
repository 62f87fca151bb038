"""Reference dtypes (DT_FLOAT_REF, a TF1 variable's tensor) in a SignatureDef: the signature
reports and encodes each as its base type, as TF Serving answers a ref output's value."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from scripts.make_test_models import REF_DTYPES, ref_value
from serving import tensor_proto
from tests.support.helpers import model_source
from wrappers.base import Signature, base_dtype
from wrappers.saved_model import SavedModelWrapper

REF_NAMES = [name for name in types_pb2.DataType.keys() if name.endswith("_REF")]


@pytest.mark.parametrize("name", REF_NAMES)
def test_every_reference_dtype_has_its_base_type(name):
    assert types_pb2.DataType.Name(base_dtype(types_pb2.DataType.Value(name))) == name[:-4]


def test_base_types_and_unknown_enums_are_left_as_they_are():
    assert [base_dtype(enum) for enum in (0, types_pb2.DT_FLOAT, types_pb2.DT_STRING, 9999)] \
        == [0, types_pb2.DT_FLOAT, types_pb2.DT_STRING, 9999]


def signature_def(**dtypes) -> meta_graph_pb2.SignatureDef:
    """`alias=dtype name`: inputs for aliases starting with x, outputs otherwise."""
    proto = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for alias, dtype in dtypes.items():
        side = proto.inputs if alias.startswith("x") else proto.outputs
        side[alias].name, side[alias].dtype = f"{alias}:0", types_pb2.DataType.Value(dtype)
    return proto


def test_ref_tensors_are_described_by_their_base_type_and_numpy_dtype():
    signature = Signature.from_proto("s", signature_def(
        x="DT_STRING_REF", x2="DT_HALF", y="DT_FLOAT_REF", z="DT_INT64_REF"))
    assert {a: (s.dtype, s.np_dtype) for a, s in signature.inputs.items()} == {
        "x": ("DT_STRING", np.dtype(object)), "x2": ("DT_HALF", np.dtype(np.float16))}
    assert {a: (s.dtype, s.np_dtype) for a, s in signature.outputs.items()} == {
        "y": ("DT_FLOAT", np.dtype(np.float32)), "z": ("DT_INT64", np.dtype(np.int64))}


def test_the_metadata_proto_has_base_types_and_the_stored_one_is_untouched():
    stored = signature_def(x="DT_BOOL_REF", y="DT_DOUBLE_REF", y2="DT_FLOAT")
    signature = Signature.from_proto("s", stored)
    assert signature.proto.inputs["x"].dtype == types_pb2.DT_BOOL
    assert [signature.proto.outputs[a].dtype for a in ("y", "y2")] == \
        [types_pb2.DT_DOUBLE, types_pb2.DT_FLOAT]
    assert signature.proto.outputs["y"].name == "y:0"
    assert stored.outputs["y"].dtype == types_pb2.DT_DOUBLE_REF


@pytest.fixture(scope="module")
def ref_outputs():
    wrapper = SavedModelWrapper(str(model_source("ref_outputs") / "1"))
    yield wrapper
    wrapper.close()


@pytest.mark.parametrize("dtype", REF_DTYPES)
def test_a_variable_output_runs_and_encodes_as_its_base_type(ref_outputs, dtype):
    signature = ref_outputs.signatures[f"out_{dtype}"]
    spec = signature.outputs["v"]
    assert ref_outputs.signatures[f"in_{dtype}"].inputs["x"].dtype == spec.dtype
    assert spec.dtype == types_pb2.DataType.Name(tf.as_dtype(dtype).as_datatype_enum)
    value = ref_outputs.run(f"out_{dtype}", {"x": ref_value(dtype)})["v"]
    proto = tensor_proto.from_array(value, spec.dtype)
    assert proto.dtype == tf.as_dtype(dtype).as_datatype_enum
    assert tf.make_ndarray(proto).tolist() == ref_value(dtype).tolist()
