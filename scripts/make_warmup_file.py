"""Write a version's warmup file (assets.extra/tf_serving_warmup_requests) from example requests.

    python scripts/make_warmup_file.py models/half_plus_two/00000123 \\
        --request '{"instances": [[1.0], [2.0]]}' \\
        --request '{"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}'

Each --request is a TF Serving REST body, as you would POST it: `instances`/`inputs` become a
PredictRequest (read against the signature's input types), `examples` a ClassificationRequest
or RegressionRequest (by the signature's method; --verb overrides). The file is a TFRecord of
PredictionLogs, the format TensorFlow Serving and this server replay before a version serves.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from api.codec import examples as example_codec  # noqa: E402
from api.codec import tensors as tensor_codec  # noqa: E402
from serving import tensor_proto  # noqa: E402
from serving.warmup import WARMUP_FILE  # noqa: E402


def prediction_log(wrapper, model_name: str, body: dict, verb: str | None = None):
    """One PredictionLog for a REST body, its tensors typed by the loaded version's signature."""
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        predict_pb2,
        prediction_log_pb2,
        regression_pb2,
    )

    key = body.get("signature_name") or "serving_default"
    if key not in wrapper.servable_signatures:
        raise SystemExit(f"{wrapper.path} has no signature {key!r}; it has "
                         f"{sorted(wrapper.servable_signatures)}")
    signature = wrapper.servable_signatures[key]
    log = prediction_log_pb2.PredictionLog()
    if "examples" in body:
        verb = verb or ("regress" if signature.method_name.endswith("regress") else "classify")
        kind = {"classify": classification_pb2.ClassificationRequest,
                "regress": regression_pb2.RegressionRequest}[verb]
        request = kind()
        for serialized in example_codec.decode_examples(body, verb):
            request.input.example_list.examples.add().CopyFrom(
                example_pb2.Example.FromString(serialized))
        getattr(log, f"{verb}_log").request.CopyFrom(request)
    else:
        feeds, _ = tensor_codec.decode_predict(body, signature.inputs)
        request = predict_pb2.PredictRequest()
        for alias, array in feeds.items():
            request.inputs[alias].CopyFrom(
                tensor_proto.from_array(array, signature.inputs[alias].dtype))
        log.predict_log.request.CopyFrom(request)
    spec = getattr(log, log.WhichOneof("log_type")).request.model_spec
    spec.name = model_name
    spec.signature_name = key
    return log


def write(version_dir: str, bodies: list[dict], verb: str | None = None) -> str:
    """Loads the version once and writes one PredictionLog per body."""
    import tensorflow as tf

    import wrappers
    path = os.path.join(version_dir, WARMUP_FILE)
    model_name = os.path.basename(os.path.dirname(os.path.abspath(version_dir)))
    wrapper = wrappers.load_version(version_dir)
    try:
        logs = [prediction_log(wrapper, model_name, body, verb) for body in bodies]
    finally:
        wrapper.close()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version_dir", help="the version directory (holds saved_model.pb)")
    parser.add_argument("--request", action="append", required=True,
                        help="a REST request body (JSON); repeat for several")
    parser.add_argument("--verb", choices=("classify", "regress"),
                        help="for `examples` bodies: which verb (default: the signature's)")
    args = parser.parse_args(argv)
    path = write(args.version_dir, [json.loads(text) for text in args.request], args.verb)
    print(f"wrote {len(args.request)} warmup request(s) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
