"""Benchmark: our server (batching off and on) against the plain Flask app and Triton.

    python bench/run.py            # full table: mlp and cnn, 1/8/32/64 clients, 10 s each
    python bench/run.py --quick    # smoke check for CI (< 60 s): mlp, 1 and 8 clients, 2 s

Builds the models and bodies with ../shared/bench/ scripts into --bench-dir (default
$BENCH_DIR or /tmp/bench), installs wrk with apt when missing, then runs one server at a time
on loopback with wrk (1 thread, keep-alive, bench/post.lua) and prints a markdown
table: req/s, p50, p99, errors and the ratio to Triton (or to the plain Flask app without it).
The load generator shares the CPU with the server, as it did for every peer.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grpc_load  # noqa: E402
from servers import SHARED_BENCH, Running, Server, triton_available  # noqa: E402

SERVERS = {
    "ours-off": Server("ours, batching off", "ours", ("--noenable_batching",)),
    "ours-on": Server("ours, batching on (default)", "ours"),
    "ours-1w": Server("ours, batching on, 1 worker", "ours", ("--workers=1",)),
    "ours-1w-intra2": Server("ours, 1 worker, 2 intra-op threads", "ours",
                             ("--workers=1", "--tensorflow_intra_op_parallelism=2")),
    "ours-inline": Server("ours, every run in its caller's thread", "ours",
                          ("--tensorflow_inter_op_parallelism=-1",)),
    "ours-gthread": Server("ours, gunicorn's plain gthread worker", "ours",
                           ("--keepalive_wait_ms=0",)),
    "ours-log": Server("ours, batching on, access log on", "ours", ("--access_log=-",)),
    # Traces and the request log need a receiver: `python3 bench/sink.py` (port 4319).
    "ours-trace": Server("ours, traces on (OTLP to bench/sink.py)", "ours", ("--tracing",),
                         env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4319"}),
    "ours-reqlog": Server("ours, request log on (every request, to bench/sink.py)", "ours",
                          ("--request_log_url=http://127.0.0.1:4319/",)),
    "ours-trace-10": Server("ours, traces on, 1 request in 10 sampled", "ours", ("--tracing",),
                            env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4319",
                                 "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                 "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
    "ours-reqlog-10": Server("ours, request log on, 1 request in 10 sent", "ours",
                             ("--request_log_url=http://127.0.0.1:4319/",
                              "--request_log_sample_rate=0.1")),
    "naive": Server("plain Flask, gthread 8 threads, -w 2", "naive", ("--threads", "8", "-w", "2")),
    "floor": Server("gunicorn + do-nothing Flask app (no model)", "floor"),
    "floor-wsgi": Server("gunicorn + do-nothing WSGI callable (no Flask)", "floor",
                         app="floor_app:bare"),
    "triton": Server("Triton (PyTriton), dynamic batching", "triton"),
    "ours-grpc": Server("ours over gRPC (h2load)", "ours", protocol="grpc"),
    "ours-grpc-4cpu": Server("ours over gRPC, TF Serving's 4 call threads per CPU", "ours",
                             (f"--grpc_max_threads={4 * (os.cpu_count() or 1)}",),
                             protocol="grpc"),
    "triton-grpc": Server("Triton (PyTriton) over gRPC (h2load)", "triton", protocol="grpc"),
    # The Open Inference Protocol on ours, with Triton's bodies: its cost beside TF Serving's.
    "ours-oip": Server("ours, KServe v2 JSON to /v2/models/{model}/infer", "ours", api="oip"),
    "ours-oip-grpc": Server("ours, KServe v2 ModelInfer over gRPC (h2load)", "ours",
                            protocol="grpc", api="oip"),
    "ours-image": Server("ours, a JPEG to /v1/images/{model}:classify", "ours",
                         protocol="image"),
}


def main(argv=None) -> int:
    args = parse(argv)
    bench_dir = Path(args.bench_dir)
    prepare(bench_dir, args.models.split(","))
    servers = [s for s in args.servers.split(",") if s != "limit"]
    for triton in ("triton", "triton-grpc"):
        if triton in servers and not triton_available(bench_dir):
            print(f"({triton} skipped: no {bench_dir}/envs/pytriton; see ../shared/bench/setup.sh)")
            servers.remove(triton)
    if any(SERVERS[key].protocol == "grpc" for key in servers):
        prepare_grpc(bench_dir)
    models = args.models.split(",")
    clients = [int(c) for c in args.clients.split(",")]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {machine()} · {args.seconds:g} s per point")
    if "limit" in args.servers.split(","):
        print_limit(bench_dir, models, 0.2 if args.quick else 1.0)
    results = {}
    for round_ in range(args.repeat):
        for key in servers:
            for model in models:
                results[(key, model, round_)] = measure(SERVERS[key], bench_dir, model, clients,
                                                        args.seconds)
    reference = "triton" if "triton" in servers else "naive" if "naive" in servers else None
    rest = [key for key in servers if SERVERS[key].protocol in ("rest", "image")]
    grpc = [key for key in servers if SERVERS[key].protocol == "grpc"]
    if rest:
        print_table(results, rest, models, clients, args.repeat, reference)
    if grpc:
        print("\nOver gRPC (h2load, one call in flight per connection; the ratio is to Triton's "
              "gRPC in the same round)")
        print_table(results, grpc, models, clients, args.repeat,
                    "triton-grpc" if "triton-grpc" in grpc else None)
    errors = sum(r["errors"] for points in results.values() for r in points.values())
    return 1 if errors else 0


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke check (< 60 s)")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", "/tmp/bench"))
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--servers", default="limit,floor,ours-off,ours-on,naive,triton",
                        help=f"any of limit,{','.join(SERVERS)}")
    parser.add_argument("--repeat", type=int, default=1, help="measure every server N times")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.clients, args.seconds = "mlp", "1,8", 2.0
        args.servers = "limit,ours-on,naive"
    return args


def prepare(bench_dir: Path, models: list[str]) -> None:
    """Models, bodies and wrk: made once, reused by later runs."""
    if not shutil.which("wrk"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "BENCH_DIR": str(bench_dir)}
    if not (bench_dir / "models" / "cnn" / "1" / "saved_model.pb").exists():
        subprocess.run([sys.executable, str(SHARED_BENCH / "make_models.py"),
                        str(bench_dir / "models")], check=True, env=env, capture_output=True)
    if not (bench_dir / "bodies" / "cnn_1.kserve.json").exists():
        subprocess.run([sys.executable, str(SHARED_BENCH / "make_bodies.py")], check=True,
                       env=env, capture_output=True)
    if "mobilenet" in models:
        subprocess.run([sys.executable, str(Path(__file__).parent / "make_mobilenet.py"),
                        str(bench_dir)], check=True, env=env, capture_output=True)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def print_limit(bench_dir: Path, models: list[str], seconds: float) -> None:
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "limit.py"),
                          str(bench_dir / "models"), "--models", ",".join(models),
                          "--seconds", str(seconds)], check=True, capture_output=True, text=True)
    print("\nIn-process limit (our wrapper's run, no HTTP/JSON; the server's session options)\n")
    print("| model | batch | p50 ms | p99 ms | rows/s |\n|---|---:|---:|---:|---:|")
    for line in out.stdout.splitlines():
        row = json.loads(line)
        print(f"| {row['model']} | {row['batch']} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} "
              f"| {row['rows_per_s']:,.0f} |")


def measure(server: Server, bench_dir: Path, model: str, clients: list[int], seconds: float):
    port = free_port()
    log = bench_dir / "logs" / f"{server.kind}-{server.protocol}-{model}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    running = Running(server, bench_dir, port, model, log, grpc_port=free_port())
    try:
        running.wait_ready()
        points = {}
        for count in clients:
            points[count] = load_point(running, count, seconds, log.parent)
        return points
    finally:
        running.stop()


def prepare_grpc(bench_dir: Path) -> None:
    """h2load, and the gRPC bodies (Triton's too when its virtualenv exists)."""
    grpc_load.ensure_h2load()
    triton_python = bench_dir / "envs" / "pytriton" / "bin" / "python"
    grpc_load.make_bodies(bench_dir, triton_python if triton_python.exists() else None)


def load_point(running: Running, count: int, seconds: float, logs: Path) -> dict:
    """`count` clients for `seconds` on a started server (wrk for REST, h2load for gRPC),
    with the server's CPU per request and, over gRPC, the calls it did not answer OK."""
    server = running.server
    before, failed = running.cpu_seconds(), running.grpc_failures()
    if server.protocol == "grpc":
        point = grpc_load.h2load(running.url, server.method, running.body, count, seconds, logs)
        point["errors"] += running.grpc_failures() - failed
    else:
        point = wrk(running.url, running.body, count, seconds, running.content_type)
    point["cpu_ms"] = 1e3 * (running.cpu_seconds() - before) / max(point["requests"], 1)
    time.sleep(0.5)
    return point


def wrk(url: str, body: Path, connections: int, seconds: float,
        content_type: str = "application/json") -> dict:
    """One load point; wrk's summary comes from post.lua's RESULT line."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
                          "-s", str(Path(__file__).parent / "post.lua"), url],
                         capture_output=True, text=True,
                         env={**os.environ, "BODY": str(body), "CONTENT_TYPE": content_type},
                         timeout=seconds + 60, check=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT"))
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    return {"rps": float(fields["rps"]), "p50": float(fields["p50_ms"]),
            "p99": float(fields["p99_ms"]), "errors": int(fields["errors"]),
            "requests": int(fields["reqs"])}


def print_table(results, servers, models, clients, repeat, reference) -> None:
    ref_name = {"triton": "Triton", "naive": "plain Flask",
                "triton-grpc": "Triton gRPC"}.get(reference, "-")
    for model in models:
        print(f"\n{model}, 1 instance per request: req/s · p50 ms · p99 ms · errors · "
              f"server CPU ms per request · ×{ref_name} (req/s ratio, same run)\n")
        print("| server | " + " | ".join(f"C={c}" for c in clients) + " |")
        print("|---|" + "---|" * len(clients))
        for round_ in range(repeat):
            for key in servers:
                cells = []
                for count in clients:
                    point = results[(key, model, round_)][count]
                    base = results.get((reference, model, round_), {}).get(count)
                    ratio = f" · ×{point['rps'] / base['rps']:.2f}" if base and base["rps"] else ""
                    cells.append(f"{point['rps']:,.0f} · {point['p50']:.2f} · "
                                 f"{point['p99']:.2f} · {point['errors']} · "
                                 f"{point['cpu_ms']:.2f}{ratio}")
                suffix = f" (run {round_ + 1})" if repeat > 1 else ""
                print(f"| {SERVERS[key].label}{suffix} | " + " | ".join(cells) + " |")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
