"""A real Prometheus (Debian's package; scripts/test.sh installs it) on loopback, scraping
one target every second as our own foreground process, and its instant-query API."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests
import yaml

from tests.support.helpers import free_port


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError("prometheus is not installed: run scripts/test.sh (it apt-installs "
                           "prometheus) or `apt-get install -y prometheus`")
    return found


class PrometheusProcess:
    """Scrapes `target` (host:port) at `metrics_path` every second, giving its series the
    `labels` a Kubernetes pod scrape job would (namespace, pod)."""

    def __init__(self, workdir: Path, target: str, metrics_path: str, labels: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "model-server", "metrics_path": metrics_path,
                                "static_configs": [{"targets": [target], "labels": labels}]}]}))
        self.log_path = workdir / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [prometheus_binary(), f"--config.file={config}",
             f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log()}")
            try:
                if requests.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def query(self, promql: str) -> list[tuple[dict, float]]:
        """An instant query's vector: (labels, value) per series."""
        reply = requests.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10)
        body = reply.json()
        assert body["status"] == "success", body
        return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
