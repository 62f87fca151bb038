"""Many models in limited memory: 500 `digits`-size models, a per-worker budget that holds ~50.

    python bench/many_models.py            # 500 models, 16 clients, 60 s + 60 s, soak (~10 min)
    python bench/many_models.py --models 60 --seconds 10 --soak-cycles 100   # short (~1.5 min)

1. Builds N copies of the shipped `digits` model with distinct weights
   (scripts/make_many_models.py) into $BENCH_DIR/many_models/N (reused when up to date),
   and a model_config_list naming all of them.
2. Sizing (unless --model-bytes or --budget is given): one worker with a large budget loads
   8 models; a model's size is the server's own `serving_model_resident_bytes` (its mean),
   and the budget is --hold (50) times that.
3. The server under test: `app.py`, 2 gunicorn workers, `--model_memory_budget`. Each
   worker's RSS is read from /proc every second (the workers are the master's children);
   the TensorFlow baseline of a worker is its RSS once the server is ready, before any
   predict request. 16 client threads (keep-alive HTTP/1.1) post TF Serving `:predict`
   requests, one instance, for --seconds with a Zipf(1.1) choice over the models (ranks
   shuffled), then --seconds uniformly. Every answer's probabilities must be the asked
   model's (within 1e-4, and nearer to it than to any other model's expected row).
   The server does not say per request whether its model was loaded, so the N slowest
   answers of a phase count as cold, N being the phase's `serving_model_cache_misses_total`
   (exact when every cold answer is slower than every hit; --cold-ms splits by latency
   instead; a response header such as X-Model-Cache would be used if the server sent one).
   The server's `serving_model_cache_{hits,misses}_total` and `serving_model_loads_total`
   give the hit rate (over the phase and over its second half) and loads/s of each phase;
   its accounting (loads - evictions, `serving_model_resident_bytes`) is read every 5 s.
4. Soak: one worker, a budget for 2.5 models, one client cycling over 8 models, so every
   request loads one model and evicts one; RSS after --soak-cycles more cycles against RSS
   after the first 20 (allocator pools warm).

Targets (issue 23): 0 failed requests, every answer from the model asked, Zipf hit rate
>= 90 %, cold p99 <= 250 ms, each worker's RSS <= baseline + budget x 1.1 throughout, soak
growth <= 5 %. The `ideal` column is the best any cache of that many models could do: the
probability mass of the K most requested models (K = what the budget holds).
Results go to $BENCH_DIR/many_models.json; server logs to $BENCH_DIR/logs/.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import make_many_models  # noqa: E402
from memory import children  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20
CACHE_HEADERS = ("X-Model-Cache", "X-Cache", "X-Model-Load", "X-Model-Cold")


# --- the server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def has_budget_flag() -> bool:
    out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ,
                                                              "TF_CPP_MIN_LOG_LEVEL": "3"})
    return "--model_memory_budget" in out.stdout


class Server:
    def __init__(self, config: Path, workers: int, flags: list[str], log: Path):
        self.port = free_port()
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "wb")
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), f"--model_config_file={config}",
             f"--rest_api_port={self.port}", "--rest_api_host=127.0.0.1", "--port=0",
             f"--workers={workers}", "--file_system_poll_wait_seconds=0", *flags],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        self.workers = workers

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=5):
                    pass
                if len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout}s: see {self.log}")
            time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def metrics(self) -> dict[str, dict[tuple, float]]:
        """{sample name: {labels (sorted tuple): value}} from the Prometheus page."""
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(self.url("/monitoring/prometheus/metrics"),
                                    timeout=30) as page:
            text = page.read().decode()
        out: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def total(metrics: dict, name: str, **labels) -> float:
    return sum(v for key, v in metrics.get(name, {}).items()
               if all(dict(key).get(k) == w for k, w in labels.items()))


def histogram_quantile(before: dict, after: dict, name: str, q: float) -> float:
    """The q-quantile (seconds) of a Prometheus histogram's increase between two scrapes,
    interpolated in its buckets, as PromQL's histogram_quantile does."""
    buckets: dict[float, float] = {}
    for key, value in after.get(f"{name}_bucket", {}).items():
        le = float(dict(key)["le"])
        buckets[le] = buckets.get(le, 0) + value - before.get(f"{name}_bucket", {}).get(key, 0)
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return math.nan
    rank, lower, below = q * buckets[bounds[-1]], 0.0, 0.0
    for le in bounds:
        if buckets[le] >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * (rank - below) / max(buckets[le] - below, 1e-12)
        lower, below = le, buckets[le]
    return math.nan


def accounting(metrics: dict) -> dict:
    """What the server says it holds, over all workers: loaded copies (loads - evictions so
    far; a model loaded in two workers counts twice), the sum of their measured sizes, and
    each model's measured size (summed over the workers that hold it)."""
    resident = sorted(v for v in metrics.get("serving_model_resident_bytes", {}).values()
                      if v > 0)
    return {"hits": total(metrics, "serving_model_cache_hits_total"),
            "misses": total(metrics, "serving_model_cache_misses_total"),
            "copies": int(total(metrics, "serving_model_loads_total")
                          - total(metrics, "serving_model_evictions_total")),
            "bytes": sum(resident), "models": len(resident),
            "model_min": resident[0] if resident else 0,
            "model_median": resident[len(resident) // 2] if resident else 0,
            "model_max": resident[-1] if resident else 0,
            "models_under_2mib": sum(1 for v in resident if v < 2 * MIB)}


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


class Sampler(threading.Thread):
    """Every worker's RSS once a second, labelled with the phase running then."""

    def __init__(self, server: Server):
        super().__init__(daemon=True)
        self.server, self.phase, self.samples = server, "idle", []
        self.seen: set[int] = set()
        self.accounted: list = []
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def sample(self) -> dict[int, int]:
        pids = self.server.worker_pids()
        self.seen.update(pids)
        found = {pid: rss(pid) for pid in pids}
        self.samples.append((round(time.monotonic() - self.t0, 1), self.phase, found))
        return found

    def run(self) -> None:
        tick = 0
        while not self._halt.wait(1.0):
            self.sample()
            tick += 1
            if tick % 5 == 0:  # the server's own accounting, summed over workers
                try:
                    began = time.monotonic()
                    found = accounting(self.server.metrics())
                    found["scrape_s"] = time.monotonic() - began  # the metrics page's latency
                    self.accounted.append((self.samples[-1][0], found))
                except OSError:
                    pass

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --- the clients ----------------------------------------------------------------------------

class Expected:
    def __init__(self, folder: Path):
        data = np.load(folder / "expected.npz")
        self.names = [str(n) for n in data["names"]]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.rows = data["probabilities"]
        self.body = json.dumps({"instances": data["image"].tolist()}).encode()

    def right(self, model: str, probabilities) -> bool:
        distance = np.abs(self.rows - np.asarray(probabilities, np.float64)).max(axis=1)
        i = self.index[model]
        return bool(distance[i] < 1e-4 and int(distance.argmin()) == i)


RECONNECTS: list = []  # requests sent again on a new connection (a stale kept-alive one)


def client(port: int, expected: Expected, choose, stop: threading.Event, out: list,
           header: list, think=lambda: 0.0) -> None:
    connection = None
    while not stop.is_set():
        pause = think()
        if pause and stop.wait(pause):
            break
        model = choose()
        started = time.perf_counter()
        try:
            for attempt in (1, 2):
                reused = connection is not None
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    connection.request("POST", f"/v1/models/{model}:predict", expected.body,
                                       {"Content-Type": "application/json"})
                    answer = connection.getresponse()
                    break
                except (BrokenPipeError, ConnectionResetError,
                        http.client.RemoteDisconnected):
                    if not reused or attempt == 2:
                        raise
                    # the server closed the idle kept-alive connection (after its
                    # keep-alive timeout) as we reused it: a new one, as urllib3 does
                    RECONNECTS.append(model)
                    connection.close()
                    connection = None
                    started = time.perf_counter()
            data = answer.read()
            seconds = time.perf_counter() - started
            cache = None
            for name in CACHE_HEADERS:
                value = answer.getheader(name)
                if value is not None:
                    header[:] = [name]
                    cache = value.lower()
                    break
            if answer.status != 200:
                out.append((model, seconds, answer.status, None, cache))
                if answer.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
                continue
            probabilities = json.loads(data)["predictions"][0]["probabilities"]
            out.append((model, seconds, 200, expected.right(model, probabilities), cache))
        except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
            out.append((model, time.perf_counter() - started, type(error).__name__, None,
                        None))
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


def drive(port: int, expected: Expected, probabilities: np.ndarray, clients: int,
          seconds: float, seed: int, think_ms: float = 0) -> tuple[list, list]:
    stop = threading.Event()
    results: list = []
    header: list = []
    threads = []
    for c in range(clients):
        rng = np.random.default_rng(seed * 100 + c)
        picks = iter(())

        def choose(rng=rng, state={"picks": picks}):
            try:
                return next(state["picks"])
            except StopIteration:
                state["picks"] = iter(rng.choice(expected.names, 4096, p=probabilities))
                return next(state["picks"])
        def think(rng=rng):  # exponential pauses: each client a Poisson source
            return rng.exponential(think_ms / 1000) if think_ms else 0.0
        threads.append(threading.Thread(target=client, daemon=True, args=(
            port, expected, choose, stop, results, header, think)))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(120)
    return results, header


def percentile(values, q) -> float:
    return float(np.percentile(values, q) * 1000) if len(values) else math.nan


def summarize(name: str, results: list, header: list, cold_ms: float, before: dict,
              after: dict, seconds: float, ideal: float) -> dict:
    ok = [r for r in results if r[2] == 200]
    failed = [r for r in results if r[2] != 200]
    wrong = sum(1 for r in ok if r[3] is False)
    if header:
        cold = [r for r in ok if r[4] not in ("hit", "1", "true", "warm")] \
            if header[0] != "X-Model-Cold" else [r for r in ok if r[4] in ("1", "true")]
        how = f"header {header[0]}"
    elif cold_ms > 0:
        cold = [r for r in ok if r[1] * 1000 > cold_ms]
        how = f"latency > {cold_ms:g} ms"
    else:  # the server counts misses but cannot say which: take that many of the slowest
        misses = int(round(total(after, "serving_model_cache_misses_total")
                           - total(before, "serving_model_cache_misses_total")))
        cold = sorted(ok, key=lambda r: r[1])[len(ok) - min(misses, len(ok)):] if misses else []
        how = "the slowest N answers, N = the server's cache misses"
    cold_ids = {id(r) for r in cold}
    hits = [r for r in ok if id(r) not in cold_ids]
    d = {k: total(after, k) - total(before, k) for k in (
        "serving_model_cache_hits_total", "serving_model_cache_misses_total",
        "serving_model_loads_total", "serving_model_evictions_total")}
    lookups = d["serving_model_cache_hits_total"] + d["serving_model_cache_misses_total"]
    statuses: dict = {}
    for r in failed:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    return {
        "phase": name, "requests": len(results), "failed": len(failed),
        "failed_by_status": statuses, "wrong_model": wrong,
        "req_per_s": len(results) / seconds,
        "hit_rate_server": d["serving_model_cache_hits_total"] / lookups if lookups else None,
        "hit_rate_client": len(hits) / len(ok) if ok else None, "classified_by": how,
        "ideal_hit_rate": ideal,
        "hit_p50_ms": percentile([r[1] for r in hits], 50),
        "hit_p99_ms": percentile([r[1] for r in hits], 99),
        "cold_requests": len(cold),
        "cold_p50_ms": percentile([r[1] for r in cold], 50),
        "cold_p99_ms": percentile([r[1] for r in cold], 99),
        "loads_per_s": d["serving_model_loads_total"] / seconds,
        "evictions_per_s": d["serving_model_evictions_total"] / seconds,
        "load_wait_p50_ms": 1000 * histogram_quantile(before, after, "serving_load_wait_seconds",
                                                      0.5),
        "load_wait_p99_ms": 1000 * histogram_quantile(before, after, "serving_load_wait_seconds",
                                                      0.99),
        "load_seconds_mean": (total(after, "serving_model_load_seconds_sum")
                              - total(before, "serving_model_load_seconds_sum"))
        / max(1.0, total(after, "serving_model_load_seconds_count")
              - total(before, "serving_model_load_seconds_count")),
        "all_p50_ms": percentile([r[1] for r in ok], 50),
        "all_p99_ms": percentile([r[1] for r in ok], 99),
    }


# --- the steps ------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?i?B?)?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    unit = (match.group(2) or "").upper().rstrip("B")
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "KI": 1024, "MI": MIB, "GI": 1 << 30}[unit]
    return int(float(match.group(1)) * scale)


def mib(n: float) -> str:
    return f"{n / MIB:.0f}"


def size_models(config: Path, names: list[str], expected: Expected, logs: Path,
                budget_flag: bool) -> dict:
    """A model's resident size by the server's own metric (one worker, 8 models loaded)."""
    flags = ["--model_memory_budget=4GiB"] if budget_flag else []
    server = Server(config, 1, flags, logs / "many_models_sizing.log")
    try:
        server.wait_ready()
        pid = server.worker_pids()[0]
        base = rss(pid)
        picks = names[:8]
        for model in picks:
            request = urllib.request.Request(server.url(f"/v1/models/{model}:predict"),
                                             data=expected.body,
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=120).read()
        time.sleep(1)
        grown = rss(pid) - base
        metrics = server.metrics()
        resident = [total(metrics, "serving_model_resident_bytes", model=m) for m in picks]
        return {"metric_bytes": float(np.mean(resident)) if any(resident) else None,
                "rss_delta_bytes": grown / len(picks), "baseline_rss": base}
    finally:
        server.stop()


ROUND = 8  # models the soak cycles over: far more than its budget holds, so each request loads


def soak(config: Path, names: list[str], expected: Expected, logs: Path, model_bytes: float,
         cycles: int, budget_flag: bool) -> dict:
    budget = int(model_bytes * 2.5)
    flags = [f"--model_memory_budget={budget}"] if budget_flag else []
    server = Server(config, 1, flags, logs / "many_models_soak.log")
    try:
        server.wait_ready()
        pid = server.worker_pids()[0]
        cold = rss(pid)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        failed = wrong = 0
        times = []

        def cycle(i: int) -> None:
            nonlocal failed, wrong
            model = names[i % ROUND]
            started = time.perf_counter()
            connection.request("POST", f"/v1/models/{model}:predict", expected.body,
                               {"Content-Type": "application/json"})
            answer = connection.getresponse()
            data = answer.read()
            times.append(time.perf_counter() - started)
            if answer.status != 200:
                failed += 1
            elif not expected.right(model, json.loads(data)["predictions"][0]["probabilities"]):
                wrong += 1
        warm = 20
        for i in range(warm):
            cycle(i)
        time.sleep(1)
        before = rss(pid)
        m0 = server.metrics()
        peak = before
        started = time.monotonic()
        for i in range(warm, warm + cycles):
            cycle(i)
            if i % 25 == 0:
                peak = max(peak, rss(pid))
        elapsed = time.monotonic() - started
        time.sleep(1)
        after = rss(pid)
        m1 = server.metrics()
        connection.close()
        return {"budget_bytes": budget, "cycles": cycles, "cold_rss": cold,
                "before_rss": before, "after_rss": after, "peak_rss": max(peak, after),
                "growth_pct": 100.0 * (after - before) / before,
                "loads": total(m1, "serving_model_loads_total")
                - total(m0, "serving_model_loads_total"),
                "evictions": total(m1, "serving_model_evictions_total")
                - total(m0, "serving_model_evictions_total"),
                "failed": failed, "wrong_model": wrong, "cycles_per_s": cycles / elapsed,
                "p50_ms": percentile(times[warm:], 50), "p99_ms": percentile(times[warm:], 99),
                "worker_pid_same": server.worker_pids() == [pid]}
    finally:
        server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=parse_size, help="per worker; default --hold models")
    parser.add_argument("--hold", type=int, default=50, help="models the budget should hold")
    parser.add_argument("--model-bytes", type=parse_size,
                        help="a model's size as the server counts it (skips the sizing run)")
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--phases", default="zipf,uniform")
    parser.add_argument("--warmup", type=float, default=0,
                        help="seconds of the first phase's mix before it is measured")
    parser.add_argument("--soak-cycles", type=int, default=1000, help="0: no soak")
    parser.add_argument("--think-ms", type=float, default=0,
                        help="each client pauses an exponential time of this mean before "
                        "each request (0: closed loop, back to back)")
    parser.add_argument("--cold-ms", type=float, default=0,
                        help="without a per-request cache header: slower than this is cold; "
                        "0: the N slowest are, N = the server's cache misses in the phase")
    parser.add_argument("--server-flags", default="",
                        help="more app.py flags, e.g. '--max_concurrent_loads=2'")
    parser.add_argument("--models-dir", help="default $BENCH_DIR/many_models/N")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", "/tmp/bench"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    bench_dir = Path(args.bench_dir)
    logs = bench_dir / "logs"
    folder = Path(args.models_dir or bench_dir / "many_models" / str(args.models)).resolve()
    if not make_many_models.up_to_date(folder, args.models):
        print(f"# building {args.models} models in {folder} ...", flush=True)
        built = make_many_models.build(folder, args.models)
        print(f"#   {built['seconds']} s, {built['bytes_on_disk'] / 1e6:.2f} MB each on disk",
              flush=True)
    expected = Expected(folder)
    config = folder / "models.config"
    names = expected.names
    budget_flag = has_budget_flag()
    if not budget_flag:
        print("# app.py has no --model_memory_budget: every model loads at start, no budget",
              flush=True)

    sizing = None
    model_bytes = args.model_bytes
    if model_bytes is None and (args.budget is None or args.soak_cycles):
        sizing = size_models(config, names, expected, logs, budget_flag)
        model_bytes = sizing["metric_bytes"] or sizing["rss_delta_bytes"]
        if model_bytes <= 0:  # without the feature every model is loaded already
            model_bytes = 2 * MIB
        print(f"# sizing: server's resident_bytes {sizing['metric_bytes']} per model, "
              f"worker RSS +{sizing['rss_delta_bytes'] / MIB:.1f} MiB per model, "
              f"bare worker {mib(sizing['baseline_rss'])} MiB", flush=True)
    budget = args.budget or int(math.ceil(model_bytes * args.hold))
    holds = int(budget // model_bytes) if model_bytes else args.hold
    print(f"# budget {budget} bytes ({budget / MIB:.1f} MiB) per worker, holds {holds} models "
          f"of {model_bytes / MIB:.2f} MiB", flush=True)

    flags = [f"--model_memory_budget={budget}"] if budget_flag else []
    flags += args.server_flags.split()
    server = Server(config, args.workers, flags, logs / "many_models.log")
    phases = []
    try:
        started = time.monotonic()
        server.wait_ready()
        ready_s = time.monotonic() - started
        time.sleep(2)
        sampler = Sampler(server)
        baseline = sampler.sample()
        start_metrics = server.metrics()
        sampler.start()
        rng = np.random.default_rng(args.seed)
        ranks = rng.permutation(len(names))
        for phase in args.phases.split(","):
            if phase == "zipf":
                weights = np.arange(1, len(names) + 1, dtype=np.float64) ** -args.zipf
                p = np.empty(len(names))
                p[ranks] = weights / weights.sum()
            else:
                p = np.full(len(names), 1.0 / len(names))
            ideal = float(np.sort(p)[::-1][:holds].sum())
            if args.warmup and not phases:  # fill the cache first, not measured
                sampler.phase = "warmup"
                drive(server.port, expected, p, args.clients, args.warmup, args.seed + 99)
            sampler.phase = phase
            before = server.metrics()
            t0 = time.monotonic()
            results, header = drive(server.port, expected, p, args.clients, args.seconds,
                                    args.seed + len(phases), args.think_ms)
            elapsed = time.monotonic() - t0
            after = server.metrics()
            row = summarize(phase, results, header, args.cold_ms, before, after, elapsed, ideal)
            row["reconnects"] = len(RECONNECTS)
            RECONNECTS.clear()
            phase_samples = [s for s in sampler.samples if s[1] == phase]
            row["worker_max_rss"] = {str(pid): max(s[2].get(pid, 0) for s in phase_samples)
                                     for pid in baseline}
            row["accounting_after"] = accounting(after)
            # the second half of the phase alone: the cache filled during the first
            late = [a for t, a in sampler.accounted if t >= t0 - sampler.t0 + elapsed / 2]
            if late:
                a, b = late[0], accounting(after)
                looked = (b["hits"] - a["hits"]) + (b["misses"] - a["misses"])
                row["hit_rate_second_half"] = (b["hits"] - a["hits"]) / looked if looked else None
            phases.append(row)
            print(f"# {phase}: {json.dumps(row)}", flush=True)
            sampler.phase = "idle"
        sampler.stop()
        end_metrics = server.metrics()
        restarted = sorted(sampler.seen - set(baseline))
    finally:
        server.stop()

    soaked = None
    if args.soak_cycles:
        soaked = soak(config, names, expected, logs, model_bytes, args.soak_cycles, budget_flag)
        print(f"# soak: {json.dumps(soaked)}", flush=True)

    # --- the report
    limit = {pid: base + budget * 1.1 for pid, base in baseline.items()}
    over = [(t, phase, pid, value) for t, phase, found in sampler.samples
            for pid, value in found.items() if pid in limit and value > limit[pid]]
    print(f"\n# {time.strftime('%Y-%m-%d %H:%M')} · {len(names)} models of `digits` size "
          f"(copies of models/digits/1, "
          f"{json.loads((folder / 'manifest.json').read_text())['bytes_on_disk'] / 1e6:.2f} MB "
          f"on disk each) · {args.workers} workers · budget {budget / MIB:.1f} MiB per worker "
          f"(holds {holds}) · {args.clients} clients · {args.seconds:g} s per phase · "
          f"{os.cpu_count()} CPUs · server ready in {ready_s:.1f} s"
          + (f" · {args.warmup:g} s warm-up" if args.warmup else "") + "\n")
    print("| phase | requests | req/s | failed | wrong model | hit rate (ideal) | hit p50 / p99 ms "
          "| cold requests | cold p50 / p99 ms | server's load wait p50 / p99 ms "
          "| one load ms (mean) "
          "| loads/s | evictions/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in phases:
        rate = r["hit_rate_server"] if r["hit_rate_server"] is not None else r["hit_rate_client"]
        late = r.get("hit_rate_second_half")
        late = f", {100 * late:.1f} % late" if late is not None else ""
        print(f"| {r['phase']} | {r['requests']} | {r['req_per_s']:.0f} | {r['failed']} | "
              f"{r['wrong_model']} | {100 * (rate or 0):.1f} %{late} "
              f"({100 * r['ideal_hit_rate']:.1f} %)"
              f" | {r['hit_p50_ms']:.1f} / {r['hit_p99_ms']:.1f} | {r['cold_requests']} | "
              f"{r['cold_p50_ms']:.0f} / {r['cold_p99_ms']:.0f} | {r['load_wait_p50_ms']:.0f} / "
              f"{r['load_wait_p99_ms']:.0f} | {1000 * r['load_seconds_mean']:.0f} | "
              f"{r['loads_per_s']:.1f} | "
              f"{r['evictions_per_s']:.1f} |")
    print(f"\nhit rate: the server's cache counters over the phase, and over its second half "
          f"(\"late\": the cache has filled); ideal: the share of the {holds} most requested "
          f"models; hit/cold latency split by "
          f"{phases[0]['classified_by'] if phases else '-'}.")
    if any(r.get("reconnects") for r in phases):
        print("reconnects (a request sent again on a new connection: the server had closed "
              "the idle kept-alive one): " + ", ".join(f"{r['phase']} {r['reconnects']}"
                                                      for r in phases))
    print("\n| worker | TF baseline MiB | + budget × 1.1 = limit MiB "
          "| max RSS MiB (zipf / uniform)"
          " | within |\n|---|---:|---:|---:|---|")
    for pid, base in baseline.items():
        maxes = " / ".join(mib(r["worker_max_rss"][str(pid)]) for r in phases)
        worst = max([r["worker_max_rss"][str(pid)] for r in phases] or [0])
        print(f"| {pid} | {mib(base)} | {mib(limit[pid])} | {maxes} | "
              f"{'yes' if worst <= limit[pid] else 'NO'} |")
    for r in phases:
        a = r["accounting_after"]
        print(f"\nafter {r['phase']}: the server accounts {a['copies']} loaded copies of "
              f"{a['models']} models in {args.workers} workers, {a['bytes'] / MIB:.0f} MiB "
              f"(budget × workers: {budget * args.workers / MIB:.0f}; "
              f"{a['bytes'] / max(a['copies'], 1) / MIB:.1f} MiB a copy); a model's measured "
              f"size (summed over workers) {a['model_min'] / MIB:.1f} / "
              f"{a['model_median'] / MIB:.1f} / {a['model_max'] / MIB:.1f} MiB (min / median / "
              f"max; {a['models_under_2mib']} under 2 MiB); workers' RSS above baseline: "
              + ", ".join(f"{(r['worker_max_rss'][str(pid)] - base) / MIB:.0f}"
                          for pid, base in baseline.items()) + " MiB (max)")
    scrapes = [a["scrape_s"] for _, a in sampler.accounted]
    if scrapes:
        print(f"\nthe metrics page answered in {np.median(scrapes):.1f} s (median), "
              f"{max(scrapes):.1f} s (max) over {len(scrapes)} scrapes during the phases")
    if restarted:
        print(f"\nworkers that started during the run (restarts): {restarted}")
    if soaked:
        print(f"\nsoak: {soaked['cycles']} load/evict cycles (1 worker, budget "
              f"{soaked['budget_bytes'] / MIB:.1f} MiB, {ROUND} models round robin, "
              f"{soaked['cycles_per_s']:.1f} cycles/s, p50 {soaked['p50_ms']:.0f} ms, p99 "
              f"{soaked['p99_ms']:.0f} ms): loads {soaked['loads']:.0f}, evictions "
              f"{soaked['evictions']:.0f}, failed {soaked['failed']}, "
              f"wrong {soaked['wrong_model']};"
              f" worker RSS {mib(soaked['before_rss'])} MiB after 20 cycles → "
              f"{mib(soaked['after_rss'])} MiB after {soaked['cycles']} more "
              f"({soaked['growth_pct']:+.1f} %), peak {mib(soaked['peak_rss'])} MiB, "
              f"{mib(soaked['cold_rss'])} MiB before any request")
    print("\nover time (every 5 s; RSS/limit MiB per worker, limit = baseline + budget × 1.1; "
          "the server's accounting summed over workers):")
    accounted = dict(sampler.accounted)
    for t, phase, found in sampler.samples:
        if t not in accounted:
            continue
        a = accounted[t]
        print(f"  {t:6.1f}s {phase:8s} " + "  ".join(
            f"{mib(found.get(pid, 0))}/{mib(limit[pid])}" for pid in baseline)
            + f"   accounted {a['copies']} copies, {mib(a['bytes'])} MiB")
    report = {"models": len(names), "workers": args.workers, "budget_bytes": budget,
              "model_bytes": model_bytes, "holds": holds, "sizing": sizing,
              "baseline_rss": {str(k): v for k, v in baseline.items()},
              "phases": phases, "soak": soaked, "over_limit_samples": over,
              "restarted_workers": restarted,
              "samples": [(t, p, {str(k): v for k, v in f.items()})
                          for t, p, f in sampler.samples],
              "accounted": sampler.accounted,
              "residency_py_mtime": (ROOT / "serving" / "models" / "residency.py").stat().st_mtime
              if (ROOT / "serving" / "models" / "residency.py").exists() else None,
              "budget_metric": total(end_metrics, "serving_model_memory_budget_bytes"),
              "start_resident": total(start_metrics, "serving_model_resident_bytes")}
    bench_dir.mkdir(parents=True, exist_ok=True)
    (bench_dir / "many_models.json").write_text(json.dumps(report, indent=1) + "\n")
    bad = any(r["failed"] or r["wrong_model"] for r in phases) or over or (
        soaked and (soaked["failed"] or soaked["wrong_model"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
