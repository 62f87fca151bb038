"""Test helpers: the project's test models copied to temporary base paths, and a real server."""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
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

ROOT = Path(__file__).resolve().parents[2]
MODEL_SCRIPT = ROOT / "scripts" / "make_test_models.py"


def _models_key() -> str:
    """Changes with the script and the TensorFlow that runs it: then the models are rebuilt."""
    digest = hashlib.sha256(MODEL_SCRIPT.read_bytes())
    digest.update(importlib.metadata.version("tensorflow").encode())
    return digest.hexdigest()[:12]


# Built once per machine by scripts/make_test_models.py (tests/conftest.py asks for it at the
# start of the session), in TF Serving's layout: TEST_MODELS/<name>/<version>/.
TEST_MODELS = Path(tempfile.gettempdir()) / f"tf-flask-serving-test-models-{_models_key()}"


def build_test_models() -> Path:
    """TEST_MODELS, built now unless a complete copy is there (one builder at a time)."""
    done = TEST_MODELS / ".complete"
    if done.exists():
        return TEST_MODELS
    with open(f"{TEST_MODELS}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            partial = Path(tempfile.mkdtemp(prefix=TEST_MODELS.name + ".", dir=TEST_MODELS.parent))
            run = subprocess.run([sys.executable, str(MODEL_SCRIPT), str(partial)], cwd=ROOT,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                 capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"scripts/make_test_models.py failed:\n{run.stderr[-4000:]}")
            (partial / ".complete").touch()
            shutil.rmtree(TEST_MODELS, ignore_errors=True)
            partial.rename(TEST_MODELS)
    return TEST_MODELS


def model_source(name: str) -> Path:
    """The built test model `name` (a base path holding its version directories)."""
    path = build_test_models() / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: scripts/make_test_models.py builds no model {name!r}")
    return path


def copy_model(name: str, dest: Path, versions: list[str] | None = None) -> Path:
    """Copy a test model (or only some of its version dirs) to dest; returns dest (writable)."""
    source = model_source(name)
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


def half_plus_two_config(base: Path) -> Path:
    """`base`/models.config serving a writable copy of TF Serving's half_plus_two (CPU)."""
    model = copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")
    return write_config(base / "models.config", {"half_plus_two": model})


def eventually(check, timeout: float = 10.0, every: float = 0.05) -> bool:
    """Whether `check()` became true within `timeout` seconds (a bounded wait for another
    thread or process to reach a state, never a timing assumption)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def wait_until(check, timeout: float = 30.0, what: str = "the condition") -> None:
    """`eventually`, failing the test after `timeout` seconds."""
    if not eventually(check, timeout, 0.1):
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python app.py FLAGS` (gunicorn, real HTTP) on a loopback port (a free one unless
    given); returns once `ready_path` answers, or at once when it is None."""

    def __init__(self, *extra: str, env: dict | None = None, ready_path: str | None = "/v1/models",
                 timeout: float = 120.0, cwd: Path = ROOT, command: list[str] | None = None,
                 port: int | None = None, port_flags: bool = True):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # gRPC on a free port of its own (8500 is the shipped default; servers run side by side)
        given = [arg for arg in extra if arg.startswith("--port=")]
        self.grpc_port = int(given[-1].split("=", 1)[1]) if given else free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        handle, name = tempfile.mkstemp(prefix=f"server-{self.port}-", suffix=".log")
        self.log_path, self._log = Path(name), os.fdopen(handle, "wb")  # own file per server
        # The shipped default (TensorFlow's start-up noise filtered) unless a test asks.
        inherited = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        full_env = {**inherited, **(env or {})}
        argv = command or [sys.executable, str(ROOT / "app.py")]
        # app.py and our gunicorn config log "Ready in" once every worker is ready.
        self.own_server = command is None or any(
            "app.py" in arg or "gunicorn.conf.py" in arg for arg in argv)
        flags = [f"--rest_api_port={self.port}", "--rest_api_host=127.0.0.1",
                 f"--port={self.grpc_port}"] if port_flags else []
        if not port_flags:
            full_env.setdefault("GRPC_PORT", str(self.grpc_port))
        self.process = subprocess.Popen(
            [*argv, *flags, *extra],
            cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        if ready_path is not None:
            self._wait_ready(ready_path, timeout)

    def _wait_ready(self, path: str, timeout: float) -> None:
        """Until `path` answers and, for app.py, the log's "Ready" line says every worker is."""
        deadline = time.monotonic() + timeout
        answered = False
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                answered = answered or requests.get(self.url + path, timeout=2).status_code < 500
            except requests.RequestException:
                pass
            if answered and (not self.own_server or "] Ready in " in self.log_path.read_text(
                    errors="replace")):
                return
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


def copy_version(name: str, base: Path, version: int) -> Path:
    """Copy a test model's (only) version directory into base/<version>, file by file as
    `cp -r` does (so a poll may see it half-copied): a new version appears."""
    (source,) = [p for p in model_source(name).iterdir() if p.name.isdigit()]
    dest = base / str(version)
    shutil.copytree(source, dest, copy_function=shutil.copy)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


class ClientThreads:
    """`clients` threads running `target` until stopped (a `with` block), each appending
    to `answers`: the frame of the load drivers below and in the gRPC load tests."""

    def __init__(self, target, args: tuple = (), clients: int = 8):
        import threading
        self.answers: list[tuple] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=target, args=args, daemon=True)
                         for _ in range(clients)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


class Load(ClientThreads):
    """`clients` threads sending one request each in a loop until stopped; keeps every answer.

    Each answer is (start, end, HTTP status, X-Model-Version header or None, JSON or text).
    """

    def __init__(self, url: str, body: dict, clients: int = 8):
        super().__init__(self._client, (url, body), clients)

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

    def failures(self) -> list[tuple]:
        return [a for a in self.answers if a[2] != 200]

    def wait_for(self, predicate, timeout: float) -> float:
        """Seconds until an answer satisfying predicate(answer) arrives; raises on timeout."""
        return self.wait_for_count(predicate, 1, timeout)

    def wait_for_count(self, predicate, count: int, timeout: float) -> float:
        """Seconds until `count` answers satisfy predicate(answer); raises on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if sum(1 for a in list(self.answers) if predicate(a)) >= count:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} matching answers within {timeout}s; "
                             f"last: {self.answers[-3:]}")
