"""Warmup as TensorFlow Serving does it: a version's assets.extra/tf_serving_warmup_requests
(PredictionLogs in a TFRecord, written by scripts/make_warmup_file.py) run before it becomes
AVAILABLE, --num_request_iterations_for_warmup times; a broken file fails only that version."""
from __future__ import annotations

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from scripts.make_warmup_file import write as write_warmup
from serving.warmup import WARMUP_FILE
from tests.support.helpers import ROOT, ServerProcess, copy_model, copy_version, write_config

pytestmark = pytest.mark.e2e


def counter_value(server) -> float:
    """The counter of the worker this fresh channel reaches (get_counter takes no input)."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = "counter", "get_counter"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=30).outputs["output"].float_val[0]


def test_a_version_serves_only_after_its_warmup_requests_ran(tmp_path):
    base = copy_model("saved_model_counter", tmp_path / "counter")
    (version,) = [p for p in base.iterdir() if p.is_dir()]
    write_warmup(str(version), [{"signature_name": "incr_counter_by",
                                 "inputs": {"delta": 1.0}}] * 3)
    config = write_config(tmp_path / "models.config", {"counter": base})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--num_request_iterations_for_warmup=2")
    try:
        # Nothing else has called the model: 3 records x 2 iterations, in each worker.
        assert {counter_value(server) for _ in range(12)} == {6.0}
        assert "3 warmup records replayed 2 times" in server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("content, code, words", [
    (b"this is not a TFRecord file at all", "DATA_LOSS",
     "Please verify your warmup data is in TFRecord format."),
    (None, "FAILED_PRECONDITION", 'Serving signature key "nope" not found.'),
], ids=["corrupt file", "a request that fails"])
def test_a_broken_warmup_fails_only_its_version(tmp_path, content, code, words):
    base = tmp_path / "hpt"
    copy_version("saved_model_half_plus_two_cpu", base, 1)
    copy_version("saved_model_half_plus_two_cpu", base, 2)
    if content is None:  # a well-formed record asking for a signature the model lacks
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2
        record = prediction_log_pb2.PredictionLog()
        record.predict_log.request.model_spec.signature_name = "nope"
        record.predict_log.request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0]]))
        (base / "2" / WARMUP_FILE).parent.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(base / "2" / WARMUP_FILE)) as writer:
            writer.write(record.SerializeToString())
    else:
        (base / "2" / WARMUP_FILE).parent.mkdir(parents=True)
        (base / "2" / WARMUP_FILE).write_bytes(content)
    config = write_config(tmp_path / "models.config", {"hpt": base},
                          extra="    model_version_policy { all {} }\n")
    server = ServerProcess(f"--model_config_file={config}", "--workers=1")
    try:
        statuses = {s["version"]: s for s in
                    server.get("/v1/models/hpt").json()["model_version_status"]}
        assert statuses["2"]["state"] == "END"
        assert statuses["2"]["status"]["error_code"] == code
        assert words in statuses["2"]["status"]["error_message"]
        assert statuses["1"]["state"] == "AVAILABLE"
        reply = server.post("/v1/models/hpt:predict", json={"instances": [[1.0]]})
        assert reply.headers["X-Model-Version"] == "1" and reply.json() == {"predictions": [[2.5]]}
    finally:
        server.stop()


def test_the_shipped_half_plus_two_warms_up_with_its_own_file(models_server):
    assert (ROOT / "models" / "half_plus_two" / "00000123" / WARMUP_FILE).is_file()
    assert "model half_plus_two version 123: 3 warmup records replayed 1 times" in \
        models_server.log_path.read_text()
