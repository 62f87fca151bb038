"""REST and gRPC at once from one process tree: the same models, batchers and versions
answer both, under load, through a version hot-swap and through a worker's death; and a
worker takes as many gRPC calls into one batch as it has REST threads."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.support.helpers import (
    ClientThreads,
    ServerProcess,
    copy_version,
    wait_until,
    write_config,
)
from tests.support.slow_model import export_slow_model
from tests.support.workers import worker_pids

pytestmark = pytest.mark.e2e
CLIENTS, CALLS = 32, 25


def grpc_predict(stub, model: str, x: np.ndarray, timeout: float = 30):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return stub.Predict(request, timeout=timeout)


def batch_rows(server) -> tuple[float, float]:
    """(batches run, rows in them) for serving_default, over every worker."""
    page = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=10).text
    count = total = 0.0
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "serving_batch_size_count":
                count += sample.value
            elif sample.name == "serving_batch_size_sum":
                total += sample.value
    return count, total


def test_32_rest_and_32_grpc_clients_on_two_models_all_answered_right_in_shared_batches(
        tmp_path):
    for name, source in (("hpt", "saved_model_half_plus_two_cpu"), ("matrix", "matrix_half_plus_two")):
        copy_version(source, tmp_path / name, 1)
    config = write_config(tmp_path / "models.config",
                          {"hpt": tmp_path / "hpt", "matrix": tmp_path / "matrix"})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2")
    wrong, done = [], []

    def rest_client(index: int) -> None:
        with requests.Session() as session:
            for call in range(CALLS):
                value = float(index * 100 + call)
                model, body, expected = (
                    ("hpt", {"instances": [[value]]}, [[value / 2 + 2]]) if call % 2 else
                    ("matrix", {"instances": [[[value] * 3] * 3]}, [[[value / 2 + 2] * 3] * 3]))
                reply = session.post(f"{server.url}/v1/models/{model}:predict", json=body,
                                     timeout=30)
                if reply.status_code != 200 or reply.json()["predictions"] != expected:
                    wrong.append(("REST", model, value, reply.text[:200]))
                done.append(1)

    def grpc_client(index: int) -> None:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for call in range(CALLS):
                value = float(index * 100 + call)
                try:
                    if call % 2:
                        got = grpc_predict(stub, "hpt", np.array([[value]], np.float32))
                        ok = list(got.outputs["y"].float_val) == [value / 2 + 2]
                    else:
                        got = grpc_predict(stub, "matrix", np.full((1, 3, 3), value, np.float32))
                        ok = list(got.outputs["y"].float_val) == [value / 2 + 2] * 9
                except grpc.RpcError as exc:
                    ok, got = False, exc
                if not ok:
                    wrong.append(("gRPC", value, str(got)[:200]))
                done.append(1)
    try:
        before = batch_rows(server)
        threads = [threading.Thread(target=rest_client, args=(i,)) for i in range(CLIENTS)] + \
                  [threading.Thread(target=grpc_client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        batches, rows = (after - first for after, first in zip(batch_rows(server), before))
        print(f"\n{len(done)} calls ({CLIENTS} REST + {CLIENTS} gRPC clients): "
              f"{batches:.0f} batches, {rows / max(batches, 1):.2f} rows per batch")
        assert wrong == [] and len(done) == 2 * CLIENTS * CALLS
        assert rows > batches  # some batches held several requests, REST and gRPC alike
    finally:
        server.stop()


class GrpcLoad(ClientThreads):
    """`clients` threads calling Predict in a loop; retries UNAVAILABLE (a worker that went
    away) the way a TF Serving client with a retry policy would. Answers: (outcome, version)."""

    def __init__(self, target: str, clients: int = 8, retries: int = 10):
        super().__init__(self._run, (), clients)
        self.retried, self._target, self._retries = 0, target, retries

    def _run(self) -> None:
        with grpc.insecure_channel(self._target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                for attempt in range(self._retries + 1):
                    try:
                        reply = grpc_predict(stub, "hpt", np.array([[1.0]], np.float32), 10)
                        ok = list(reply.outputs["y"].float_val) == [2.5]
                        self.answers.append(("ok" if ok else "wrong",
                                             reply.model_spec.version.value))
                        break
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == self._retries:
                            self.answers.append((exc.code().name, None))
                            break
                        self.retried += 1
                        time.sleep(0.05)

    def failures(self) -> list:
        return [a for a in self.answers if a[0] != "ok"]


def test_a_version_hot_swapped_under_grpc_load_fails_no_call(tmp_path):
    base = tmp_path / "hpt"
    copy_version("saved_model_half_plus_two_cpu", base, 1)
    config = write_config(tmp_path / "models.config", {"hpt": base})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--file_system_poll_wait_seconds=0.5")
    try:
        with GrpcLoad(server.grpc_target) as load:
            wait_until(lambda: len(load.answers) > 50, 30, "calls before the swap")
            copy_version("saved_model_half_plus_two_cpu", base, 2)
            wait_until(lambda: any(v == 2 for _, v in list(load.answers)), 60, "version 2")
            first = next(i for i, (_, v) in enumerate(list(load.answers)) if v == 2)
            wait_until(lambda: len(load.answers) > first + 200, 60, "calls after the swap")
        print(f"\nhot swap under gRPC load: {len(load.answers)} calls, "
              f"{len(load.failures())} failed")
        assert load.failures() == []
    finally:
        server.stop()


def test_a_worker_killed_under_grpc_load_loses_nothing_for_clients_that_retry(tmp_path):
    copy_version("saved_model_half_plus_two_cpu", tmp_path / "hpt", 1)
    config = write_config(tmp_path / "models.config", {"hpt": tmp_path / "hpt"})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2")
    try:
        with GrpcLoad(server.grpc_target) as load:
            wait_until(lambda: len(load.answers) > 100, 30, "calls before the kill")
            os.kill(worker_pids(server)[0], signal.SIGKILL)
            seen = len(load.answers)
            wait_until(lambda: len(load.answers) > seen + 300, 60, "calls after the kill")
        print(f"\nworker killed under gRPC load: {len(load.answers)} calls, "
              f"{load.retried} retried, {len(load.failures())} lost")
        assert load.failures() == []
    finally:
        server.stop()


def test_one_worker_batches_as_many_grpc_calls_at_once_as_it_has_rest_threads(tmp_path):
    """Each gRPC call holds its thread while it waits for its batch, so the call threads cap
    the batch. With --threads above TF Serving's 4 per CPU, a worker has that many call
    threads: while one slow run holds the batcher, the other calls queue up and then meet in
    one batch larger than 4 per CPU allows (a tiny model alone answers calls as they come)."""
    floor = 4 * (os.cpu_count() or 1)               # TF Serving's call threads
    bound = 1 << (floor - 1).bit_length()            # a histogram bucket at or above it
    threads = 2 * bound
    export_slow_model(tmp_path / "slow" / "1")       # sleeps max(x) ms, answers 2x
    config = write_config(tmp_path / "models.config", {"slow": tmp_path / "slow"})
    params = tmp_path / "batching.txt"
    params.write_text(f"max_batch_size {{ value: {threads} }} "
                      "batch_timeout_micros { value: 1000000 } num_batch_threads { value: 1 }")
    server = ServerProcess(f"--model_config_file={config}", "--workers=1",
                           f"--threads={threads}", "--enable_batching",
                           f"--batching_parameters_file={params}")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            values = [1500.0] + [float(v) for v in range(threads - 1)]  # the first: 1.5 s
            with ThreadPoolExecutor(threads) as pool:
                slow = pool.submit(grpc_predict, stub, "slow", np.array([[values[0]]], np.float32))
                time.sleep(0.5)  # it holds the batcher's one slot; the rest queue behind it
                rest = list(pool.map(lambda v: grpc_predict(
                    stub, "slow", np.array([[v]], np.float32)), values[1:]))
                answers = [slow.result(), *rest]
        assert [list(a.outputs["y"].float_val) for a in answers] == [[2 * v] for v in values]
        page = requests.get(server.url + "/monitoring/prometheus/metrics", timeout=10).text
        samples = [s for family in text_string_to_metric_families(page) for s in family.samples
                   if s.labels.get("model") == "slow"]
        within = sum(s.value for s in samples if s.name == "serving_batch_size_bucket"
                     and float(s.labels["le"]) == bound)
        batches = sum(s.value for s in samples if s.name == "serving_batch_size_count")
        assert batches > within, (batches, within)  # a batch of more than `bound` calls
    finally:
        server.stop()
