"""Memory: what the server holds, per process and in all, against one bare TensorFlow process
holding the same model.

    python bench/memory.py                                # the shipped models, 1 and 2 workers
    python bench/memory.py --config $BENCH_DIR/mobilenet.config --workers 1,2

For each worker count it starts `app.py` on loopback, waits until every model answers, sends
one request per model signature it can fill (so sessions have run once), and reads
/proc/<pid>/smaps_rollup of the master and each worker: RSS (what `top` shows) and PSS (shared
pages split between the processes that map them; their sum is what the server costs the
machine). The bare process loads the same SavedModels with `tf.compat.v1.saved_model.loader`
in one Session each and runs them once: the floor any TensorFlow server pays.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rollup(pid: int) -> dict[str, int]:
    """RSS and PSS of one process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) // 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"]}


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def base_paths(config: Path) -> list[tuple[str, Path]]:
    """(name, newest version directory) of each model in a model_config_list file."""
    text = config.read_text()
    found = []
    for name, base in re.findall(r'name:\s*"([^"]+)"\s*base_path:\s*"([^"]+)"', text):
        base = Path(base) if Path(base).is_absolute() else (config.parent / base).resolve()
        versions = sorted((p for p in base.iterdir() if p.name.isdigit()),
                          key=lambda p: int(p.name))
        if versions and (versions[-1] / "saved_model.pb").exists():
            found.append((name, versions[-1]))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server(config: Path, workers: int, threads: int) -> dict:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), f"--model_config_file={config}",
         f"--rest_api_port={port}", "--rest_api_host=127.0.0.1", "--port=0",
         f"--workers={workers}", f"--threads={threads}", "--file_system_poll_wait_seconds=0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("server did not become ready")
                time.sleep(0.5)
        for name, _ in base_paths(config):
            for _ in range(4 * workers):  # reach every worker with each model's first run
                warm(port, name)
        time.sleep(1)
        workers_memory = [rollup(pid) for pid in children(process.pid)]
        master = rollup(process.pid)
        return {"workers": workers, "threads": threads, "master": master,
                "per_worker": workers_memory,
                "total_pss": master["pss"] + sum(w["pss"] for w in workers_memory)}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


def warm(port: int, name: str) -> None:
    """One predict with zeros shaped by the model's metadata, when its inputs are all
    numeric with a fixed inner shape (others stay loaded but not run)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{name}/metadata",
                                    timeout=10) as page:
            signatures = json.load(page)["metadata"]["signature_def"]["signature_def"]
        signature = signatures.get("serving_default")
        inputs = {}
        for alias, info in signature["inputs"].items():
            dims = [int(d["size"]) for d in info["tensor_shape"]["dim"]][1:]
            if info["dtype"] not in ("DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_INT64") \
                    or any(d < 0 for d in dims):
                return
            inputs[alias] = [_zeros(dims)]
        body = json.dumps({"inputs": inputs}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                                         data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return


def _zeros(dims):
    return [_zeros(dims[1:]) for _ in range(dims[0])] if dims else 0


BARE = textwrap.dedent("""
    import json, os, resource, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np
    import tensorflow as tf
    v1 = tf.compat.v1
    sessions = []
    for path in sys.argv[1:]:
        graph = tf.Graph()
        session = v1.Session(graph=graph, config=v1.ConfigProto(
            intra_op_parallelism_threads=1, inter_op_parallelism_threads=1))
        with graph.as_default():
            meta = v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta.signature_def.get("serving_default")
        feeds = {}
        for info in (signature.inputs.values() if signature else []):
            dims = [d.size for d in info.tensor_shape.dim]
            if any(d < 0 for d in dims[1:]) or info.dtype == tf.string.as_datatype_enum:
                feeds = None
                break
            feeds[info.name] = np.zeros([1, *dims[1:]],
                                        tf.dtypes.as_dtype(info.dtype).as_numpy_dtype)
        if feeds:
            session.run([o.name for o in signature.outputs.values()], feeds)
        sessions.append(session)
    fields = {}
    for line in open("/proc/self/smaps_rollup").read().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) // 1024
    print(json.dumps({"rss": fields["Rss"], "pss": fields["Pss"]}))
""")


def bare(config: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", BARE,
                          *[str(path) for _, path in base_paths(config)]],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "models" / "models.config"))
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    config = Path(args.config).resolve()
    names = [name for name, _ in base_paths(config)]
    every = re.findall(r'name:\s*"([^"]+)"', config.read_text())
    others = [name for name in every if name not in names]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {config} · SavedModels: {', '.join(names)}"
          + (f" (the server also loads {', '.join(others)}, which the bare process does not "
             "read)" if others else "") + "\n")
    print("| process | RSS MiB | PSS MiB |\n|---|---:|---:|")
    floor = bare(config)
    print(f"| bare TensorFlow process, same SavedModels | {floor['rss']} | {floor['pss']} |")
    for workers in (int(w) for w in args.workers.split(",")):
        found = server(config, workers, args.threads)
        print(f"| {workers} worker(s): master (no TensorFlow) | {found['master']['rss']} | "
              f"{found['master']['pss']} |")
        for index, worker in enumerate(found["per_worker"]):
            print(f"| {workers} worker(s): worker {index + 1} | {worker['rss']} | "
                  f"{worker['pss']} |")
        print(f"| {workers} worker(s): **whole server** (sum of PSS) | | "
              f"**{found['total_pss']}** |")


if __name__ == "__main__":
    main()
