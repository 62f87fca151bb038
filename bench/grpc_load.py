"""gRPC load for the benchmark: h2load (C, Debian's nghttp2-client) sending one gRPC-framed
request over and over, so the load generator never competes for the server's Python.

Bodies are written once: TF Serving's PredictRequest for ours (the input as tensor_content,
what `tf.make_tensor_proto` makes), and KServe-v2's ModelInferRequest for Triton and for our
own OIP (made with tritonclient's protos in PyTriton's venv, else with ours). h2load cannot read gRPC's status from the
trailers, so a body is first checked by a real call (readiness), and our own server reports
calls that did not end OK through its metrics.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PREDICT = "/tensorflow.serving.PredictionService/Predict"
TRITON_INFER = "/inference.GRPCInferenceService/ModelInfer"
INPUTS = {"mlp": ("images", (1, 784)), "cnn": ("image", (1, 28, 28, 1))}
TRITON_BODY = r'''
import json, struct, sys
import numpy as np
try:
    from tritonclient.grpc import service_pb2
except ImportError:  # no PyTriton venv: our generated copy of the same proto
    from grpc_api.oip import inference_pb2 as service_pb2
model, source, dest = sys.argv[1:]
body = json.load(open(source))["inputs"][0]
request = service_pb2.ModelInferRequest(model_name=model)
tensor = request.inputs.add(name=body["name"], datatype=body["datatype"], shape=body["shape"])
request.raw_input_contents.append(np.asarray(body["data"], np.float32).tobytes())
message = request.SerializeToString()
open(dest, "wb").write(b"\0" + struct.pack(">I", len(message)) + message)
'''


def framed(message: bytes) -> bytes:
    """gRPC's length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\0" + struct.pack(">I", len(message)) + message


def make_bodies(bench_dir: Path, triton_python: Path | None) -> None:
    bodies = bench_dir / "bodies"
    for model, (alias, shape) in INPUTS.items():
        ours = bodies / f"{model}_1.grpc"
        if not ours.exists():
            import tensorflow as tf
            from tensorflow_serving.apis import predict_pb2
            values = json.loads((bodies / f"{model}_1.json").read_text())["instances"]
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(
                np.asarray(values, np.float32).reshape(shape)))
            ours.write_bytes(framed(request.SerializeToString()))
        triton = bodies / f"{model}_1.triton.grpc"
        if not triton.exists():
            subprocess.run([str(triton_python or sys.executable), "-c", TRITON_BODY, model,
                            str(bodies / f"{model}_1.kserve.json"), str(triton)], check=True,
                           cwd=Path(__file__).resolve().parents[1])


def check(target: str, method: str, body: Path, timeout: float = 5.0) -> bool:
    """One real call with the body's bytes; True when it ends OK (the server is ready)."""
    import grpc
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(body.read_bytes()[5:], timeout=timeout)
            return True
        except grpc.RpcError:
            return False


def ensure_h2load() -> None:
    if shutil.which("h2load"):
        return
    import os
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "nghttp2-client"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def h2load(target: str, method: str, body: Path, connections: int, seconds: float,
           log_dir: Path) -> dict:
    """One load point: `connections` clients, one call in flight each, `seconds` measured
    (no warm-up, as for wrk); latencies from h2load's per-request log."""
    log = log_dir / f"h2load-{time.monotonic_ns()}.tsv"
    out = subprocess.run(
        ["h2load", "-c", str(connections), "-m", "1", "-t", "1", "-D", f"{seconds:g}",
         "-d", str(body), "-H", "content-type: application/grpc",
         "-H", "te: trailers", f"--log-file={log}", f"http://{target}{method}"],
        capture_output=True, text=True, timeout=seconds + 60)
    requests = failed = 0
    for line in out.stdout.splitlines():
        if line.startswith("requests:"):
            words = line.replace(",", "").split()
            requests = int(words[words.index("succeeded") - 1])
            failed = sum(int(words[words.index(kind) - 1])
                         for kind in ("failed", "errored", "timeout"))
    millis = np.array([float(row.split("\t")[2]) / 1000 for row in log.read_text().splitlines()
                       if row.count("\t") == 2 and row.split("\t")[1] == "200"]) \
        if log.exists() else np.zeros(0)
    log.unlink(missing_ok=True)
    return {"rps": requests / seconds, "requests": requests, "errors": failed,
            "p50": float(np.percentile(millis, 50)) if millis.size else 0.0,
            "p99": float(np.percentile(millis, 99)) if millis.size else 0.0}


if __name__ == "__main__":  # a quick look: python bench/grpc_load.py HOST:PORT BODY C SECONDS
    print(h2load(sys.argv[1], PREDICT, Path(sys.argv[2]), int(sys.argv[3]),
                 float(sys.argv[4]), Path("/tmp")))
