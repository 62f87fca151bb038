"""Time to refusal of ~50 MB JSON bodies past max_instances (100,000) through the real server
(gunicorn, one worker, loopback), optionally beside another checkout of the server.

    python3 bench/refusal.py [OTHER_TREE]    # e.g. a copy without api/codec/rows.py

Each body is sent three times to each server in turn (so both see the same load); prints the
best and median milliseconds and the answer. The last two bodies are for scale: a 400 and a
200 of the same size (what receiving 50 MB costs at all).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.helpers import ServerProcess, copy_model, write_config  # noqa: E402

SIZE = 50 * 1024 * 1024


def fill(head: bytes, item: bytes, tail: bytes) -> bytes:
    count = (SIZE - len(head) - len(tail)) // (len(item) + 1)
    return head + b",".join([item] * count) + tail


BODIES = {  # half_plus_two's input is float [-1, 1]
    "rows [[1.0], ...] (dense path)": ("predict", fill(b'{"instances": [', b"[1.0]", b"]}")),
    "instances [1.0, ...] (general path)": ("predict", fill(b'{"instances": [', b"1.0", b"]}")),
    "instances of objects": ("predict", fill(b'{"instances": [', b'{"x": 1.0}', b"]}")),
    "inputs by name": ("predict", fill(b'{"inputs": {"x": [', b"1.0", b"]}}")),
    "examples to classify": ("classify", fill(b'{"examples": [', b'{"x": 1.0}', b"]}")),
    "examples to regress": ("regress", fill(b'{"examples": [', b'{"x": 1.0}', b"]}")),
    "invalid JSON (400)": ("predict", b"{" + b" " * SIZE),
    "one instance + blanks (200)": ("predict", b'{"instances": [1.0]}' + b" " * SIZE),
}


def main() -> None:
    trees = {"this": ROOT, **({"other": Path(sys.argv[1])} if len(sys.argv) > 1 else {})}
    with tempfile.TemporaryDirectory() as base:
        config = write_config(Path(base) / "models.config", {"half_plus_two": copy_model(
            "saved_model_half_plus_two_cpu", Path(base) / "half_plus_two")})
        servers = {name: ServerProcess(f"--model_config_file={config}", "--workers=1", cwd=tree,
                                       command=[sys.executable, str(tree / "app.py")])
                   for name, tree in trees.items()}
        try:
            session = requests.Session()
            for what, (verb, body) in BODIES.items():
                times = {name: [] for name in servers}
                for _ in range(3):
                    for name, server in servers.items():
                        start = time.perf_counter()
                        reply = session.post(f"{server.url}/v1/models/half_plus_two:{verb}",
                                             data=body, timeout=300)
                        times[name].append(time.perf_counter() - start)
                print(f"{what:36s} " + "  ".join(
                    f"{name} {min(t) * 1000:5.0f} / {sorted(t)[1] * 1000:5.0f} ms"
                    for name, t in times.items()) + f"  {reply.status_code} {reply.text[:60]}",
                    flush=True)
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
