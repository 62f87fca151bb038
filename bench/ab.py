"""Interleaved A/B: several servers started side by side, loaded in turn, many short rounds.

    python bench/ab.py --servers ours-gthread,ours-on [--models mlp] [--clients 64]
                       [--seconds 4] [--rounds 6] [--baseline OTHER_CHECKOUT]

`bench/run.py` measures one server after another, so a neighbour that gets busier halfway
through the run moves every later figure. Here every server is started first (each on its
own port; an idle one costs nothing), then each round loads them one after the other in
alternating order, and the table gives the median of each server's rounds and the median of
its per-round ratio to the first server. Use it to decide a setting; `bench/run.py` still
makes the published tables.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SERVERS, free_port, load_point, prepare, prepare_grpc
from servers import Running, Server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", required=True, help=f"two or more of {','.join(SERVERS)} "
                        "(REST through wrk, gRPC through h2load, as in bench/run.py)")
    parser.add_argument("--models", default="mlp")
    parser.add_argument("--clients", default="64")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. `git worktree "
                        "add /tmp/before HEAD~1`): its server, default settings, is measured "
                        "first as `baseline` and every ratio is to it")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", "/tmp/bench"))
    args = parser.parse_args(argv)
    bench_dir, keys = Path(args.bench_dir), args.servers.split(",")
    if sum(SERVERS[key].kind == "triton" for key in keys) > 1:
        parser.error("one Triton at a time: two PyTriton servers cannot run side by side "
                     "(measure triton and triton-grpc in separate runs)")
    if args.baseline:
        SERVERS["baseline"] = Server(f"ours at {args.baseline}", "ours",
                                     root=args.baseline.resolve())
        keys.insert(0, "baseline")
    prepare(bench_dir, args.models.split(","))
    if any(SERVERS[key].protocol == "grpc" for key in keys):
        prepare_grpc(bench_dir)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {args.rounds} rounds of {args.seconds:g} s, "
          f"servers loaded in turn (alternating order)")
    for model in args.models.split(","):
        running = {}
        try:
            for key in keys:
                port = free_port()
                log = bench_dir / "logs" / f"ab-{key}-{model}-{port}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                running[key] = Running(SERVERS[key], bench_dir, port, model, log,
                                       grpc_port=free_port())
            for server in running.values():
                server.wait_ready()
            for count in (int(c) for c in args.clients.split(",")):
                rounds = {key: [] for key in keys}
                for round_ in range(args.rounds):
                    for key in (keys if round_ % 2 == 0 else keys[::-1]):
                        rounds[key].append(load_point(running[key], count, args.seconds,
                                                      bench_dir / "logs"))
                report(model, count, keys, rounds)
        finally:
            for server in running.values():
                server.stop()
    return 0


def report(model: str, count: int, keys: list[str], rounds: dict) -> None:
    base = rounds[keys[0]]
    print(f"\n{model}, {count} clients: median of the rounds (req/s ratio and CPU ratio to "
          f"{keys[0]}, per round, then median)\n")
    print("| server | req/s | p50 ms | p99 ms | CPU ms/req | ×req/s | ×CPU | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in keys:
        points = rounds[key]
        med = {field: statistics.median(p[field] for p in points)
               for field in ("rps", "p50", "p99", "cpu_ms")}
        ratio = statistics.median(p["rps"] / b["rps"] for p, b in zip(points, base))
        cpu = statistics.median(p["cpu_ms"] / b["cpu_ms"] for p, b in zip(points, base))
        print(f"| {SERVERS[key].label} | {med['rps']:,.0f} | {med['p50']:.2f} | "
              f"{med['p99']:.2f} | {med['cpu_ms']:.2f} | ×{ratio:.2f} | ×{cpu:.2f} | "
              f"{sum(p['errors'] for p in points)} |")


if __name__ == "__main__":
    sys.exit(main())
