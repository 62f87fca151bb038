"""Loopback consumers for the server's observability outputs: an OTLP/HTTP trace receiver
that decodes what it gets with OpenTelemetry's own protobuf classes, a CloudEvents sink that
keeps each event's headers and body as sent, and the JSON access-log lines."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Receiver:
    """An http.server on 127.0.0.1 that keeps every POST (`handle(headers, body)`)."""

    def __init__(self):
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.handle({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, headers: dict, body: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OtlpReceiver(_Receiver):
    """POST /v1/traces: ExportTraceServiceRequest (protobuf), kept as a flat list of spans."""

    def __init__(self):
        self.spans: list = []
        self.paths: list[str] = []
        super().__init__()

    def handle(self, headers, body):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.extend(scope.spans)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.spans)


class EventSink(_Receiver):
    """Every CloudEvent posted in binary content mode: (its ce-* and content-type headers,
    its body)."""

    def __init__(self):
        self.events: list[tuple[dict, bytes]] = []
        super().__init__()

    def handle(self, headers, body):
        with self.lock:
            self.events.append((headers, body))

    def snapshot(self) -> list[tuple[dict, bytes]]:
        with self.lock:
            return list(self.events)


def access_lines(text: str) -> list[dict]:
    """The JSON access-log lines in a server's output (other lines are gunicorn's log)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{") and '"protocol"' in line:
            found.append(json.loads(line))
    return found


def attributes(span) -> dict:
    """A decoded span's (or link's) attributes as a plain dict."""
    values = {}
    for item in span.attributes:
        value = item.value
        values[item.key] = getattr(value, value.WhichOneof("value"))
    return values
