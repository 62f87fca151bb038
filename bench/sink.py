"""A do-nothing HTTP sink for measuring traces and the request log: answers every POST 200
(an OTLP/HTTP collector's and a CloudEvents sink's stand-in), counting what it got.

    python3 bench/sink.py [PORT]      # 4319 by default, as bench/run.py's ours-trace and
                                      # ours-reqlog servers expect
"""
from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 4319


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive, as a collector is
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else PORT
    server = ThreadingHTTPServer(("127.0.0.1", port), Sink)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"{Sink.received} posts received")
