"""Model repositories in S3, through the real server with two workers and a real S3 server
(SeaweedFS, which refuses a wrong key), reached through a proxy that counts requests."""
import filecmp
import os
import subprocess
import sys
import time

import pytest

from serving.models.source import SETTLE_SECONDS
from tests.support.helpers import (ROOT, Load, ServerProcess, copy_model, model_source,
                                   wait_until, write_config)
from tests.support.object_store import ACCESS_KEY, SECRET_KEY, CountingProxy, SeaweedFS

POLL = 1.0
LOAD_SECONDS = 5.0                                  # generous, for a busy 2-core machine
TWO, THREE = "saved_model_half_plus_two_cpu", "saved_model_half_plus_three"
BODY = {"instances": [1.0]}


def version_dir(model: str):
    return next(p for p in model_source(model).iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    seaweed = SeaweedFS(tmp_path_factory.mktemp("seaweed"))
    seaweed.client.create_bucket(Bucket="models")
    proxy = CountingProxy(seaweed.port)
    yield seaweed, proxy
    proxy.stop()
    seaweed.stop()


def s3_env(endpoint: str, key: str = ACCESS_KEY) -> dict:
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def served(store, tmp_path_factory):
    """hpt (s3://models/hpt, v1 = half_plus_two) beside a local model, two workers."""
    seaweed, proxy = store
    seaweed.upload_tree(version_dir(TWO), "models", "hpt/1")
    folder = tmp_path_factory.mktemp("mixed")
    local = copy_model(TWO, folder / "local")
    config = write_config(folder / "models.config", {"hpt": "s3://models/hpt", "local": local})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           f"--file_system_poll_wait_seconds={POLL}",
                           f"--model_cache_dir={folder / 'cache'}",
                           env=s3_env(proxy.endpoint), ready_path="/readyz")
    yield server, seaweed, proxy, folder / "cache"
    server.stop()


def states(server, name="hpt") -> list[tuple[str, str]]:
    reply = server.get(f"/v1/models/{name}").json().get("model_version_status", [])
    return [(s["version"], s["state"]) for s in reply]


def test_a_version_in_s3_serves_beside_a_local_model(served):
    server, *_ = served
    assert server.post("/v1/models/hpt:predict", json=BODY).json() == {"predictions": [2.5]}
    assert server.post("/v1/models/local:predict", json=BODY).json() == {"predictions": [2.5]}
    assert states(server) == [("1", "AVAILABLE")]


def test_each_poll_costs_one_listing_for_the_whole_server_once_versions_are_loaded(served):
    server, _, proxy, _ = served
    wait_until(lambda: states(server) == [("1", "AVAILABLE")])
    time.sleep(POLL)
    before, started = proxy.count(), time.monotonic()
    time.sleep(10 * POLL)
    requests = proxy.requests[before:]
    polls = (time.monotonic() - started) / POLL
    print(f"\n{len(requests)} S3 requests in {polls:.1f} polls, two workers: {set(requests)}")
    assert all("delimiter=%2F" in r for r in requests)  # only the base path's listing
    assert len(requests) <= polls + 2                     # shared by the two workers


def test_a_version_uploaded_file_by_file_under_load_takes_over_without_a_failed_request(served):
    server, seaweed, proxy, cache = served
    seen = set()
    with Load(server.url + "/v1/models/hpt:predict", BODY, clients=6) as load:
        load.wait_for(lambda a: True, timeout=30)
        seaweed.upload_tree(version_dir(THREE), "models", "hpt/2", pause=0.3)
        uploaded = time.monotonic()
        while time.monotonic() - uploaded < 2 * POLL + SETTLE_SECONDS + LOAD_SECONDS:
            seen.update(states(server))
            if any(a[3] == "2" for a in list(load.answers)):
                break
            time.sleep(0.05)
        took = load.wait_for(lambda a: a[3] == "2", timeout=1) + time.monotonic() - uploaded
        first = min(a[1] for a in list(load.answers) if a[3] == "2")
        load.wait_for_count(lambda a: a[0] > first, 30, timeout=30)
    print(f"\nv2 answering {took:.2f}s after its last object was uploaded")
    assert load.failures() == []
    assert {(a[3], tuple(a[4]["predictions"])) for a in load.answers} <= {("1", (2.5,)),
                                                                          ("2", (3.5,))}
    assert ("2", "END") not in seen  # never tried half uploaded
    assert took < 2 * POLL + SETTLE_SECONDS + LOAD_SECONDS
    copies = sorted(p.name for p in next(cache.iterdir()).iterdir() if p.name.isdigit())
    assert copies == ["1", "2"]  # one copy each for both workers
    downloads = [r for r in proxy.requests if r.startswith("GET /models/hpt/2/")]
    assert len(downloads) == len(set(downloads)) == len(
        [f for f in version_dir(THREE).rglob("*") if f.is_file()])  # each object once


def test_a_wrong_key_is_the_models_error_and_the_local_model_keeps_serving(store, tmp_path):
    seaweed, _ = store
    local = copy_model(TWO, tmp_path / "local")
    config = write_config(tmp_path / "models.config", {"hpt": "s3://models/hpt", "local": local})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           f"--file_system_poll_wait_seconds={POLL}",
                           f"--model_cache_dir={tmp_path / 'cache'}",
                           env=s3_env(seaweed.endpoint, key="not-a-key"))
    try:
        assert server.post("/v1/models/local:predict", json=BODY).json() == {
            "predictions": [2.5]}
        reply = server.get("/v1/models/hpt")
        assert reply.status_code == 404
        assert "s3://models/hpt" in reply.json()["error"]
        assert "access key" in reply.json()["error"].lower()
        time.sleep(3 * POLL)
        errors = [line for line in server.log_path.read_text().splitlines()
                  if "ERROR" in line and "s3://models/hpt" in line]
        assert errors and "access key" in errors[0].lower()
        assert len(errors) <= 2  # one line per worker, not one per poll
    finally:
        server.stop()


def test_an_unreachable_endpoint_leaves_the_serving_version_serving(store, tmp_path):
    seaweed, _ = store
    seaweed.upload_tree(version_dir(TWO), "models", "down/1")
    proxy = CountingProxy(seaweed.port)
    config = write_config(tmp_path / "models.config", {"hpt": "s3://models/down"})
    server = ServerProcess(f"--model_config_file={config}", "--workers=2",
                           f"--file_system_poll_wait_seconds={POLL}",
                           f"--model_cache_dir={tmp_path / 'cache'}",
                           env=s3_env(proxy.endpoint))
    try:
        wait_until(lambda: server.post("/v1/models/hpt:predict", json=BODY).ok)
        proxy.stop()  # the endpoint goes away
        with Load(server.url + "/v1/models/hpt:predict", BODY, clients=4) as load:
            wait_until(lambda: "cannot list base path s3://models/down" in server.log(),
                       timeout=30)
            time.sleep(2 * POLL)
        assert load.answers and load.failures() == []
        assert [v for v, s in states(server) if s == "AVAILABLE"]
    finally:
        server.stop()


def test_model_tool_sync_copies_whole_versions_into_a_local_layout(store, tmp_path):
    seaweed, _ = store
    seaweed.upload_tree(version_dir(TWO), "models", "repo/a/1")
    seaweed.upload_tree(version_dir(THREE), "models", "repo/b/7")
    seaweed.upload_tree(version_dir(THREE), "models", "repo/b/8")
    seaweed.client.delete_object(Bucket="models", Key="repo/b/8/saved_model.pb")  # half there
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_tool.py"), "sync",
                          "s3://models/repo", str(tmp_path / "models")],
                         env={**os.environ, **s3_env(seaweed.endpoint)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["a", "b"]
    assert [p.name for p in (tmp_path / "models" / "b").iterdir()] == ["7"]
    for local, source in ((tmp_path / "models" / "a" / "1", version_dir(TWO)),
                          (tmp_path / "models" / "b" / "7", version_dir(THREE))):
        files = sorted(str(f.relative_to(source)) for f in source.rglob("*") if f.is_file())
        assert sorted(str(f.relative_to(local)) for f in local.rglob("*") if f.is_file()) == files
        assert filecmp.cmpfiles(source, local, files, shallow=False)[0] == files
