"""Build a zoo of models exported every way people export them, with the answers TensorFlow
gives for one request to each: what tests/e2e/test_model_zoo.py serves and checks.

    python scripts/make_zoo_models.py DEST

DEST/<name>/1/ holds each model as its exporter wrote it (a SavedModel, a Keras file, a frozen
graph); DEST/<name>.case.json the request (signature and inputs by alias, two rows unless the
model takes one) and the outputs TensorFlow computes eagerly for it: with
`tf.saved_model.load(...).signatures[...]` for SavedModels, with the original model for the
formats the server converts.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROWS = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.75, 3.0]], np.float32)
CASES = {}


def case(name):
    def register(build):
        CASES[name] = build
        return build
    return register


def eager(path: str, signature: str, inputs: dict) -> dict:
    """What TensorFlow computes for `inputs` with the exported signature, run eagerly."""
    import tensorflow as tf
    function = tf.saved_model.load(path).signatures[signature]
    specs = function.structured_input_signature[1]
    outputs = function(**{alias: tf.constant(value, specs[alias].dtype)
                          for alias, value in inputs.items()})
    return {alias: tensor.numpy() for alias, tensor in outputs.items()}


def only_input(path: str, signature: str) -> str:
    import tensorflow as tf
    (alias,) = tf.saved_model.load(path).signatures[signature].structured_input_signature[1]
    return alias


def _dense_model(keras, input_name: str | None = None):
    model = keras.Sequential([keras.Input((4,), name=input_name),
                              keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    model.build((None, 4))
    return model


@case("keras3_export")
def keras3_export(path):
    import keras
    model = _dense_model(keras)
    model.export(path, verbose=False)
    inputs = {only_input(path, "serving_default"): ROWS}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("keras3_export_archive")
def export_archive(path):
    import keras
    import tensorflow as tf
    model = _dense_model(keras)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=model.call,
                         input_signature=[tf.TensorSpec([None, 4], tf.float32, name="rows")])
    archive.write_out(path, verbose=False)
    inputs = {only_input(path, "serve"): ROWS}
    return "serve", inputs, eager(path, "serve", inputs)


@case("keras3_tf_saved_model_save")
def keras3_saved_model_save(path):
    """The export that breaks graph-mode loaders (tensorflow/serving#2250)."""
    import keras
    import tensorflow as tf
    model = _dense_model(keras)
    tf.saved_model.save(model, path)
    inputs = {only_input(path, "serving_default"): ROWS}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("keras3_mixed_precision")
def mixed_precision(path):
    import keras
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                  keras.layers.Dense(2, dtype="float32")])
        model.export(path, verbose=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inputs = {only_input(path, "serving_default"): ROWS}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("tf_keras_save")
def tf_keras_save(path):
    import tf_keras
    model = tf_keras.Sequential([tf_keras.layers.Dense(3, activation="relu", input_shape=(4,)),
                                 tf_keras.layers.Dense(2)])
    model.save(path)
    inputs = {only_input(path, "serving_default"): ROWS}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("tf_module_signatures")
def tf_module(path):
    import tensorflow as tf

    class Arithmetic(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable(3.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32),
                                      tf.TensorSpec([None, 4], tf.float32)])
        def combine(self, a, b):
            return {"sum": a + b, "scaled": self.scale * a}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def double(self, x):
            return {"y": 2 * x}

    module = Arithmetic()
    tf.saved_model.save(module, path, signatures={"serving_default": module.combine,
                                                  "double": module.double})
    inputs = {"a": ROWS, "b": ROWS[::-1].copy()}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("lookup_table_asset")
def lookup_table(path):
    import tempfile

    import tensorflow as tf
    folder = tempfile.mkdtemp()
    vocabulary = os.path.join(folder, "vocabulary.txt")
    with open(vocabulary, "w") as handle:
        handle.write("cat\ndog\nbird\n")

    class Vocabulary(tf.Module):
        def __init__(self):
            super().__init__()
            self.asset = tf.saved_model.Asset(vocabulary)
            self.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
                self.asset, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER), default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def lookup(self, words):
            return {"ids": self.table.lookup(words)}

    module = Vocabulary()
    tf.saved_model.save(module, path, signatures={"serving_default": module.lookup})
    inputs = {"words": np.array([b"dog", b"fish"], object)}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("tf1_builder_main_op")
def tf1_main_op(path):
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        words = v1.placeholder(tf.string, [None], name="words")
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(["a", "b", "c"]), tf.constant([10, 20, 30], tf.int64)), -1)
        ids = tf.identity(table.lookup(words), name="ids")
        builder = v1.saved_model.builder.SavedModelBuilder(path)
        builder.add_meta_graph_and_variables(
            session, ["serve"], main_op=v1.tables_initializer(), signature_def_map={
                "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                    {"words": words}, {"ids": ids})})
        builder.save()
    inputs = {"words": np.array([b"c", b"z"], object)}
    return "serving_default", inputs, {"ids": np.array([30, -1])}


@case("variable_length_input")
def variable_length(path):
    import tensorflow as tf

    class Totals(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
        def total(self, values):
            return {"total": tf.reduce_sum(values, axis=1)}

    module = Totals()
    tf.saved_model.save(module, path, signatures={"serving_default": module.total})
    inputs = {"values": ROWS[:, :3]}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("fixed_batch_of_one")
def fixed_batch(path):
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [1, 4], name="x")
        y = tf.identity(x * 3.0, name="y")
        builder = v1.saved_model.builder.SavedModelBuilder(path)
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                {"x": x}, {"y": y})})
        builder.save()
    inputs = {"x": ROWS[:1]}
    return "serving_default", inputs, {"y": ROWS[:1] * 3}


@case("tensorflow_text_tokenizer")
def tf_text(path):
    import tensorflow as tf
    import tensorflow_text

    class Words(tf.Module):
        def __init__(self):
            super().__init__()
            self.tokenizer = tensorflow_text.WhitespaceTokenizer()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def count(self, text):
            return {"words": self.tokenizer.tokenize(text).row_lengths()}

    module = Words()
    tf.saved_model.save(module, path, signatures={"serving_default": module.count})
    inputs = {"text": np.array([b"the quick brown fox", b"hello"], object)}
    return "serving_default", inputs, eager(path, "serving_default", inputs)


@case("keras_file")
def keras_file(path):
    import keras
    model = _dense_model(keras, "features")  # Keras' export names an input after its layer
    os.makedirs(path)
    model.save(os.path.join(path, "model.keras"))
    return "serving_default", {"features": ROWS}, {"output_0": model(ROWS).numpy()}


@case("tf_keras_h5_file")
def h5_file(path):
    import tf_keras
    model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(4,), name="dense_h5")])
    os.makedirs(path)
    model.save(os.path.join(path, "model.h5"))
    return "serving_default", {"dense_h5_input": ROWS}, {"dense_h5": model(ROWS).numpy()}


def _frozen(path: str, sidecar: bool):
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None, 4], name="pixels")
        weight = v1.Variable(np.arange(8, dtype=np.float32).reshape(4, 2) / 8, name="weight")
        tf.nn.softmax(tf.matmul(x, weight), name="probabilities")
        session.run(v1.global_variables_initializer())
        frozen = v1.graph_util.convert_variables_to_constants(
            session, graph.as_graph_def(), ["probabilities"])
        expected = session.run("probabilities:0", {"pixels:0": ROWS})
    os.makedirs(path)
    with open(os.path.join(path, "frozen_graph.pb"), "wb") as handle:
        handle.write(frozen.SerializeToString())
    if sidecar:
        with open(os.path.join(path, "signature.json"), "w") as handle:
            json.dump({"inputs": {"image": "pixels:0"},
                       "outputs": {"scores": "probabilities:0"}}, handle)
        return "serving_default", {"image": ROWS}, {"scores": expected}
    return "serving_default", {"pixels": ROWS}, {"probabilities": expected}


@case("frozen_graph_with_sidecar")
def frozen_with_sidecar(path):
    return _frozen(path, sidecar=True)


@case("frozen_graph_guessed")
def frozen_guessed(path):
    return _frozen(path, sidecar=False)


# -- Keras 3 models whose variables share names, exported with model.export and with
# tf.saved_model.save (which graph-mode loaders, TF Serving's too, cannot run as written) --
def _keras_layers():
    """The custom layers (keras.io's "Text classification with Transformer", and a nest of
    layers each with a weight called `kernel`), defined when Keras is imported."""
    import keras
    from keras import layers, ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                         layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs, training=False):
            attention = self.dropout1(self.att(inputs, inputs), training=training)
            out1 = self.layernorm1(inputs + attention)
            return self.layernorm2(out1 + self.dropout2(self.ffn(out1), training=training))

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = ops.arange(start=0, stop=ops.shape(x)[-1], step=1)
            return self.token_emb(x) + self.pos_emb(positions)

    class Kernel(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, shape):
            self.kernel = self.add_weight(name="kernel", shape=(shape[-1], self.units))

        def call(self, x):
            return ops.matmul(x, self.kernel)

    class Residual(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first, self.second = Kernel(4), Kernel(4)

        def call(self, x):
            return x + self.second(ops.tanh(self.first(x)))

    return TransformerBlock, TokenAndPositionEmbedding, Residual


def _text_transformer():
    import keras
    from keras import layers
    transformer_block, token_and_position, _ = _keras_layers()
    maxlen, vocab, embed = 16, 200, 16
    inputs = layers.Input(shape=(maxlen,))
    x = token_and_position(maxlen, vocab, embed)(inputs)
    x = transformer_block(embed, 2, 16)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    tokens = np.random.default_rng(1).integers(0, vocab, (2, maxlen)).astype(np.float32)
    return keras.Model(inputs=inputs, outputs=outputs), [tokens]


def _nested_kernels():
    import keras
    _, _, residual = _keras_layers()
    return keras.Sequential([keras.Input((4,)), residual(), residual(),
                             keras.layers.Dense(2)]), [ROWS]


def _two_embeddings():
    import keras
    from keras import layers
    user = layers.Input((1,), dtype="int32", name="user")
    item = layers.Input((1,), dtype="int32", name="item")
    user_vector = layers.Flatten()(layers.Embedding(40, 8)(user))
    item_vector = layers.Flatten()(layers.Embedding(40, 8)(item))
    both = layers.Concatenate()([user_vector, item_vector, layers.Dot(axes=1)(
        [user_vector, item_vector])])
    model = keras.Model([user, item], layers.Dense(2)(both))
    return model, [np.array([[3], [17]], np.int32), np.array([[5], [39]], np.int32)]


def _keras_pair(name: str, make):
    """Two cases of one model: `model.export` and `tf.saved_model.save`, each checked
    against the Keras model's own call; every trainable weight gets its own random values,
    so a weight served in another's place changes the answer."""
    def build(path, exporter):
        import tensorflow as tf
        model, arrays = make()
        rng = np.random.default_rng(7)
        for weight in model.trainable_weights:
            weight.assign(rng.normal(0, 0.5, weight.shape).astype(np.float32))
        if exporter == "model_export":
            model.export(path, verbose=False)
        else:
            tf.saved_model.save(model, path)
        function = tf.saved_model.load(path).signatures["serving_default"]
        aliases = list(function.structured_input_signature[1])
        (output,) = function.structured_outputs
        expected = model(arrays if len(arrays) > 1 else arrays[0], training=False)
        inputs = dict(zip(_in_input_order(model, aliases), arrays))
        return "serving_default", inputs, {output: np.asarray(expected)}
    for exporter in ("model_export", "tf_saved_model_save"):
        case(f"{name}_{exporter}")(lambda path, exporter=exporter: build(path, exporter))


def _in_input_order(model, aliases):
    """The signature's input aliases in the order of the model's inputs: their names
    (model.export), else `inputs`, `inputs_1`, ... (tf.saved_model.save)."""
    names = [tensor.name for tensor in model.inputs]
    return names if set(aliases) == set(names) else sorted(aliases, key=lambda a: (len(a), a))


_keras_pair("keras_io_text_transformer", _text_transformer)
_keras_pair("nested_layers_same_weight_names", _nested_kernels)
_keras_pair("two_embeddings", _two_embeddings)


def graph_mode_runs(path: str, signature: str, inputs: dict) -> bool:
    """Whether the signature runs after TensorFlow's own graph-mode load (TF Serving's way:
    tf.compat.v1 loader, then a session run), with nothing filled in."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        meta_graph = v1.saved_model.loader.load(session, ["serve"], path)
        proto = meta_graph.signature_def[signature]
        try:
            session.run([t.name for t in proto.outputs.values()],
                        {proto.inputs[a].name: v for a, v in inputs.items()})
        except tf.errors.FailedPreconditionError:
            return False
    return True


def _json(value):
    array = np.asarray(value)
    if array.dtype == object:
        return [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]
    return array.tolist()


def build(dest: str, names=None) -> None:
    import tensorflow as tf
    for name in names or CASES:
        path = os.path.join(dest, name, "1")
        tf.keras.backend.clear_session() if hasattr(tf, "keras") else None
        signature, inputs, outputs = CASES[name](path)
        saved_model = os.path.exists(os.path.join(path, "saved_model.pb"))
        with open(os.path.join(dest, f"{name}.case.json"), "w") as handle:
            json.dump({"signature": signature,
                       "graph_mode_runs": (graph_mode_runs(path, signature, inputs)
                                           if saved_model else None),
                       "inputs": {a: _json(v) for a, v in inputs.items()},
                       "outputs": {a: _json(v) for a, v in outputs.items()}}, handle)
        print("wrote", path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[3].strip())
    build(sys.argv[1], sys.argv[2:] or None)
