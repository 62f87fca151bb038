"""Models TensorFlow Serving does not serve, served by what their version directory holds
(wrappers/): TF Text's ops imported only when a graph needs them, an unknown op named with
the fix, a Keras 3 export's empty variables filled, Keras files converted beside nothing of
the user's, frozen graphs with a sidecar or a guess, and errors that name the file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import wrappers
from scripts import make_zoo_models
from serving.errors import LoadError
from tests.support.helpers import ROOT, model_source
from wrappers import op_libraries

v1 = tf.compat.v1


def test_tensorflow_text_is_imported_only_for_a_model_that_uses_its_ops(tmp_path):
    make_zoo_models.tf_text(str(tmp_path / "text"))
    code = ("import sys, wrappers\n"
            f"wrappers.load_version({str(model_source('saved_model_half_plus_two_cpu') / '00000123')!r})\n"
            "print('tensorflow_text' in sys.modules)\n"
            f"w = wrappers.load_version({str(tmp_path / 'text')!r})\n"
            "print('tensorflow_text' in sys.modules, w.op_libraries)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.stdout.split("\n")[:2] == ["False", "True ['tensorflow_text']"], run.stderr[-2000:]


def test_an_op_no_known_library_provides_is_named_with_the_fix():
    meta_graph = v1.MetaGraphDef()
    meta_graph.graph_def.node.add(name="n", op="MyCompany>SecretOp")
    with pytest.raises(LoadError) as raised:
        op_libraries.ensure_registered(meta_graph, "/models/m/1")
    assert "Op type not registered: MyCompany>SecretOp" in raised.value.message
    assert "--custom_op_libraries" in raised.value.message


def test_custom_op_libraries_are_checked_before_the_start_and_named_when_wrong(tmp_path):
    library = tmp_path / "ops.so"
    library.write_bytes(b"")
    op_libraries.check_custom_op_libraries(f"json, {library}")  # a module and an existing file
    with pytest.raises(ValueError, match="no Python module no_such_module"):
        op_libraries.check_custom_op_libraries("no_such_module")
    with pytest.raises(ValueError, match="no such file /nope/ops.so"):
        op_libraries.check_custom_op_libraries("/nope/ops.so")


def test_a_keras_3_saved_model_save_export_runs_after_its_empty_variables_are_filled(tmp_path):
    signature, inputs, expected = make_zoo_models.keras3_saved_model_save(str(tmp_path / "k3"))
    wrapper = wrappers.load_version(str(tmp_path / "k3"))
    try:
        assert wrapper.restored_variables == 4  # two Dense layers: kernel and bias each
        (alias,) = inputs
        (out,) = expected
        got = wrapper.run(signature, {alias: inputs[alias]})[out]
        np.testing.assert_allclose(got, expected[out], rtol=1e-5)
    finally:
        wrapper.close()


def test_a_variable_nothing_restores_fails_the_load_with_how_to_re_export(tmp_path):
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None], name="x")
        lost = v1.Variable(1.0, use_resource=True, collections=[], name="lost")  # never saved
        y = tf.identity(x * lost.read_value(), name="y")
        builder = v1.saved_model.builder.SavedModelBuilder(str(tmp_path / "lost"))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                {"x": x}, {"y": y})})
        builder.save()
    with pytest.raises(LoadError, match="model.export"):
        wrappers.load_version(str(tmp_path / "lost"))


def test_a_keras_file_is_exported_to_a_cache_never_beside_the_users_file(tmp_path):
    signature, inputs, expected = make_zoo_models.keras_file(str(tmp_path / "1"))
    before = sorted(os.listdir(tmp_path / "1"))
    wrapper = wrappers.load_version(str(tmp_path / "1"))
    try:
        assert sorted(os.listdir(tmp_path / "1")) == before == ["model.keras"]
        assert wrapper.source.endswith("model.keras") and not wrapper.path.startswith(str(tmp_path))
        got = wrapper.run(signature, inputs)["output_0"]
        np.testing.assert_allclose(got, expected["output_0"], rtol=1e-5)
    finally:
        wrapper.close()


def test_versions_sharing_a_keras_file_each_keep_their_own_labels(tmp_path):
    # The export is cached by the file's content; assets.extra stays the version's own.
    import keras
    import shutil
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    for version, labels in ((1, "cat\ndog\nfox\n"), (2, "red\ngreen\nblue\n")):
        (tmp_path / str(version) / "assets.extra").mkdir(parents=True)
        (tmp_path / str(version) / "assets.extra" / "labels.txt").write_text(labels)
    model.save(tmp_path / "1" / "model.keras")
    shutil.copy(tmp_path / "1" / "model.keras", tmp_path / "2" / "model.keras")
    first, second = (wrappers.load_version(str(tmp_path / v)) for v in ("1", "2"))
    try:
        assert first.path == second.path            # one cached export
        assert first.labels == ["cat", "dog", "fox"] and second.labels == ["red", "green", "blue"]
        assert not os.path.exists(os.path.join(first.path, "assets.extra"))
    finally:
        first.close()
        second.close()


def test_a_broken_keras_file_is_named_in_the_error(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(LoadError, match=r"model\.keras: Keras cannot load it"):
        wrappers.load_version(str(tmp_path / "1"))


def _two_input_graph(path):
    graph = tf.Graph()
    with graph.as_default():
        a = v1.placeholder(tf.float32, name="a")
        b = v1.placeholder(tf.float32, name="b")
        tf.add(a, b, name="total")
    os.makedirs(path)
    with open(os.path.join(path, "graph.pb"), "wb") as handle:
        handle.write(graph.as_graph_def().SerializeToString())


def test_a_frozen_graph_that_cannot_be_guessed_asks_for_a_sidecar_naming_the_file(tmp_path):
    _two_input_graph(tmp_path / "1")
    with pytest.raises(LoadError) as raised:
        wrappers.load_version(str(tmp_path / "1"))
    assert "graph.pb: cannot guess the signature (2 placeholders" in raised.value.message
    assert "signature.json" in raised.value.message
    (tmp_path / "1" / "signature.json").write_text(json.dumps(
        {"inputs": {"a": "a:0", "b": "b:0"}, "outputs": {"total": "total:0"}}))
    wrapper = wrappers.load_version(str(tmp_path / "1"))
    try:
        assert wrapper.run("serving_default", {"a": np.float32(2), "b": np.float32(3)})[
            "total"] == 5
    finally:
        wrapper.close()


def test_a_sidecar_naming_a_tensor_the_graph_lacks_is_named_in_the_error(tmp_path):
    _two_input_graph(tmp_path / "1")
    (tmp_path / "1" / "signature.json").write_text(json.dumps(
        {"inputs": {"a": "nope:0"}, "outputs": {"total": "total:0"}}))
    with pytest.raises(LoadError, match=r"signature\.json: .*nope"):
        wrappers.load_version(str(tmp_path / "1"))
