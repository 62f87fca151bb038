"""The servers the benchmark compares, each started on loopback and stopped by its PID.

Every server gets the same SavedModels (../shared/bench/make_models.py) and the same
single-instance bodies. Triton speaks KServe-v2 (JSON, or its gRPC protos); ours speaks TF
Serving's API, or KServe-v2 too when a server's `api` is "oip" (the same bodies as Triton's,
to /v2 and ModelInfer). Over gRPC, ours and Triton are driven by h2load (bench/grpc_load.py).
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared")) / "bench"
TRITON_PORT, TRITON_GRPC_PORT = 8010, 8011  # fixed in the peer script


@dataclasses.dataclass
class Server:
    """One configuration under test: how to start it and where its predict URL is."""

    label: str
    kind: str                      # ours | naive | floor | triton
    flags: tuple[str, ...] = ()    # ours: app.py flags; naive: gunicorn flags
    env: dict = dataclasses.field(default_factory=dict)
    protocol: str = "rest"         # rest | grpc | image (ours: a JPEG to /v1/images)
    api: str = "tfs"               # ours: tfs (TF Serving's) | oip (KServe v2, as Triton)
    root: Path = ROOT              # ours: the checkout whose app.py runs (bench/ab.py --baseline)
    app: str = "floor_app:app"     # floor: the WSGI app gunicorn serves (bench/floor_app.py)

    def url(self, port: int, model: str, grpc_port: int = 0) -> str:
        """REST: the predict URL. gRPC: host:port (the method is the protocol's)."""
        if self.protocol == "grpc":
            return f"127.0.0.1:{TRITON_GRPC_PORT if self.kind == 'triton' else grpc_port}"
        if self.kind == "triton":
            return f"http://127.0.0.1:{TRITON_PORT}/v2/models/{model}/infer"
        if self.api == "oip":
            return f"http://127.0.0.1:{port}/v2/models/{model}/infer"
        if self.protocol == "image":
            return f"http://127.0.0.1:{port}/v1/images/{model}:classify"
        return f"http://127.0.0.1:{port}/v1/models/{model}:predict"

    def body(self, bench_dir: Path, model: str) -> Path:
        suffix = {("oip", "rest"): ".kserve.json", ("oip", "grpc"): ".triton.grpc"}.get(
            (self.speaks, self.protocol), {"grpc": ".grpc", "image": ".jpg"}.get(self.protocol,
                                                                              ".json"))
        return bench_dir / "bodies" / f"{model}_1{suffix}"

    @property
    def method(self) -> str:
        from grpc_load import PREDICT, TRITON_INFER
        return TRITON_INFER if self.speaks == "oip" else PREDICT

    @property
    def speaks(self) -> str:
        return "oip" if self.kind == "triton" else self.api

    def command(self, bench_dir: Path, port: int, model: str,
                grpc_port: int = 0) -> tuple[list[str], Path, dict]:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MODELS_DIR": str(bench_dir / "models"),
               **self.env}
        if self.kind == "ours":
            return ([sys.executable, str(self.root / "app.py"), f"--rest_api_port={port}",
                     "--rest_api_host=127.0.0.1",
                     f"--model_config_file={models_config(bench_dir, model)}",
                     f"--port={grpc_port}", "--file_system_poll_wait_seconds=0", *self.flags],
                    self.root, env)
        if self.kind == "floor":  # our gunicorn settings, file and all, around a bare app
            config = ROOT / "deploy" / "gunicorn.conf.py"
            env["PYTHONPATH"] = str(ROOT)  # the config reads serving.config.settings
            return ([sys.executable, "-m", "gunicorn", "-c", str(config), "-b",
                     f"127.0.0.1:{port}", self.app], ROOT / "bench", env)
        if self.kind == "naive":
            env.setdefault("GC_FREEZE", "1")  # its best configuration (RESULTS.md)
            return ([sys.executable, "-m", "gunicorn", "-k", "gthread", "-b", f"127.0.0.1:{port}",
                     "--timeout", "60", *self.flags, "naive_flask:app"],
                    SHARED_BENCH / "peers", env)
        python = bench_dir / "envs" / "pytriton" / "bin" / "python"
        env["LD_LIBRARY_PATH"] = os.path.join(sys.base_prefix, "lib")  # see RESULTS.md
        if model in ("mlp", "cnn"):
            return ([str(python), "pytriton_peer.py", model, "--ttl", "900"],
                    SHARED_BENCH / "peers", env)
        return [str(python), "triton_peer.py", model, "--ttl", "900"], ROOT / "bench", env


def triton_available(bench_dir: Path) -> bool:
    return (bench_dir / "envs" / "pytriton" / "bin" / "python").exists()


def models_config(bench_dir: Path, model: str) -> Path:
    """Our server serves only the model under test, as each peer does."""
    path = bench_dir / f"{model}.config"
    path.write_text(f'model_config_list {{\n  config {{ name: "{model}" base_path: '
                    f'"{bench_dir / "models" / model}" model_platform: "tensorflow" }}\n}}\n')
    return path


class Running:
    """A started server; `stop()` ends its whole process group (it was started in its own)."""

    def __init__(self, server: Server, bench_dir: Path, port: int, model: str, log: Path,
                 grpc_port: int = 0):
        argv, cwd, env = server.command(bench_dir, port, model, grpc_port)
        self.server, self.log = server, log
        self._log = open(log, "wb")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.url = server.url(port, model, grpc_port)
        self.metrics_url = f"http://127.0.0.1:{port}/monitoring/prometheus/metrics"
        self.body = server.body(bench_dir, model)
        self.content_type = "image/jpeg" if server.protocol == "image" else "application/json"

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Ready when one real predict request answers (models loaded, not just bound)."""
        deadline = time.monotonic() + timeout
        data = self.body.read_bytes()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log}")
            if self.server.protocol == "grpc":
                from grpc_load import check
                if check(self.url, self.server.method, self.body):
                    return
                time.sleep(0.3)
                continue
            try:
                request = urllib.request.Request(self.url, data=data,
                                                 headers={"Content-Type": self.content_type})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready after {timeout}s: see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of this server (its session: workers,
        Triton's own server and stub), read from /proc: what each request costs the machine,
        steadier than req/s when other work shares the cores."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that just ended
            if int(fields[3]) == self.process.pid:  # fields[3]: session id
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def grpc_failures(self) -> int:
        """gRPC calls our server answered with a status other than OK, so far (h2load sees
        only HTTP/2's 200, not the gRPC status in the trailers)."""
        if self.server.kind != "ours" or self.server.protocol != "grpc":
            return 0
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(self.metrics_url, timeout=10) as page:
            text = page.read().decode()
        return int(sum(s.value for family in text_string_to_metric_families(text)
                       for s in family.samples if s.name == "serving_requests_total"
                       and s.labels.get("entrypoint") == "GRPC"
                       and s.labels.get("status") != "OK"))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
