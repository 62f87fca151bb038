"""Our server against Triton with Triton's own load generator, perf_analyzer, over KServe v2.

    python bench/oip_perf.py [--models mlp,cnn] [--modes http-json,http-binary,grpc]
                             [--concurrency 1,8,32,64] [--seconds 2] [--rounds 3]

Both servers serve the model under test side by side (ours: app.py with its defaults, REST
and gRPC; Triton: PyTriton with dynamic batching, `../shared/bench/peers/pytriton_peer.py` for
mlp and cnn, `bench/triton_peer.py` for mobilenet), started once per model. Each round then
runs perf_analyzer against one and then the other, in alternating order, for every mode and
concurrency: HTTP with JSON tensors (`--input/output-tensor-format json`), HTTP with binary
tensors (perf_analyzer's default), and gRPC (raw contents). perf_analyzer reads each server's
metadata and config, makes its own random input of the model's shape, and measures three
windows of `--seconds` each (`--stability-percentage 1000`: on a shared machine a stricter
check would make it give up); its throughput and p99 latency are printed with the server's
CPU per request (CPU time of every process of the server, from /proc, over the successes the
server's own statistics extension counted during the run). Ratios are ours over Triton's in
the same round; the tables give the median of the rounds.

perf_analyzer comes from tests/support/perf_analyzer.py (tritonclient 2.51.0's binary,
fetched once). Triton needs `$BENCH_DIR/envs/pytriton` (../shared/bench/setup.sh).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import free_port, machine, prepare  # noqa: E402
from servers import TRITON_PORT, TRITON_GRPC_PORT, Running, Server, triton_available  # noqa: E402
from tests.support.perf_analyzer import perf_analyzer  # noqa: E402

MODES = {  # name: perf_analyzer's protocol flags
    "http-json": ["-i", "http", "--input-tensor-format=json", "--output-tensor-format=json"],
    "http-binary": ["-i", "http"],
    "grpc": ["-i", "grpc"],
}


class OpenTriton(Server):
    """The Triton peer with its statistics open. PyTriton (0.7) puts Triton's statistics,
    repository, trace and logging APIs behind a generated access token by default, which
    perf_analyzer cannot send over gRPC (`-H` is for HTTP only), and without the statistics
    it stops at its first measurement ("This API is restricted"). The peer script runs
    unchanged, with PyTriton's list of protected endpoints emptied first; no TTL (it is
    stopped by its process group)."""

    def command(self, bench_dir: Path, port: int, model: str, grpc_port: int = 0):
        argv, cwd, env = super().command(bench_dir, port, model, grpc_port)
        python, script, *rest = argv
        rest = [str(24 * 3600) if previous == "--ttl" else arg
                for previous, arg in zip([""] + rest, rest)]
        opener = ("import runpy, sys, pytriton.triton as t; "
                  "t.DEFAULT_PROTECTED_ENDPOINTS.clear(); sys.argv = sys.argv[1:]; "
                  "runpy.run_path(sys.argv[0], run_name='__main__')")
        return [python, "-c", opener, script, *rest], cwd, env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn", help="any of mlp,cnn,mobilenet")
    parser.add_argument("--modes", default=",".join(MODES), help=f"any of {','.join(MODES)}")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="one measurement window (perf_analyzer measures three)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ours-root", type=Path, default=HERE.parent,
                        help="the checkout whose app.py runs as ours (default: this one)")
    parser.add_argument("--no-triton", action="store_true",
                        help="ours alone (no ratios): when PyTriton is not set up")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", "/tmp/bench"))
    args = parser.parse_args(argv)
    bench_dir = Path(args.bench_dir)
    models, modes = args.models.split(","), args.modes.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    if not args.no_triton and not triton_available(bench_dir):
        parser.error(f"no {bench_dir}/envs/pytriton: run ../shared/bench/setup.sh, "
                     f"or pass --no-triton")
    keys = ["ours"] if args.no_triton else ["ours", "triton"]
    prepare(bench_dir, models)
    command, env = perf_analyzer()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {machine()} · perf_analyzer "
          f"{version(command, env)} · {args.rounds} rounds, windows of {args.seconds:g} s, "
          f"servers loaded in turn (alternating order)")
    failures = 0
    for model in models:
        servers = {"ours": Server("ours", "ours", root=args.ours_root.resolve()),
                   "triton": OpenTriton("Triton (PyTriton)", "triton")}
        running: dict[str, Running] = {}
        try:
            for key in keys:
                port = free_port()
                log = bench_dir / "logs" / f"oip-{key}-{model}-{port}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                grpc_port = free_port()
                running[key] = Running(servers[key], bench_dir, port, model, log,
                                       grpc_port=grpc_port)
                running[key].endpoints = (  # (HTTP, gRPC) host:port for perf_analyzer
                    (f"127.0.0.1:{TRITON_PORT}", f"127.0.0.1:{TRITON_GRPC_PORT}")
                    if key == "triton" else (f"127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"))
            for server in running.values():
                server.wait_ready()
            results = {}
            for round_ in range(args.rounds):
                for mode in modes:
                    for level in levels:
                        for key in (keys if round_ % 2 == 0 else keys[::-1]):
                            point = measure(running[key], key, model, mode, level,
                                            args.seconds, command, env)
                            failures += bool(point["error"])
                            results.setdefault((mode, level, key), []).append(point)
            for mode in modes:
                report(model, mode, levels, keys, results)
        finally:
            for server in running.values():
                server.stop()
    return 1 if failures else 0


def version(command: list[str], env: dict) -> str:
    out = subprocess.run([*command, "--version"], env=env, capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().split("Version ")[-1].split(" ")[0]


def successes(http: str, model: str) -> int:
    """The server's own count of successful inferences of `model` (statistics extension)."""
    with urllib.request.urlopen(f"http://{http}/v2/models/{model}/stats", timeout=30) as page:
        stats = json.load(page)["model_stats"]
    return sum(int(entry["inference_stats"]["success"]["count"]) for entry in stats)


def measure(running: Running, key: str, model: str, mode: str, level: int, seconds: float,
            command: list[str], env: dict) -> dict:
    http, grpc = running.endpoints
    url = grpc if mode == "grpc" else http
    with tempfile.NamedTemporaryFile(suffix=".csv") as report_file:
        argv = [*command, "-m", model, "-u", url, *MODES[mode],
                f"--concurrency-range={level}:{level}", "--measurement-mode=time_windows",
                f"--measurement-interval={int(seconds * 1000)}", "--stability-percentage=1000",
                "-f", report_file.name]
        cpu, done = running.cpu_seconds(), successes(http, model)
        run = subprocess.run(argv, env=env, capture_output=True, text=True,
                             timeout=30 * seconds + 300)
        cpu, done = running.cpu_seconds() - cpu, successes(http, model) - done
        rows = list(csv.DictReader(open(report_file.name))) if run.returncode == 0 else []
    time.sleep(0.5)
    if not rows:
        tail = (run.stdout + run.stderr).strip().splitlines()[-3:]
        print(f"  {key} {model} {mode} C={level}: perf_analyzer failed: {' | '.join(tail)}",
              file=sys.stderr, flush=True)
        return {"rps": 0.0, "p99": 0.0, "cpu_ms": 0.0, "error": True}
    row = rows[0]
    return {"rps": float(row["Inferences/Second"]), "p99": float(row["p99 latency"]) / 1e3,
            "cpu_ms": 1e3 * cpu / max(done, 1), "error": False}


def report(model: str, mode: str, levels: list[int], keys: list[str], results: dict) -> None:
    print(f"\n{model}, {mode}: median of the rounds · infer/s, p99 ms, server CPU ms per "
          f"request" + (" · ours over Triton per round, then the median" if len(keys) > 1
                        else "") + "\n")
    head = ["C"] + [f"{key} {field}" for key in keys for field in ("infer/s", "p99", "CPU")]
    if len(keys) > 1:
        head += ["×infer/s", "×CPU", "errors"]
    print("| " + " | ".join(head) + " |\n|" + "---:|" * len(head))
    for level in levels:
        cells = [str(level)]
        for key in keys:
            points = [p for p in results[(mode, level, key)] if not p["error"]]
            if not points:
                cells += ["–", "–", "–"]
                continue
            cells += [f"{statistics.median(p['rps'] for p in points):,.0f}",
                      f"{statistics.median(p['p99'] for p in points):.2f}",
                      f"{statistics.median(p['cpu_ms'] for p in points):.2f}"]
        if len(keys) > 1:
            pairs = [(a, b) for a, b in zip(results[(mode, level, keys[0])],
                                            results[(mode, level, keys[1])])
                     if not a["error"] and not b["error"]]
            cells += [f"×{statistics.median(a['rps'] / b['rps'] for a, b in pairs):.2f}"
                      if pairs else "–",
                      f"×{statistics.median(a['cpu_ms'] / b['cpu_ms'] for a, b in pairs):.2f}"
                      if pairs else "–",
                      str(sum(p["error"] for key in keys for p in results[(mode, level, key)]))]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
