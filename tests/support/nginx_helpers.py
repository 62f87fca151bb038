"""nginx for tests: the shipped config rendered onto loopback ports and temporary paths, run in
the foreground as our own process (never the system service)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.support.helpers import ROOT, free_port

DEPLOY = ROOT / "deploy"


def nginx_binary() -> str:
    """nginx from PATH or /usr/sbin; scripts/test.sh installs the Debian package."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed: run scripts/test.sh (it apt-installs nginx) "
                           "or `apt-get install -y nginx`")
    return found


def render(source: Path, workdir: Path, port: int, upstreams: list[str] | None = None,
           static_dir: Path | None = None) -> Path:
    """The config at `source` with its pid, logs, temp files and listen port moved to
    `workdir`, and (optionally) its upstream servers and static directory replaced."""
    text = source.read_text()
    text = re.sub(r"^pid .*;$", f"pid {workdir}/nginx.pid;", text, flags=re.M)
    text = re.sub(r"^error_log .*;$", f"error_log {workdir}/error.log info;", text, flags=re.M)
    text = re.sub(r"access_log /var/log/nginx/\S+ ", f"access_log {workdir}/access.log ", text)
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = "".join(f"    {kind}_temp_path {workdir}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = text.replace("http {\n", "http {\n" + temp, 1)
    if upstreams is not None:
        start = text.index("upstream model_server {")
        end = text.index("}", start)
        block = re.sub(r"^ *server .*;\n", "", text[start:end], flags=re.M)
        servers = "".join(f"        server {address};\n" for address in upstreams)
        block = block.replace("        keepalive ", servers + "        keepalive ", 1)
        text = text[:start] + block + text[end:]
    if static_dir is not None:
        text = text.replace("/srv/model-server/static/", f"{static_dir}/")
    if os.geteuid() == 0:
        text = "user root;\n" + text  # workers may then read the test's private tmp dirs
    path = workdir / source.name
    path.write_text(text)
    return path


def check(config: Path, workdir: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a rendered config."""
    return subprocess.run([nginx_binary(), "-t", "-p", f"{workdir}/", "-e", f"{workdir}/error.log",
                           "-c", str(config)], capture_output=True, text=True, timeout=30)


class NginxProcess:
    """nginx -g 'daemon off;' on a rendered copy of deploy/nginx.conf."""

    def __init__(self, workdir: Path, upstreams: list[str], static_dir: Path,
                 source: Path = DEPLOY / "nginx.conf"):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = render(source, workdir, self.port, upstreams, static_dir)
        self.process = subprocess.Popen(
            [nginx_binary(), "-p", f"{workdir}/", "-e", f"{workdir}/error.log", "-c",
             str(self.config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n"
                                   f"{self.error_log()}")
            try:
                requests.get(self.url + "/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.workdir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
