"""The load step that fills variables a SavedModel's restore left empty (wrappers/variables.py)
acts only where a signature reads them: it leaves healthy models alone and silent, decides the
same in every process, fills each variable with its own value when names repeat, and never
refuses a model because of a variable no signature reads."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

import wrappers
from scripts import make_zoo_models
from tests.support.helpers import ROOT
from wrappers.variables import Fill

v1 = tf.compat.v1
DIGITS = str(ROOT / "models" / "digits" / "1")


def empty_after_tensorflows_own_load(path: str) -> int:
    """How many variables tf.compat.v1's loader (TF Serving's way) leaves uninitialised."""
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        v1.saved_model.loader.load(session, ["serve"], path)
        handles = [op for op in graph.get_operations() if op.type == "VarHandleOp"]
        ready = session.run([v1.raw_ops.VarIsInitializedOp(resource=op.outputs[0])
                             for op in handles])
    return sum(not r for r in ready)


def load_quietly(path: str, caplog):
    with caplog.at_level(logging.INFO, logger="wrappers.variables"):
        wrapper = wrappers.load_version(path)
    return wrapper, [r.getMessage() for r in caplog.records if r.name == "wrappers.variables"]


def test_keras_export_archive_and_model_export_models_are_left_alone_and_nothing_is_logged(
        tmp_path, caplog):
    exported = str(tmp_path / "export")
    signature, inputs, expected = make_zoo_models.CASES[
        "nested_layers_same_weight_names_model_export"](exported)
    for path in (DIGITS, exported):
        # Both keep empty variables (Keras' originals) that no signature reads.
        assert empty_after_tensorflows_own_load(path) > 0
        caplog.clear()
        wrapper, messages = load_quietly(path, caplog)
        try:
            assert messages == []
            assert wrapper.variable_fill == Fill() and wrapper.restored_variables == 0
            if path == exported:
                (output,) = expected
                np.testing.assert_allclose(wrapper.run(signature, inputs)[output],
                                           expected[output], rtol=1e-5)
        finally:
            wrapper.close()


def test_a_model_whose_restore_fills_what_its_signatures_read_is_not_checked_in_a_session():
    """The check costs an op per variable and a run (~20 ms of a digits load): a TF2 export
    (digits: its restore function is handed every variable it reads) and a TF1 saver's
    (half_plus_two) never pay it."""
    from tensorflow.core.protobuf import saved_model_pb2
    for path in (DIGITS, str(ROOT / "models" / "half_plus_two" / "00000123")):
        saved = saved_model_pb2.SavedModel.FromString(
            open(os.path.join(path, "saved_model.pb"), "rb").read())
        exported = sum(node.op == "VarIsInitializedOp"
                       for node in saved.meta_graphs[0].graph_def.node)
        wrapper = wrappers.load_version(path)
        try:
            assert sum(op.type == "VarIsInitializedOp"
                       for op in wrapper.graph.get_operations()) == exported, path
        finally:
            wrapper.close()


def test_variables_sharing_a_name_are_each_filled_with_their_own_value_and_logged(
        tmp_path, caplog):
    path = str(tmp_path / "saved")
    signature, inputs, expected = make_zoo_models.CASES[
        "nested_layers_same_weight_names_tf_saved_model_save"](path)
    wrapper, messages = load_quietly(path, caplog)
    try:
        fill = wrapper.variable_fill
        # Four kernels all called `kernel` (two per Residual, same shape), and the Dense's two.
        assert fill.signatures == ["serving_default"]
        assert len(fill.empty) == 6 and fill.filled == fill.empty and fill.unmatched == []
        assert messages == [f"{path}: signature serving_default could not run: 6 variables it "
                            f"read were left empty by the SavedModel's restore; 6 filled from "
                            f"its checkpoint through its object graph (a Keras 3 "
                            f"tf.saved_model.save export)"]
        (output,) = expected
        np.testing.assert_allclose(wrapper.run(signature, inputs)[output], expected[output],
                                   rtol=1e-5)
    finally:
        wrapper.close()


def test_every_process_decides_the_same_about_the_same_files(tmp_path):
    saved, exported = str(tmp_path / "saved"), str(tmp_path / "export")
    make_zoo_models.CASES["two_embeddings_tf_saved_model_save"](saved)
    make_zoo_models.CASES["two_embeddings_model_export"](exported)
    code = ("import json, sys, wrappers\n"
            "out = {}\n"
            "for path in sys.argv[1:]:\n"
            "    w = wrappers.load_version(path)\n"
            "    f = w.variable_fill\n"
            "    out[path] = [f.signatures, f.empty, f.filled]\n"
            "    w.close()\n"
            "print(json.dumps(out))\n")
    answers = []
    for seed in ("1", "2"):  # a different hash order of every set and dict of strings
        run = subprocess.run([sys.executable, "-c", code, saved, exported, DIGITS], cwd=ROOT,
                             capture_output=True, text=True, timeout=180,
                             env={**os.environ, "PYTHONHASHSEED": seed,
                                  "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert run.returncode == 0, run.stderr[-3000:]
        answers.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert answers[0] == answers[1]
    signatures, empty, filled = answers[0][saved]
    assert signatures == ["serving_default"] and len(empty) == 4 and filled == empty
    assert answers[0][exported] == answers[0][DIGITS] == [[], [], []]


def test_a_savedmodel_with_an_uninitialised_variable_no_signature_reads_loads_and_serves(
        tmp_path, caplog):
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None], name="x")
        scale = v1.Variable(3.0, use_resource=True, name="scale")
        # Never saved nor initialised, and read only by an op no signature depends on.
        unused = v1.Variable(1.0, use_resource=True, collections=[], name="unused")
        tf.identity(unused.read_value(), name="debug_read")
        y = tf.identity(x * scale.read_value(), name="y")
        session.run(scale.initializer)
        builder = v1.saved_model.builder.SavedModelBuilder(str(tmp_path / "m"))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                {"x": x}, {"y": y})})
        builder.save()
    assert empty_after_tensorflows_own_load(str(tmp_path / "m")) == 1
    wrapper, messages = load_quietly(str(tmp_path / "m"), caplog)
    try:
        assert messages == [] and wrapper.restored_variables == 0
        got = wrapper.run("serving_default", {"x": np.array([1.0, 2.0], np.float32)})["y"]
        np.testing.assert_allclose(got, [3.0, 6.0])
    finally:
        wrapper.close()
