"""gRPC calls spread over workers and instances: connections age out (a long-lived channel
reconnects and lands on another worker, its calls in flight finishing first), a client's
round_robin spreads calls over a headless Service's addresses, and deploy/nginx-grpc.conf
balances each call, not each connection."""
from __future__ import annotations

import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.support import predict_requests
from tests.support.helpers import (
    ServerProcess,
    copy_model,
    eventually,
    free_port,
    wait_until,
    write_config,
)
from tests.support.nginx_helpers import DEPLOY, check, nginx_binary, render
from tests.support.observe_sinks import access_lines
from tests.support.slow_model import export_slow_model

pytestmark = pytest.mark.e2e
AGE_S = 2.0


def calls_by_pid(server) -> dict[int, int]:
    """Answered gRPC calls per worker pid, from the server's access log."""
    counts: dict[int, int] = {}
    for line in access_lines(server.log_path.read_text(errors="replace")):
        if line["protocol"] == "grpc":
            counts[line["pid"]] = counts.get(line["pid"], 0) + 1
    return counts


def calls(server) -> int:
    return sum(calls_by_pid(server).values())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("grpc-spread")
    export_slow_model(base / "slow" / "1")
    return write_config(base / "models.config", {
        "slow": base / "slow",
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")})


def serve_on(host: str, grpc_port: int, *flags: str) -> ServerProcess:
    """A one-worker server with REST and gRPC on `host` (any 127.x.y.z: Linux routes all of
    127/8 to the loopback interface)."""
    server = ServerProcess(*flags, "--workers=1", "--access_log=-", f"--rest_api_host={host}",
                           f"--port={grpc_port}", ready_path=None)
    server.url = f"http://{host}:{server.port}"
    wait_until(lambda: server.process.poll() is not None or "] Ready in " in
               server.log_path.read_text(errors="replace"), 120, f"a server on {host}")
    assert server.process.poll() is None, server.log()
    return server


@pytest.fixture(scope="module")
def servers(models):
    """`aged`: two workers whose connections live AGE_S; `pair`: one server on 127.0.0.1 and
    one on 127.0.0.2, on the same gRPC port, as a headless Service's two pods would be."""
    port = free_port()
    with ThreadPoolExecutor(3) as pool:
        aged = pool.submit(ServerProcess, f"--model_config_file={models}", "--workers=2",
                           "--access_log=-", f"--grpc_max_connection_age_seconds={AGE_S}",
                           "--grpc_max_connection_age_grace_seconds=5", ready_path="/readyz")
        pair = [pool.submit(serve_on, host, port, f"--model_config_file={models}")
                for host in ("127.0.0.1", "127.0.0.2")]
        started = SimpleNamespace(aged=aged.result(), pair=[p.result() for p in pair],
                                  grpc_port=port)
    yield started
    for server in (started.aged, *started.pair):
        server.stop()


def test_one_channels_calls_reach_both_workers_once_its_connection_ages_out(servers):
    before = calls_by_pid(servers.aged)
    with grpc.insecure_channel(servers.aged.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def both_workers_answered() -> bool:
            reply = stub.Predict(predict_requests.one_value("half_plus_two", 1.0), timeout=10)
            assert list(reply.outputs["y"].float_val) == [2.5]
            new = {pid for pid, n in calls_by_pid(servers.aged).items() if n > before.get(pid, 0)}
            return len(new) == 2
        # The kernel gives each new connection to either worker: after ~15 ages, both have.
        assert eventually(both_workers_answered, timeout=15 * AGE_S, every=0.1)


def test_calls_in_flight_finish_when_their_connection_ages_out(servers):
    """Four clients on one channel keep 0.4 s calls going for several connection ages."""
    failures, answered = [], []
    with grpc.insecure_channel(servers.aged.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def client(_):
            deadline = time.monotonic() + 3.5 * AGE_S
            while time.monotonic() < deadline:
                try:
                    reply = stub.Predict(predict_requests.one_value("slow", 400.0), timeout=30)
                    answered.append(list(reply.outputs["y"].float_val))
                except grpc.RpcError as error:
                    failures.append((error.code(), error.details()))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client, range(4)))
    assert failures == []
    assert len(answered) >= 4 * 3 and all(y == [800.0] for y in answered)


def pair_target(servers) -> str:
    return f"ipv4:127.0.0.1:{servers.grpc_port},127.0.0.2:{servers.grpc_port}"


def spread(servers, options, count: int = 12) -> list[int]:
    """Calls each server of the pair answered, of `count` on one channel."""
    before = [calls(server) for server in servers.pair]
    with grpc.insecure_channel(pair_target(servers), options=options) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(count):
            stub.Predict(predict_requests.one_value("half_plus_two", 1.0), timeout=10)
    wait_until(lambda: sum(calls(s) for s in servers.pair) - sum(before) == count, 10,
               "the access log lines")
    return [calls(server) - n for server, n in zip(servers.pair, before)]


def test_a_round_robin_channel_spreads_its_calls_over_every_address(servers):
    counts = spread(servers, [("grpc.lb_policy_name", "round_robin")])
    assert min(counts) >= 4, counts


def test_the_default_pick_first_channel_keeps_every_call_on_one_address(servers):
    assert sorted(spread(servers, [])) == [0, 12]


@pytest.fixture(scope="module")
def nginx(servers, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nginx-grpc")
    port = free_port()
    upstreams = [f"{host}:{servers.grpc_port}" for host in ("127.0.0.1", "127.0.0.2")]
    config = render(DEPLOY / "nginx-grpc.conf", workdir, port, upstreams)
    config.write_text(config.read_text().replace("listen 8500 http2;",
                                                 f"listen 127.0.0.1:{port} http2;"))
    assert check(config, workdir).returncode == 0, check(config, workdir).stderr
    process = subprocess.Popen([nginx_binary(), "-p", f"{workdir}/", "-e",
                                f"{workdir}/error.log", "-c", str(config), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    target = f"127.0.0.1:{port}"
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
    yield SimpleNamespace(target=target, workdir=workdir)
    process.send_signal(signal.SIGQUIT)
    process.wait(15)


def test_nginx_passes_each_call_of_one_connection_to_the_next_instance(servers, nginx):
    before = [calls(server) for server in servers.pair]
    with grpc.insecure_channel(nginx.target) as channel:   # one HTTP/2 connection to nginx
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for value in range(10):
            reply = stub.Predict(predict_requests.one_value("half_plus_two", float(value)), timeout=10)
            assert list(reply.outputs["y"].float_val) == [value / 2 + 2]
            assert reply.model_spec.version.value == 123
    wait_until(lambda: sum(calls(s) for s in servers.pair) - sum(before) == 10, 10,
               "the access log lines")
    counts = [calls(server) - n for server, n in zip(servers.pair, before)]
    assert min(counts) >= 4, counts
    # nginx logs a stream when it closes, which may be just after the client has its answer
    wait_until(lambda: len(re.findall(
        r'"POST /tensorflow.serving.PredictionService/Predict HTTP/2.0" 200 ',
        (nginx.workdir / "access.log").read_text())) == 10, 10, "nginx's ten access lines")
