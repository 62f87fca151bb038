"""gRPC's limits and access control through the real server: TLS and mutual TLS from TF
Serving's SSLConfig file, the API token in `authorization` metadata, config reloads only with
the admin token, REST's size limits, and the client's deadline."""
from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.e2e.test_grpc import X, predict_request
from tests.support.certificates import make_authority, ssl_config_text
from tests.support.helpers import ServerProcess, copy_model, wait_until, write_config
from tests.support.slow_model import export_slow_model

pytestmark = pytest.mark.e2e
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    base = tmp_path_factory.mktemp("grpc-security")
    model = copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")
    return write_config(base / "models.config", {"half_plus_two": model})


def predict(channel, **kwargs):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict(predict_request("half_plus_two", {"x": X}), timeout=10, **kwargs)


# -- TLS ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def authority():
    return make_authority()


@pytest.mark.parametrize("client_verify", [False, True], ids=["TLS", "mutual TLS"])
def test_tls_from_tf_servings_ssl_config(config, authority, tmp_path, client_verify):
    ca, server_pem, client_pem = authority
    ssl_file = tmp_path / "ssl.config"
    ssl_file.write_text(ssl_config_text(server_pem, ca if client_verify else None, client_verify))
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           f"--ssl_config_file={ssl_file}")
    try:
        with_cert = grpc.ssl_channel_credentials(ca.cert, client_pem.key, client_pem.cert)
        without_cert = grpc.ssl_channel_credentials(ca.cert)
        with grpc.secure_channel(server.grpc_target, with_cert) as channel:
            assert list(predict(channel).outputs["y"].float_val) == [2.5, 3.0]
        with grpc.secure_channel(server.grpc_target, without_cert) as channel:
            if client_verify:  # a client without a certificate is refused
                with pytest.raises(grpc.RpcError) as refused:
                    predict(channel)
                assert refused.value.code() == Code.UNAVAILABLE
            else:
                assert list(predict(channel).outputs["y"].float_val) == [2.5, 3.0]
        with grpc.insecure_channel(server.grpc_target) as channel:  # plaintext: no answer
            with pytest.raises(grpc.RpcError) as plain:
                predict(channel)
            assert plain.value.code() == Code.UNAVAILABLE
    finally:
        server.stop()


def test_a_bad_ssl_config_stops_the_start_with_the_problem_named(config, tmp_path):
    import subprocess
    import sys

    from tests.support.helpers import ROOT
    bad = tmp_path / "ssl.config"
    bad.write_text('server_key: "x"\nclient_verify: true\n')
    run = subprocess.run([sys.executable, "app.py", f"--model_config_file={config}",
                          f"--ssl_config_file={bad}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "server_key and server_cert are required" in run.stderr


# -- tokens ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--api_token=api-1,api-2", "--admin_token=admin-1",
                           "--enable_grpc_healthcheck_service", "--max_request_bytes=65536",
                           "--max_tensor_elements=1000")
    yield server
    server.stop()


def test_the_api_token_is_needed_in_the_authorization_metadata(guarded):
    with grpc.insecure_channel(guarded.grpc_target) as channel:
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                predict(channel, metadata=metadata)
            assert refused.value.code() == Code.UNAUTHENTICATED
        for token in ("api-1", "api-2"):
            answer = predict(channel, metadata=(("authorization", f"Bearer {token}"),))
            assert list(answer.outputs["y"].float_val) == [2.5, 3.0]
        health = health_pb2_grpc.HealthStub(channel)  # probes need no token
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING


def reload_request(models: dict) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    for name, base in models.items():
        request.config.model_config_list.config.add(name=name, base_path=str(base),
                                                    model_platform="tensorflow")
    return request


def test_reloading_the_config_needs_the_admin_token(guarded, config):
    request = reload_request({"half_plus_two": config.parent / "half_plus_two"})
    with grpc.insecure_channel(guarded.grpc_target) as channel:
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer api-1"),)):
            with pytest.raises(grpc.RpcError) as refused:
                models.HandleReloadConfigRequest(request, timeout=30, metadata=metadata)
            assert refused.value.code() == Code.UNAUTHENTICATED


def test_a_message_past_max_request_bytes_or_a_tensor_past_its_limit_is_resource_exhausted(
        guarded):
    token = (("authorization", "Bearer api-1"),)
    with grpc.insecure_channel(guarded.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for size, words in ((100_000, "larger than max"), (5_000, "max_tensor_elements")):
            request = predict_request("half_plus_two", {"x": np.ones((size, 1), np.float32)})
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(request, timeout=30, metadata=token)
            assert refused.value.code() == Code.RESOURCE_EXHAUSTED
            assert words in refused.value.details()


# -- reload ------------------------------------------------------------------------------------
def test_a_reloaded_config_replaces_the_models_in_every_worker(tmp_path):
    first = copy_model("saved_model_half_plus_two_cpu", tmp_path / "first")
    second = copy_model("saved_model_half_plus_three", tmp_path / "second")
    broken = copy_model("bad_half_plus_two", tmp_path / "broken")
    config = write_config(tmp_path / "models.config", {"first": first})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           "--admin_token=admin-1")
    admin = (("authorization", "Bearer admin-1"),)
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel)
            reply = models.HandleReloadConfigRequest(reload_request({"second": second}),
                                                     timeout=60, metadata=admin)
            assert reply.status.error_code == 0
            for request, code, message in [
                    (reload_request({"a": "relative/path"}), Code.INVALID_ARGUMENT,
                     "Expected model a to have an absolute path or URI; got "
                     "base_path()=relative/path"),
                    (reload_request({"broken": broken}), Code.UNKNOWN,
                     "1 model(s) did not become available: {{{name: broken version: 123} due "
                     "to error: ")]:
                with pytest.raises(grpc.RpcError) as refused:
                    models.HandleReloadConfigRequest(request, timeout=60, metadata=admin)
                assert refused.value.code() == code
                assert refused.value.details().startswith(message)
            models.HandleReloadConfigRequest(reload_request({"second": second}), timeout=60,
                                             metadata=admin)

        def every_worker_serves_second() -> bool:
            seen = {frozenset(m["name"] for m in requests.get(
                server.url + "/v1/models", headers={"Connection": "close"},
                timeout=10).json()["models"]) for _ in range(20)}
            return seen == {frozenset({"second"})}
        wait_until(every_worker_serves_second, 30, "both workers to serve the new config")
        # where every worker reads it; the operator's own file is left as it was
        assert 'name: "second"' in config.with_name("models.config.reloaded").read_text()
        assert 'name: "first"' in config.read_text()
    finally:
        server.stop()


# -- deadlines ---------------------------------------------------------------------------------
def test_the_clients_deadline_is_honoured(tmp_path):
    export_slow_model(tmp_path / "slow" / "1")
    config = write_config(tmp_path / "models.config", {"slow": tmp_path / "slow"})
    server = ServerProcess(f"--model_config_file={config}", "--workers=1")
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            slow = predict_request("slow", {"x": np.array([[1500.0]], np.float32)})
            with pytest.raises(grpc.RpcError) as late:
                stub.Predict(slow, timeout=0.3)
            assert late.value.code() == Code.DEADLINE_EXCEEDED
            quick = predict_request("slow", {"x": tf.constant([[1.0]])})
            assert list(stub.Predict(quick, timeout=30).outputs["y"].float_val) == [2.0]
    finally:
        server.stop()
