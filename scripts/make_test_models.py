"""Build the SavedModels the test suite serves, in TensorFlow Serving's layout, from nothing.

    python scripts/make_test_models.py DEST

They copy the shape of TF Serving's own test models (same directory names, signatures,
tensor names and answers: `y = 0.5 * x + 2` and friends), written here by TF1's
SavedModelBuilder or TF2's `tf.saved_model.save`, so a plain clone of the project tests
itself. The byte-exact originals are only read by the conformance run (tests/conformance/).
"""
from __future__ import annotations

import os
import shutil
import sys

# (name, version directories): what build() writes under DEST.
MODELS = {
    "saved_model_half_plus_two_cpu": ("00000123",),
    "saved_model_half_plus_three": ("00000123",),
    "saved_model_half_plus_two_2_versions": ("00000123", "00000124"),
    "saved_model_half_plus_two_tf2_cpu": ("00000123",),
    "saved_model_half_plus_two_gpu": ("00000123",),
    "saved_model_counter": ("00000123",),
    "matrix_half_plus_two": ("1",),
    "bad_half_plus_two": ("00000123",),
    "multi_input": ("1",),
    "every_dtype": ("1",),
    "ref_outputs": ("1",),
}

# Config files TF Serving's tests read beside their models, written under DEST as well.
DATA_FILES = {
    "bad_model_config.txt": "improperly formatted file\n",
    "monitoring_config.txt": 'prometheus_config {\n  enable: true,\n'
                             '  path: "/monitoring/prometheus/metrics"\n}\n',
}

# every_dtype: one input (and its echo output) per dtype TF Serving's JSON reads.
ECHO_DTYPES = ("float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8",
               "uint16", "uint32", "uint64", "bool", "string")

# ref_outputs: the dtypes a TF1 variable's reference tensor (DT_<TYPE>_REF) is tested in.
REF_DTYPES = ECHO_DTYPES + ("complex64", "complex128")


def ref_value(dtype: str):
    """The value of ref_outputs' variable `out_<dtype>` (the `v` output of `out_<dtype>`)."""
    import numpy as np
    if dtype == "string":
        return np.array([b"ref", b"var"], dtype=object)
    if dtype == "bool":
        return np.array([True, False])
    if dtype.startswith("complex"):
        return np.array([1 + 2j, 3 - 1j], dtype=dtype)
    return np.array([7, 3], dtype=dtype)


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    return tf, tf.compat.v1


def _save_v1(path: str, build, devices: bool = False) -> None:
    """Build a graph with `build()` → (signature map, main_op or None) and save it at path."""
    tf, v1 = _tf()
    graph = tf.Graph()
    with graph.as_default():
        signatures, assets = build(tf, v1)
        config = v1.ConfigProto(allow_soft_placement=True)
        with v1.Session(graph=graph, config=config) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.builder.SavedModelBuilder(path)
            builder.add_meta_graph_and_variables(
                session, [v1.saved_model.tag_constants.SERVING], signature_def_map=signatures,
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS) if assets else None,
                clear_devices=not devices, strip_default_attrs=True)
            builder.save()


def _asset(tf, v1, folder: str):
    """An asset file (assets/foo.txt), as TF Serving's half_plus_two models carry one."""
    source = os.path.join(folder, "foo.txt")
    with open(source, "w") as handle:
        handle.write("asset-file-contents")
    constant = tf.constant(source, name="asset_filepath")
    v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, constant)


def _half_plus(tf, v1, b: float, x2_classify: bool, scratch: str, device: str | None = None):
    """a*x + b over Examples or a float tensor, with TF Serving's five or six signatures."""
    sig = v1.saved_model.signature_def_utils
    info = v1.saved_model.utils.build_tensor_info
    with tf.device(device):
        a = v1.Variable(0.5, name="a")
        b_ = v1.Variable(b, name="b")
        c = v1.Variable(3.0, name="c")
        examples = v1.placeholder(tf.string, name="tf_example")
        parsed = v1.parse_example(examples, {
            "x": v1.FixedLenFeature([1], tf.float32),
            "x2": v1.FixedLenFeature([1], tf.float32, default_value=[0.0])})
        for feature in parsed.values():
            feature.set_shape([None, 1])  # the examples' rank is unknown; rows of one value
        x = tf.identity(parsed["x"], name="x")
        y = tf.add(tf.multiply(a, x), b_, name="y")
        y2 = tf.add(tf.multiply(a, x), c, name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        y3 = tf.add(tf.multiply(a, x2), c, name="y3")
    _asset(tf, v1, scratch)
    predict, regress, classify = (v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
                                  v1.saved_model.signature_constants.REGRESS_METHOD_NAME,
                                  v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME)
    signatures = {
        "serving_default": sig.build_signature_def({"x": info(x)}, {"y": info(y)}, predict),
        "classify_x_to_y": sig.build_signature_def({"inputs": info(examples)},
                                                   {"scores": info(y)}, classify),
        "regress_x_to_y": sig.build_signature_def({"inputs": info(examples)},
                                                  {"outputs": info(y)}, regress),
        "regress_x_to_y2": sig.build_signature_def({"inputs": info(examples)},
                                                   {"outputs": info(y2)}, regress),
        "regress_x2_to_y3": sig.build_signature_def({"inputs": info(x2)},
                                                    {"outputs": info(y3)}, regress),
    }
    if x2_classify:
        signatures["classify_x2_to_y3"] = sig.build_signature_def(
            {"inputs": info(x2)}, {"scores": info(y3)}, classify)
    return signatures, True


def half_plus_two(path: str, x2_classify: bool = False, device: str | None = None) -> None:
    scratch = path + ".assets"
    os.makedirs(scratch, exist_ok=True)
    try:
        _save_v1(path, lambda tf, v1: _half_plus(tf, v1, 2.0, x2_classify, scratch, device),
                 devices=device is not None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def half_plus_three(path: str) -> None:
    """Like TF Serving's TF 1.0 export: every shape recorded as a scalar (`[]`, though any
    shape runs), the Examples input recorded as DT_FLOAT, and regress only by its name."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        a, b = v1.Variable(0.5, name="a"), v1.Variable(3.0, name="b")
        x = v1.placeholder(tf.float32, name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        examples = v1.placeholder(tf.string, name="tf_example")
        parsed = v1.parse_example(examples, {"x": v1.FixedLenFeature([1], tf.float32)})
        regressed = tf.identity(tf.add(tf.multiply(a, parsed["x"]), b))
        signatures = {
            "serving_default": sig.build_signature_def(
                {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict"),
            "tensorflow/serving/regress": sig.build_signature_def(
                {"inputs": info(examples)}, {"outputs": info(regressed)},
                "tensorflow/serving/regress"),
        }
        for signature in signatures.values():
            for tensor in (*signature.inputs.values(), *signature.outputs.values()):
                tensor.dtype = tf.float32.as_datatype_enum
                tensor.tensor_shape.Clear()  # known rank 0
        return signatures, False
    _save_v1(path, build)


def half_plus_two_tf2(path: str) -> None:
    """A TF2 export (tf.saved_model.save of a tf.Module): method names are all `predict`."""
    tf, _ = _tf()

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = tf.Variable(0.5), tf.Variable(2.0), tf.Variable(3.0)
            self.features = {"x": tf.io.FixedLenFeature([1], tf.float32),
                             "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        def _parsed(self, serialized):
            return tf.io.parse_example(serialized, self.features)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify_x_to_y(self, inputs):
            return {"scores": self.a * self._parsed(inputs)["x"] + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress_x_to_y(self, inputs):
            return {"outputs": self.a * self._parsed(inputs)["x"] + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress_x_to_y2(self, inputs):
            return {"outputs": self.a * self._parsed(inputs)["x"] + self.c}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
        def regress_x2_to_y3(self, inputs):
            return {"outputs": self.a * inputs + self.c}

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
        def classify_x2_to_y3(self, inputs):
            return {"scores": self.a * inputs + self.c}

    module = HalfPlusTwo()
    assets = os.path.join(path, "assets")
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.predict, "classify_x_to_y": module.classify_x_to_y,
        "regress_x_to_y": module.regress_x_to_y, "regress_x_to_y2": module.regress_x_to_y2,
        "regress_x2_to_y3": module.regress_x2_to_y3,
        "classify_x2_to_y3": module.classify_x2_to_y3})
    os.makedirs(assets, exist_ok=True)
    with open(os.path.join(assets, "foo.txt"), "w") as handle:
        handle.write("asset-file-contents")


def counter(path: str) -> None:
    """A stateful model: signatures without inputs and scalar outputs."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        value = v1.Variable(0.0, name="counter")
        delta = v1.placeholder(tf.float32, name="delta")
        outputs = {
            "get_counter": ({}, value.read_value()),
            "incr_counter": ({}, tf.identity(value.assign_add(1.0))),
            "incr_counter_by": ({"delta": info(delta)}, tf.identity(value.assign_add(delta))),
            "reset_counter": ({}, tf.identity(value.assign(0.0))),
        }
        return {key: sig.build_signature_def(inputs, {"output": info(output)},
                                             "tensorflow/serving/predict")
                for key, (inputs, output) in outputs.items()}, False
    _save_v1(path, build)


def matrix_half_plus_two(path: str) -> None:
    """Batches of 3x3 matrices, no variables (TF Serving's batching test model)."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        x = v1.placeholder(tf.float32, [None, 3, 3], name="x")
        y = tf.add(tf.multiply(x, 0.5), 2.0, name="y")
        return {"serving_default": sig.build_signature_def(
            {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict")}, False
    _save_v1(path, build)


def bad_half_plus_two(path: str) -> None:
    """An old-style export (meta graph + checkpoint) with no saved_model.pb: must not load."""
    tf, v1 = _tf()
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a = v1.Variable(0.5, name="a")
        x = v1.placeholder(tf.float32, name="x")
        tf.add(tf.multiply(a, x), 2.0, name="y")
        session.run(v1.global_variables_initializer())
        v1.train.Saver().save(session, os.path.join(path, "export"), write_meta_graph=False)
        v1.train.export_meta_graph(os.path.join(path, "export.meta"))


def multi_input(path: str) -> None:
    """TF Serving's json_tensor test signature: int, string and binary inputs echoed back."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        inputs = {"int_tensor": v1.placeholder(tf.int32, name="int_tensor"),
                  "str_tensor": v1.placeholder(tf.string, name="str_tensor"),
                  "bin_tensor": v1.placeholder(tf.string, name="bin_tensor")}
        outputs = {alias: tf.identity(tensor, name=f"{alias}_out")
                   for alias, tensor in inputs.items()}
        return {"serving_default": sig.build_signature_def(
            {a: info(t) for a, t in inputs.items()}, {a: info(t) for a, t in outputs.items()},
            "tensorflow/serving/predict")}, False
    _save_v1(path, build)


def every_dtype(path: str) -> None:
    """One echo signature per dtype (`echo_<dtype>`, input `x` [-1, ...] → output `y`)."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        signatures = {}
        for name in ECHO_DTYPES:
            x = v1.placeholder(tf.as_dtype(name), name=f"x_{name}")
            y = tf.identity(x, name=f"y_{name}")
            signatures[f"echo_{name}"] = sig.build_signature_def(
                {"x": info(x)}, {"y": info(y)}, "tensorflow/serving/predict")
        return signatures, False
    _save_v1(path, build)


def ref_outputs(path: str) -> None:
    """TF1 variables (use_resource=False: DT_<TYPE>_REF tensors) in signatures. Per dtype,
    `out_<dtype>`: x → y (x) and v (variable out_<dtype>, ref_value); `in_<dtype>`: variable
    in_<dtype> fed as x → y. Over Examples (feature x), classify/regress `*_variable` answer a
    variable (one example), `*_assign` the ref an Assign returns (0.5 * x + 2 per example)."""
    def build(tf, v1):
        sig, info = v1.saved_model.signature_def_utils, v1.saved_model.utils.build_tensor_info
        predict = "tensorflow/serving/predict"
        signatures = {}
        for name in REF_DTYPES:
            dtype, value = tf.as_dtype(name), ref_value(name)
            x = v1.placeholder(dtype, [None], name=f"x_{name}")
            out = v1.Variable(value, dtype=dtype, name=f"out_{name}", use_resource=False)
            signatures[f"out_{name}"] = sig.build_signature_def(
                {"x": info(x)}, {"y": info(tf.identity(x, name=f"y_{name}")), "v": info(out)},
                predict)
            fed = v1.Variable(value, dtype=dtype, name=f"in_{name}", use_resource=False,
                              validate_shape=False)
            signatures[f"in_{name}"] = sig.build_signature_def(
                {"x": info(fed)}, {"y": info(tf.identity(fed, name=f"echo_in_{name}"))}, predict)
        examples = v1.placeholder(tf.string, [None], name="tf_example")
        x = v1.parse_example(examples, {"x": v1.FixedLenFeature([1], tf.float32)})["x"]
        scores = v1.Variable([[0.25, 0.75]], name="scores", use_resource=False)
        classes = v1.Variable([[b"no", b"yes"]], name="classes", use_resource=False)
        value = v1.Variable([[3.5]], name="value", use_resource=False)
        computed = tf.add(tf.multiply(x, 0.5), 2.0)
        assigned_scores = v1.assign(v1.Variable([[0.0]], name="assigned_scores",
                                                use_resource=False, validate_shape=False),
                                    computed, validate_shape=False)
        assigned_value = v1.assign(v1.Variable([[0.0]], name="assigned_value",
                                               use_resource=False, validate_shape=False),
                                   computed, validate_shape=False)
        inputs = {"inputs": info(examples)}
        classify = v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME
        regress = v1.saved_model.signature_constants.REGRESS_METHOD_NAME
        signatures.update({
            "classify_variable": sig.build_signature_def(
                inputs, {"scores": info(scores), "classes": info(classes)}, classify),
            "regress_variable": sig.build_signature_def(inputs, {"outputs": info(value)},
                                                        regress),
            "classify_assign": sig.build_signature_def(
                inputs, {"scores": info(assigned_scores)}, classify),
            "regress_assign": sig.build_signature_def(
                inputs, {"outputs": info(assigned_value)}, regress),
        })
        return signatures, False
    _save_v1(path, build)


BUILDERS = {
    "saved_model_half_plus_two_cpu": lambda p, v: half_plus_two(p),
    "saved_model_half_plus_three": lambda p, v: half_plus_three(p),
    "saved_model_half_plus_two_2_versions": lambda p, v: half_plus_two(p, x2_classify=True),
    "saved_model_half_plus_two_tf2_cpu": lambda p, v: half_plus_two_tf2(p),
    "saved_model_half_plus_two_gpu": lambda p, v: half_plus_two(p, True, device="/gpu:0"),
    "saved_model_counter": lambda p, v: counter(p),
    "matrix_half_plus_two": lambda p, v: matrix_half_plus_two(p),
    "bad_half_plus_two": lambda p, v: bad_half_plus_two(p),
    "multi_input": lambda p, v: multi_input(p),
    "every_dtype": lambda p, v: every_dtype(p),
    "ref_outputs": lambda p, v: ref_outputs(p),
}


def build(dest: str, names=None) -> None:
    """Write every model (or those named) under dest/<name>/<version>/, and DATA_FILES."""
    os.makedirs(dest, exist_ok=True)
    for name, text in DATA_FILES.items():
        with open(os.path.join(dest, name), "w") as handle:
            handle.write(text)
    for name in names or MODELS:
        for version in MODELS[name]:
            path = os.path.join(dest, name, version)
            if os.path.exists(path):
                shutil.rmtree(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if name == "bad_half_plus_two":
                os.makedirs(path)
            BUILDERS[name](path, version)


def _quiet_tensorflow_logs() -> None:
    import logging
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    _quiet_tensorflow_logs()
    build(sys.argv[1], sys.argv[2:] or None)
    print("wrote", ", ".join(sys.argv[2:] or MODELS), "under", sys.argv[1])
