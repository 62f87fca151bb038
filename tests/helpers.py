"""Test helpers: peer models copied to temporary base paths, and a real server process."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python app.py FLAGS` (gunicorn, real HTTP) on a free loopback port."""

    def __init__(self, *flags: str, env: dict | None = None, ready_path: str = "/v1/models",
                 timeout: float = 120.0, cwd: Path = ROOT, command: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        argv = command or [sys.executable, str(ROOT / "app.py")]
        self.process = subprocess.Popen(
            [*argv, f"--rest_api_port={self.port}", "--rest_api_host=127.0.0.1", *flags],
            cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
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
