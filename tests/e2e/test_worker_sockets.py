"""gunicorn workers each listen on their own socket, and only once their models are loaded.

With one shared socket the first idle worker took every keep-alive connection; with
SO_REUSEPORT sockets opened at fork, connections the kernel gave a still-loading worker waited
for the whole load. Both are checked through `python app.py` with two workers.
"""
from __future__ import annotations

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.helpers import ServerProcess, copy_model, write_config
from tests.support.workers import listen_queues, worker_pids


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path / "models.config", {
        "half_plus_two": copy_model("saved_model_half_plus_two_cpu", tmp_path / "m")})


def listeners(port: int) -> int:
    """Sockets listening on the port: one per worker that is serving."""
    return len(listen_queues(port))


def answered(port: int, seconds: float) -> bool | None:
    """None: connection refused; else whether a request on a new connection got an answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=seconds) as conn:
            conn.settimeout(seconds)
            conn.sendall(b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            return conn.recv(16).startswith(b"HTTP/1.1")
    except ConnectionRefusedError:
        return None
    except OSError:
        return False  # accepted, then nothing within `seconds`: a worker still loading


def test_no_connection_waits_on_a_worker_that_is_still_loading(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=2", ready_path=None)
    port = server.port
    try:
        outcomes, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline and listeners(port) < 2:
            outcomes.append(answered(port, 3.0))
        assert listeners(port) == 2, "both workers should be listening by now"
        outcomes += [answered(port, 3.0) for _ in range(20)]
        assert False not in outcomes  # refused while loading, answered once listening
    finally:
        server.stop()


def test_keep_alive_connections_are_spread_over_the_workers(config):
    server = ServerProcess(f"--model_config_file={config}", "--workers=2")
    sessions = [requests.Session() for _ in range(32)]
    try:
        deadline = time.monotonic() + 60
        while listeners(server.port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # readiness came from the first worker; wait for the second
        assert listeners(server.port) == 2  # a socket of its own per worker

        def predict(session):
            return session.post(server.url + "/v1/models/half_plus_two:predict",
                                json={"instances": [[1.0]]}, timeout=30).json()

        with ThreadPoolExecutor(32) as pool:  # 32 connections, kept open by their sessions
            assert list(pool.map(predict, sessions)) == [{"predictions": [[2.5]]}] * 32
        workers = worker_pids(server)
        held = {pid: sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
                         if _link(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
                for pid in workers}
        assert len(held) == 2 and min(held.values()) > 4, held  # not all 32 on one worker
    finally:
        for session in sessions:
            session.close()
        server.stop()


def _link(path: str) -> str:
    """What an fd points at; "" for one the worker closed since the listing."""
    try:
        return os.readlink(path)
    except FileNotFoundError:
        return ""


def test_a_second_server_on_a_taken_port_refuses_to_start(config):
    """SO_REUSEPORT would let it join the port and take half the first server's traffic."""
    first = ServerProcess(f"--model_config_file={config}", "--workers=1")
    try:
        second = ServerProcess(f"--model_config_file={config}", "--workers=1",
                               port=first.port, ready_path=None)
        second.process.wait(120)
        assert second.stop() != 0
        assert f"Cannot listen on 127.0.0.1:{first.port}" in second.log()
        assert listeners(first.port) == 1
        answer = first.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
        assert answer.json() == {"predictions": [2.5]}
    finally:
        first.stop()
