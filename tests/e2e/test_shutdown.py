"""Stopping the server as an operator does, after REST and gRPC traffic: Ctrl-C in its
terminal (SIGINT to the whole process group: the master, which then sends each worker
SIGQUIT, and every worker at once) or SIGTERM to the master. Each worker stops gRPC and
drains its batchers, the log holds no traceback, and the server exits 0."""
from __future__ import annotations

import os
import signal
import subprocess

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.support.helpers import ServerProcess

pytestmark = pytest.mark.e2e
WORKERS = 2  # the default, as the README starts it


def ctrl_c(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends for Ctrl-C


def sigterm_to_the_master(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGTERM)  # docker stop, systemd, kill PID


def predict_half_plus_two(channel) -> list[float]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)])))
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request,
                                                                               timeout=30)
    return list(reply.outputs["y"].float_val)


def grpc_traffic(target: str, connections: int = 6) -> None:
    """Calls on several connections, which the kernel spreads over the workers."""
    for _ in range(connections):
        # A local subchannel pool: each channel opens a connection of its own.
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) \
                as channel:
            assert predict_half_plus_two(channel) == [2.5, 3.0]
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "half_plus_two"
            reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status,
                                                                                   timeout=30)
            assert reply.model_version_status[0].state == 30  # AVAILABLE


@pytest.mark.parametrize("stop", [ctrl_c, sigterm_to_the_master], ids=lambda f: f.__name__)
def test_the_server_stops_cleanly_after_rest_and_grpc_traffic(stop):
    server = ServerProcess()  # python3 app.py: the shipped models, two workers
    try:
        answer = server.post("/v1/models/half_plus_two:predict",
                             json={"instances": [1.0, 2.0]})
        assert answer.status_code == 200 and answer.json() == {"predictions": [2.5, 3.0]}
        grpc_traffic(server.grpc_target)
        stop(server.process)
        code = server.process.wait(timeout=90)
    finally:
        server.stop()  # SIGKILL only if it did not stop
    log = server.log_path.read_text(errors="replace")
    assert code == 0, log[-4000:]
    for noise in ("Traceback", "Exception in thread", "Exception ignored", "[ERROR]"):
        assert noise not in log, log[-4000:]
    # Every worker finished its close (gRPC stopped, batchers drained): none was cut short
    # by the second signal Ctrl-C brings it (the master's SIGQUIT after the terminal's SIGINT).
    assert log.count("models unloaded, batchers drained") == WORKERS, log[-4000:]
    assert "Shutting down: Master" in log
