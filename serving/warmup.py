"""SavedModel warmup, as TensorFlow Serving does it: before a new version becomes AVAILABLE,
the requests in its `assets.extra/tf_serving_warmup_requests` are replayed against it.

The file is a TFRecord of PredictionLog protos (predict, classify, regress and
multi_inference logs); each runs `num_request_iterations_for_warmup` times through the same
verbs and batcher as live requests, with no deadline, and its answer is thrown away. Only
the signature and inputs of a logged request count (its model name and version do not).
A broken file fails the load of that version alone, with TF Serving's messages; the
versions already serving keep serving. scripts/make_warmup_file.py writes such files.
"""
from __future__ import annotations

import logging
import os
import time

from serving import metrics, requests
from serving.errors import DeadlineExceeded, InvalidArgument, LoadError, ServingError, Unimplemented
from serving.inference import Inference, ModelSpec, Target

log = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000
_UNSUPPORTED = {"session_run_log": 5, "predict_streamed_log": 7}  # PredictionLog field numbers


def replay(inference: Inference, servable, version_path: str, iterations: int) -> int:
    """Replay the version's warmup file, if it has one; the number of records. LoadError
    (with TF Serving's code and message) when the file or one of its requests fails."""
    import tensorflow as tf
    path = os.path.join(version_path, WARMUP_FILE)
    if iterations <= 0 or not tf.io.gfile.exists(path):
        return 0
    started, count = time.monotonic(), 0
    try:
        with metrics.unrecorded():  # as Triton's, statistics leave warmup out
            for record in tf.compat.v1.io.tf_record_iterator(path):
                count += 1
                _replay_record(inference, servable, record, iterations)
                if count > MAX_RECORDS:
                    raise InvalidArgument(f"Number of warmup records exceeds the maximum "
                                          f"({MAX_RECORDS}) at {path}")
    except tf.errors.OpError as exc:  # framing or CRC: not a TFRecord file
        raise LoadError(f"{exc.message}. Please verify your warmup data is in TFRecord "
                        f"format.", "DATA_LOSS") from None
    except ServingError as exc:
        raise LoadError(f"warmup request {count} of {path} failed: {exc.message}",
                        exc.code) from None
    log.info("model %s version %s: %d warmup records replayed %d times in %.2fs",
             servable.name, servable.version, count, iterations, time.monotonic() - started)
    return count


def _replay_record(inference: Inference, servable, record: bytes, iterations: int) -> None:
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2
    log_entry = prediction_log_pb2.PredictionLog()
    try:
        log_entry.ParseFromString(record)
    except DecodeError as exc:
        raise InvalidArgument(f"Failed to parse warmup record: {exc}") from None
    kind = log_entry.WhichOneof("log_type")
    if kind is None:
        return  # TF Serving lets a record without a log type pass
    if kind in _UNSUPPORTED:
        raise Unimplemented(f"Unsupported log_type for warmup: {_UNSUPPORTED[kind]}")
    # Only the signature and the inputs of a logged request count: it runs on this version
    # under this model's name, whatever it names.
    request = getattr(log_entry, kind).request
    specs = ([task.model_spec for task in request.tasks] if kind == "multi_inference_log"
             else [request.model_spec])
    for spec in specs:
        spec.name = servable.name
        spec.ClearField("version_choice")

    def resolve(spec: ModelSpec, timeout: float | None = None) -> Target:
        """This version, whatever the logged request names (it is not AVAILABLE yet)."""
        if not servable.acquire():
            raise DeadlineExceeded("the version was unloaded during its warmup")
        return Target(servable, ModelSpec(servable.name, servable.version, None,
                                          spec.signature_name))

    verb = {"predict_log": requests.predict, "classify_log": requests.classify,
            "regress_log": requests.regress,
            "multi_inference_log": requests.multi_inference}[kind]
    for _ in range(iterations):
        verb(inference, resolve, request)
