"""Model wrappers: one tf.Graph + Session each, signatures listed, run() safe from many threads."""
import shutil
import threading

import numpy as np
import pytest
import tensorflow as tf

from scripts.make_demo_models import MODEL_A_WEIGHT, MODEL_B_CONSTANT, write
from serving import errors
from serving.errors import LoadError
from tests.support.helpers import ROOT, model_source
from wrappers import load_version
from wrappers.base import SessionOptions, run_error
from wrappers.demo import ModelA, ModelB
from wrappers.saved_model import SavedModelWrapper


def version_dir(name: str):
    return str(next(p for p in sorted(model_source(name).iterdir()) if p.name.isdigit()))


@pytest.fixture(scope="module")
def half_plus_two():
    wrapper = SavedModelWrapper(version_dir("saved_model_half_plus_two_cpu"))
    yield wrapper
    wrapper.close()


def describe(signature):
    return {side: {alias: (spec.dtype, spec.shape) for alias, spec in tensors.items()}
            for side, tensors in (("in", signature.inputs), ("out", signature.outputs))}


def test_tf1_saved_model_lists_signatures_with_names_dtypes_and_shapes(half_plus_two):
    signatures = half_plus_two.signatures
    assert set(signatures) == {"serving_default", "classify_x_to_y", "regress_x_to_y",
                               "regress_x_to_y2", "regress_x2_to_y3"}
    assert describe(signatures["serving_default"]) == {
        "in": {"x": ("DT_FLOAT", (-1, 1))}, "out": {"y": ("DT_FLOAT", (-1, 1))}}
    assert signatures["serving_default"].inputs["x"].name == "x:0"
    assert describe(signatures["classify_x_to_y"]) == {
        "in": {"inputs": ("DT_STRING", None)}, "out": {"scores": ("DT_FLOAT", (-1, 1))}}
    assert signatures["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    assert signatures["regress_x_to_y"].method_name == "tensorflow/serving/regress"


def test_tf2_export_loads_and_hides_its_init_op_from_clients():
    wrapper = SavedModelWrapper(version_dir("saved_model_half_plus_two_tf2_cpu"))
    try:
        assert "__saved_model_init_op" in wrapper.signatures
        assert "__saved_model_init_op" not in wrapper.servable_signatures
        assert describe(wrapper.signatures["serving_default"]) == {
            "in": {"x": ("DT_FLOAT", (1,))}, "out": {"y": ("DT_FLOAT", (1,))}}
        assert wrapper.signatures["regress_x_to_y"].inputs["inputs"].dtype == "DT_STRING"
        result = wrapper.run("serving_default", {"x": np.array([4.0], np.float32)})
        assert result["y"].tolist() == [4.0]
    finally:
        wrapper.close()


def test_run_is_correct_from_many_threads_at_once(half_plus_two):
    start = threading.Barrier(16)
    wrong = []

    def call(index):
        x = np.full((8, 1), index, np.float32)
        start.wait()
        for _ in range(20):
            y = half_plus_two.run("serving_default", {"x": x})["y"]
            if not np.array_equal(y, 0.5 * x + 2):
                wrong.append(index)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert wrong == []


def test_each_wrapper_has_its_own_graph_and_session(half_plus_two):
    other = SavedModelWrapper(version_dir("saved_model_half_plus_three"))
    try:
        assert other.graph is not half_plus_two.graph and other.session is not half_plus_two.session
        x = {"x": np.array([1.0], np.float32)}
        assert (half_plus_two.run("serving_default", x)["y"].tolist(),
                other.run("serving_default", x)["y"].tolist()) == ([2.5], [3.5])
    finally:
        other.close()


def test_run_can_fetch_a_subset_of_outputs(half_plus_two):
    # classify/regress ask for the outputs they use; feeds are serialized tf.Examples.
    from api.codec.examples import decode_examples
    serialized = decode_examples({"examples": [{"x": 2.0}]}, "regress")
    result = half_plus_two.run("regress_x_to_y", {"inputs": serialized}, ("outputs",))
    assert list(result) == ["outputs"] and result["outputs"].tolist() == [[3.0]]


def test_tensorflow_errors_keep_their_canonical_code(half_plus_two):
    with pytest.raises(errors.InvalidArgument):
        half_plus_two.run("regress_x_to_y", {"inputs": np.array([b"not an example"], object)})
    assert isinstance(run_error(tf.errors.UnimplementedError(None, None, "no kernel")),
                      errors.Unimplemented)
    data_loss = run_error(tf.errors.DataLossError(None, None, "bad checkpoint"))
    assert (data_loss.code, data_loss.message) == ("DATA_LOSS", "bad checkpoint")


def test_session_options_become_the_session_config():
    proto = SessionOptions(intra_op=2, inter_op=3, gpu_memory_fraction=0.25).to_proto()
    assert (proto.intra_op_parallelism_threads, proto.inter_op_parallelism_threads) == (2, 3)
    assert proto.allow_soft_placement  # graphs pinned to /gpu:0 still load on a CPU-only machine
    assert proto.gpu_options.per_process_gpu_memory_fraction == 0.25


def test_gpu_pinned_saved_model_runs_on_cpu():
    wrapper = SavedModelWrapper(version_dir("saved_model_half_plus_two_gpu"))
    try:
        assert wrapper.run("serving_default", {"x": np.array([2.0], np.float32)})["y"].tolist() == [3.0]
    finally:
        wrapper.close()


@pytest.mark.parametrize("models_dir", ["shipped", "regenerated"])
def test_demo_models_compute_with_the_weights_of_the_script(models_dir, tmp_path):
    # The shipped checkpoints are what scripts/make_demo_models.py writes, and it writes them again.
    root = ROOT / "models" if models_dir == "shipped" else tmp_path
    if models_dir == "regenerated":
        write(str(tmp_path), ModelA, {"weight": MODEL_A_WEIGHT})
        write(str(tmp_path), ModelB, {"constant": MODEL_B_CONSTANT})
    model_a, model_b = ModelA(str(root / "model_a" / "1")), ModelB(str(root / "model_b" / "1"))
    try:
        x_a = np.arange(200, dtype=np.float32).reshape(2, 10, 10) / 7
        x_b = np.arange(32, dtype=np.float32).reshape(2, 4, 4) - 5
        np.testing.assert_allclose(model_a.run("serving_default", {"x": x_a})["y"],
                                   x_a @ MODEL_A_WEIGHT, rtol=1e-5)
        np.testing.assert_array_equal(model_b.run("serving_default", {"x": x_b})["y"],
                                      x_b + MODEL_B_CONSTANT)
        assert describe(model_a.signatures["serving_default"]) == {
            "in": {"x": ("DT_FLOAT", (-1, 10, 10))}, "out": {"y": ("DT_FLOAT", (-1, 10, 10))}}
    finally:
        model_a.close()
        model_b.close()


def test_close_frees_the_session_and_later_calls_are_unavailable():
    wrapper = ModelB(str(ROOT / "models" / "model_b" / "1"))
    x = {"x": np.zeros((1, 4, 4), np.float32)}
    wrapper.run("serving_default", x)
    wrapper.close()
    assert wrapper.session._closed
    with pytest.raises(errors.Unavailable):  # 503: the client may retry on the next version
        wrapper.run("serving_default", x)


def test_versions_that_cannot_load_raise_load_error_with_a_canonical_code(tmp_path):
    corrupt = tmp_path / "124"
    shutil.copytree(version_dir("saved_model_half_plus_two_cpu"), corrupt)
    (corrupt / "saved_model.pb").write_bytes(b"\x08\x96\x01 garbage" * 8)
    with pytest.raises(LoadError) as caught:
        load_version(str(corrupt))
    assert caught.value.code == "DATA_LOSS" and "saved_model.pb" in caught.value.message
    with pytest.raises(LoadError) as caught:  # an old export without saved_model.pb
        load_version(version_dir("bad_half_plus_two"))
    assert caught.value.code == "NOT_FOUND"
