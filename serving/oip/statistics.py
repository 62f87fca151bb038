"""Triton's statistics extension from the counts the server keeps anyway (serving/metrics.py),
summed over every worker: requests and their latency by outcome, batches and their sizes,
queue waits and run times, and when each version last answered. Nothing is counted twice
for it. Warmup stays out, as Triton leaves it out: its replays never reach a front, and the
batcher leaves their batches out (serving/warmup.py runs them under metrics.unrecorded()).

What Triton reports and we cannot know is 0: cache hits and input/output copy times.
"""
from __future__ import annotations

from collections import defaultdict

from serving import metrics

INFERENCE_VERBS = metrics.INFERENCE_VERBS
_SUCCESS = frozenset({"200", "OK"})
LAST_INFERENCE = "serving_last_inference_timestamp_seconds"  # a gauge: the latest of workers


def _duration(count: float = 0, seconds: float = 0.0) -> dict:
    return {"count": int(count), "ns": int(round(seconds * 1e9))}


def collect() -> dict[tuple[str, str], dict]:
    """{(model, version): counters} from every worker's metrics."""
    found: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(float))
    for family in metrics.families():
        for sample in family.samples:
            labels = sample.labels
            key = (labels.get("model", ""), labels.get("version", ""))
            if not key[0] or not key[1]:
                continue
            if family.name == "serving_request_latency_seconds":
                if labels.get("verb") not in INFERENCE_VERBS:
                    continue
                outcome = "success" if labels.get("status") in _SUCCESS else "fail"
                if sample.name.endswith("_count"):
                    found[key][f"{outcome}_count"] += sample.value
                elif sample.name.endswith("_sum"):
                    found[key][f"{outcome}_seconds"] += sample.value
            elif family.name in ("serving_batch_size", "serving_batch_queue_wait_seconds",
                                 "serving_batch_run_seconds"):
                short = family.name.rsplit("_", 1)[0] if family.name.endswith("seconds") \
                    else family.name
                if sample.name.endswith("_count"):
                    found[key][f"{short}_count"] += sample.value
                elif sample.name.endswith("_sum"):
                    found[key][f"{short}_sum"] += sample.value
            elif family.name == LAST_INFERENCE:
                found[key]["last_inference"] = max(found[key]["last_inference"], sample.value)
    return found


def model_statistics(name: str, version: str, counters: dict | None) -> dict:
    """One ModelStatistics entry, as Triton's JSON writes it."""
    c = counters or {}
    successes = c.get("success_count", 0)
    batches = c.get("serving_batch_size_count", 0)
    # With batches, Triton's inference count is rows and its execution count runs; a request
    # that ran alone (batching off, or one a batch could not take) counts once in each.
    rows = c.get("serving_batch_size_sum", 0)
    inferences, executions = (rows, batches) if batches else (successes, successes)
    return {
        "name": name, "version": version,
        # Triton's: milliseconds since the epoch of the last successful inference, 0 before.
        "last_inference": int(c.get("last_inference", 0) * 1000),
        "inference_count": int(inferences), "execution_count": int(executions),
        "inference_stats": {
            "success": _duration(successes, c.get("success_seconds", 0.0)),
            "fail": _duration(c.get("fail_count", 0), c.get("fail_seconds", 0.0)),
            "queue": _duration(c.get("serving_batch_queue_wait_count", 0),
                               c.get("serving_batch_queue_wait_sum", 0.0)),
            # perf_analyzer refuses statistics whose three compute counts differ ("Server
            # side statistics compute counts must be the same"): input and output are
            # counted with the runs, at 0 ns (their time is inside the run's).
            "compute_input": _duration(c.get("serving_batch_run_count", 0)),
            "compute_infer": _duration(c.get("serving_batch_run_count", 0),
                                       c.get("serving_batch_run_sum", 0.0)),
            "compute_output": _duration(c.get("serving_batch_run_count", 0)),
            "cache_hit": _duration(),
            "cache_miss": _duration(),
        },
        "batch_stats": [],
    }
