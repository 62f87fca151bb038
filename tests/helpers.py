"""Test helpers: peer models copied to temporary base paths, and a real server process."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
PEER_MODELS = SHARED / "peer-models" / "tfserving-testdata"


def peer_model(name: str) -> Path:
    path = PEER_MODELS / name
    if not path.is_dir():
        raise FileNotFoundError(f"peer model {path} is missing: ../shared/ must sit beside the checkout")
    return path


def copy_model(name: str, dest: Path, versions: list[str] | None = None) -> Path:
    """Copy a peer model (or only some of its version dirs) to dest; returns dest (writable)."""
    source = peer_model(name)
    dest.mkdir(parents=True, exist_ok=True)
    for child in sorted(source.iterdir()):
        if versions is None or child.name in versions:
            shutil.copytree(child, dest / child.name, copy_function=shutil.copy)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    dest.chmod(0o755)
    return dest


def write_config(path: Path, models: dict[str, Path], extra: str = "") -> Path:
    """A model_config_list file serving `models` ({name: base_path})."""
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{base}"\n'
        f'    model_platform: "tensorflow"\n{extra}  }}\n' for name, base in models.items())
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path


def wait_until(check, timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll `check()` every 0.1 s until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python app.py FLAGS` (gunicorn, real HTTP) on a loopback port (a free one unless
    given); returns once `ready_path` answers, or at once when it is None."""

    def __init__(self, *flags: str, env: dict | None = None, ready_path: str | None = "/v1/models",
                 timeout: float = 120.0, cwd: Path = ROOT, command: list[str] | None = None,
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        handle, name = tempfile.mkstemp(prefix=f"server-{self.port}-", suffix=".log")
        self.log_path, self._log = Path(name), os.fdopen(handle, "wb")  # own file per server
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        argv = command or [sys.executable, str(ROOT / "app.py")]
        self.process = subprocess.Popen(
            [*argv, f"--rest_api_port={self.port}", "--rest_api_host=127.0.0.1", *flags],
            cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        if ready_path is not None:
            self._wait_ready(ready_path, timeout)

    def _wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + path, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def get(self, path: str, **kwargs):
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return requests.post(self.url + path, json=json, timeout=30, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def copy_version(peer: str, base: Path, version: int) -> Path:
    """Copy a peer model's (only) version directory into base/<version>, file by file as
    `cp -r` does (so a poll may see it half-copied): a new version appears."""
    (source,) = [p for p in peer_model(peer).iterdir() if p.name.isdigit()]
    dest = base / str(version)
    shutil.copytree(source, dest, copy_function=shutil.copy)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


class Load:
    """`clients` threads sending one request each in a loop until stopped; keeps every answer.

    Each answer is (start, end, HTTP status, X-Model-Version header or None, JSON or text).
    """

    def __init__(self, url: str, body: dict, clients: int = 8):
        import threading
        self.answers: list[tuple] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(url, body), daemon=True)
                         for _ in range(clients)]

    def _client(self, url: str, body: dict) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                start = time.monotonic()
                try:
                    reply = session.post(url, json=body, timeout=30)
                    answer = (reply.status_code, reply.headers.get("X-Model-Version"),
                              reply.json() if reply.ok else reply.text)
                except requests.RequestException as exc:
                    answer = (0, None, repr(exc))
                self.answers.append((start, time.monotonic(), *answer))

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def failures(self) -> list[tuple]:
        return [a for a in self.answers if a[2] != 200]

    def wait_for(self, predicate, timeout: float) -> float:
        """Seconds until an answer satisfying predicate(answer) arrives; raises on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if any(predicate(a) for a in list(self.answers)):
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"no matching answer within {timeout}s; last: {self.answers[-3:]}")
