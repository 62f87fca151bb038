"""Probes, metrics and proxy headers (api/ops.py, serving/metrics.py), on in-process apps."""
from __future__ import annotations

import subprocess
import sys

import pytest
from flask import request
from prometheus_client.parser import text_string_to_metric_families

from serving import metrics
from tests.support.helpers import ROOT, copy_model, write_config

PREDICT = {"instances": [1.0, 2.0, 5.0]}   # half_plus_two: y = x / 2 + 2


def make_app(config_path, **settings):
    from app import create_app
    app = create_app({"model_config_file": str(config_path), **settings})
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("ops-models")
    good = copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two")
    broken = copy_model("bad_half_plus_two", base / "broken")   # its only version fails to load
    (base / "empty").mkdir()                                     # no version at all
    return {"good": write_config(base / "good.config", {"half_plus_two": good}),
            "mixed": write_config(base / "mixed.config", {"half_plus_two": good, "broken": broken,
                                                          "empty": base / "empty"}),
            "none": write_config(base / "none.config", {}),
            "base": base}


@pytest.fixture(scope="module")
def ready(models):
    app = make_app(models["good"])
    yield app.test_client()
    app.extensions["serving"].close()


def sample(client, name: str, **labels) -> float:
    """One sample's value from the metrics page; 0 when the series does not exist yet."""
    page = client.get("/monitoring/prometheus/metrics")
    assert page.status_code == 200
    for family in text_string_to_metric_families(page.get_data(as_text=True)):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_healthz_answers_while_the_process_runs(ready):
    answer = ready.get("/healthz")
    assert (answer.status_code, answer.get_json()) == (200, {"status": "alive"})


def test_readyz_is_200_once_every_configured_model_has_an_available_version(ready):
    answer = ready.get("/readyz")
    assert (answer.status_code, answer.get_json()) == (200, {"status": "ready",
                                                             "models": ["half_plus_two"]})


def test_readyz_is_503_naming_each_model_without_an_available_version(models):
    app = make_app(models["mixed"])
    try:
        client = app.test_client()
        answer = client.get("/readyz")
        assert answer.status_code == 503
        error = answer.get_json()["error"]
        assert "broken" in error and "empty" in error and "half_plus_two" not in error
        # The good model still serves: not ready is not the same as down.
        assert client.post("/v1/models/half_plus_two:predict", json=PREDICT).status_code == 200
    finally:
        app.extensions["serving"].close()


def test_requests_are_counted_by_model_version_verb_and_status(ready):
    ok = dict(model="half_plus_two", version="123", verb="predict", status="200")
    before = sample(ready, "serving_requests_total", **ok)
    for _ in range(3):
        assert ready.post("/v1/models/half_plus_two:predict", json=PREDICT).get_json() == {
            "predictions": [2.5, 3.0, 4.5]}
    assert sample(ready, "serving_requests_total", **ok) == before + 3
    assert sample(ready, "serving_request_latency_seconds_count", **ok) == before + 3

    bad = dict(model="half_plus_two", version="", verb="predict", status="400")
    before_bad = sample(ready, "serving_requests_total", **bad)
    assert ready.post("/v1/models/half_plus_two:predict", data=b"{not json").status_code == 400
    assert sample(ready, "serving_requests_total", **bad) == before_bad + 1

    meta = dict(model="half_plus_two", verb="metadata", status="200")
    before_meta = sample(ready, "serving_requests_total", **meta)
    assert ready.get("/v1/models/half_plus_two/metadata").status_code == 200
    assert sample(ready, "serving_requests_total", **meta) == before_meta + 1


def test_unknown_model_names_never_become_label_values(ready):
    assert ready.get("/v1/models/no-such-model-7f3a").status_code == 404
    page = ready.get("/monitoring/prometheus/metrics").get_data(as_text=True)
    assert "no-such-model-7f3a" not in page
    assert sample(ready, "serving_requests_total", model="", verb="status", status="404") >= 1


def test_metrics_page_is_prometheus_text(ready):
    page = ready.get("/monitoring/prometheus/metrics")
    assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE serving_request_latency_seconds histogram" in page.get_data(as_text=True)


def test_batches_loads_and_model_states_are_exported(ready):
    metrics.observe_batch("m1", "7", "serving_default", 12, 0.002, 0.010)
    metrics.set_queue_length("m1", "7", "serving_default", 5)
    metrics.observe_load("m1", "7", 1.5, "LOADING")
    metrics.set_model_state("m1", "7", "AVAILABLE")
    labels = dict(model="m1", version="7")
    assert sample(ready, "serving_batch_size_sum", signature="serving_default", **labels) == 12
    assert sample(ready, "serving_batch_queue_wait_seconds_count", **labels) == 1
    assert sample(ready, "serving_batch_run_seconds_sum", **labels) == pytest.approx(0.010)
    assert sample(ready, "serving_batch_queue_length", **labels) == 5
    assert sample(ready, "serving_model_load_seconds_sum", state="LOADING", **labels) == 1.5
    # A version is counted in one state at a time.
    assert sample(ready, "serving_model_version_state", state="AVAILABLE", **labels) == 1
    assert sample(ready, "serving_model_version_state", state="LOADING", **labels) == 0
    metrics.set_model_state("m1", "7", None)
    assert sample(ready, "serving_model_version_state", state="AVAILABLE", **labels) == 0


def test_monitoring_config_file_moves_or_switches_off_the_metrics(models):
    base = models["base"]
    moved = base / "moved.txt"
    moved.write_text('prometheus_config { enable: true, path: "/metrics" }\n')
    off = base / "off.txt"
    off.write_text("prometheus_config { enable: false }\n")
    client = make_app(models["none"], monitoring_config_file=str(moved)).test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/monitoring/prometheus/metrics").status_code == 404
    client = make_app(models["none"], monitoring_config_file=str(off)).test_client()
    assert client.get("/monitoring/prometheus/metrics").status_code == 404


def test_tf_servings_own_monitoring_config_file_is_understood():
    from serving.config.monitoring import metrics_path
    from tests.support.helpers import TEST_MODELS
    assert metrics_path(str(TEST_MODELS / "monitoring_config.txt")) == "/monitoring/prometheus/metrics"


def test_an_unparsable_monitoring_config_stops_the_start(models):
    bad = models["base"] / "bad-monitoring.txt"
    bad.write_text("prometheus_config { enabled: true }\n")
    result = subprocess.run([sys.executable, "app.py", f"--model_config_file={models['none']}",
                             f"--monitoring_config_file={bad}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "MonitoringConfig" in result.stderr and 'no field named "enabled"' in result.stderr


@pytest.mark.parametrize("hops, expected", [(0, ("127.0.0.1", "http")),
                                            (1, ("203.0.113.9", "https"))])
def test_forwarded_headers_are_trusted_only_when_configured(models, hops, expected):
    app = make_app(models["none"], trusted_proxies=hops)
    app.add_url_rule("/whoami", "whoami", lambda: {"addr": request.remote_addr,
                                                   "scheme": request.scheme})
    answer = app.test_client().get("/whoami", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}).get_json()
    assert (answer["addr"], answer["scheme"]) == expected


def test_each_loaded_version_reports_its_load_time_and_state(models):
    app = make_app(models["good"])
    try:
        client, labels = app.test_client(), dict(model="half_plus_two", version="123")
        assert sample(client, "serving_model_load_seconds_count", state="AVAILABLE", **labels) >= 1
        assert sample(client, "serving_model_version_state", state="AVAILABLE", **labels) == 1
        assert sample(client, "serving_model_version_state", state="LOADING", **labels) == 0
    finally:
        app.extensions["serving"].close()
