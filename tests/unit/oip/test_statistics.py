"""Triton's statistics extension (serving/oip/statistics.py) from the server's metrics."""
from __future__ import annotations

import pytest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from serving import metrics
from serving.oip import statistics


def _families(*families):
    return lambda: list(families)


def _histogram(name, labels, count, total):
    family = HistogramMetricFamily(name, "", labels=list(labels))
    family.add_metric(list(labels.values()), [("+Inf", count)], total)
    return family


def test_a_version_never_asked_reports_zeros_and_no_last_inference():
    stats = statistics.model_statistics("m", "1", None)
    assert stats["last_inference"] == 0
    assert stats["inference_count"] == stats["execution_count"] == 0
    assert {d["count"] for d in stats["inference_stats"].values()} == {0}


def test_last_inference_is_the_latest_workers_in_milliseconds_since_the_epoch(monkeypatch):
    last = GaugeMetricFamily(statistics.LAST_INFERENCE, "", labels=["model", "version"])
    last.add_metric(["m", "1"], 1_700_000_000.1239)
    last.add_metric(["m", "1"], 1_700_000_002.5)        # another worker's, later
    last.add_metric(["other", "1"], 1_800_000_000.0)
    monkeypatch.setattr(metrics, "families", _families(last))
    counters = statistics.collect()
    assert statistics.model_statistics("m", "1", counters[("m", "1")])["last_inference"] \
        == 1_700_000_002_500


@pytest.mark.parametrize("batched", [True, False])
def test_compute_counts_are_equal_as_perf_analyzer_requires(monkeypatch, batched):
    request = {"entrypoint": "REST", "model": "m", "version": "1", "verb": "infer",
               "status": "200"}
    batch = {"model": "m", "version": "1", "signature": "serving_default"}
    families = [_histogram("serving_request_latency_seconds", request, 3, 0.3)]
    if batched:
        families += [_histogram("serving_batch_size", batch, 2, 5),
                     _histogram("serving_batch_run_seconds", batch, 2, 0.1)]
    monkeypatch.setattr(metrics, "families", _families(*families))
    stats = statistics.model_statistics("m", "1", statistics.collect()[("m", "1")])
    inference = stats["inference_stats"]
    assert inference["success"]["count"] == 3
    assert len({inference[k]["count"] for k in ("compute_input", "compute_infer",
                                                "compute_output")}) == 1
    assert (stats["inference_count"], stats["execution_count"]) == ((5, 2) if batched
                                                                    else (3, 3))
