"""Slow clients cannot hold the workers behind the shipped nginx config: nginx takes whole
request bodies itself (proxy_request_buffering on, client_body_timeout) before it calls
gunicorn, whose threads would otherwise each wait on one trickling client."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.support.helpers import ROOT, TEST_MODELS, ServerProcess
from tests.support.nginx_helpers import NginxProcess

THREADS = 2
STALLED = 4 * THREADS


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    server = ServerProcess("--model_name=hpt", f"--threads={THREADS}",
                           f"--model_base_path={TEST_MODELS / 'saved_model_half_plus_two_cpu'}",
                           ready_path="/readyz")
    nginx = NginxProcess(tmp_path_factory.mktemp("nginx"), [f"127.0.0.1:{server.port}"],
                         ROOT / "static")
    yield server, nginx
    nginx.stop()
    server.stop()


def stall(port: int, partial: bytes) -> socket.socket:
    """A client that sends the start of a request, then nothing (kept open by the caller)."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(partial)
    return client


@pytest.mark.parametrize("partial", [
    b"POST /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    b"POST /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\nContent-Le"],
    ids=["body trickling", "headers trickling"])
def test_stalled_clients_beyond_the_worker_threads_do_not_delay_others(proxied, partial):
    _, nginx = proxied
    stalled = [stall(nginx.port, partial) for _ in range(STALLED)]
    try:
        time.sleep(0.5)
        started = time.monotonic()
        reply = requests.post(nginx.url + "/v1/models/hpt:predict", json={"instances": [1.0]},
                              timeout=10)
        assert reply.json() == {"predictions": [2.5]}
        took = time.monotonic() - started
        print(f"\n{STALLED} stalled clients, {THREADS} gunicorn threads: answered in "
              f"{took * 1000:.0f} ms through nginx")
        assert took < 2.0
    finally:
        for client in stalled:
            client.close()
