"""The version-switching routes, on a real server with two gunicorn workers.

A change goes through whichever worker accepts it; the test then asks the admin listing on
fresh connections until both workers (told apart by `worker_pid`) have answered with it.
Version 1 is half_plus_two (x=1 → 2.5) and version 2 half_plus_three (x=1 → 3.5).
"""
import concurrent.futures
import json
import random
import time
from collections import Counter

import pytest
import requests

from tests.support.helpers import ServerProcess, copy_version, wait_until, write_config

POLL = 1.0
TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = {"instances": [1.0]}
FOLLOW_WITHIN = POLL + 4.0          # a poll tick, plus meeting both workers on a busy box


class Deployment:
    def __init__(self, config):
        self.config = config
        self.server = None

    def start(self):
        self.server = ServerProcess(f"--model_config_file={self.config}", "--workers=2",
                                    f"--file_system_poll_wait_seconds={POLL}",
                                    env={"ADMIN_TOKEN": TOKEN})

    def restart(self):
        self.server.stop()
        self.start()

    def admin(self, method, path, json=None, headers=AUTH):
        return requests.request(method, f"{self.server.url}/v1/admin{path}", json=json,
                                headers=headers, timeout=30)

    def every_worker(self, check) -> float:
        """Seconds until both workers' listings of model "ab" satisfy check(listing)."""
        started, seen = time.monotonic(), {}
        while time.monotonic() - started < 30:
            reply = requests.get(f"{self.server.url}/v1/admin/models",
                                 headers={**AUTH, "Connection": "close"}, timeout=30).json()
            seen[reply["worker_pid"]] = check(reply["models"][0])
            if len(seen) == 2 and all(seen.values()):
                return time.monotonic() - started
        raise AssertionError(f"workers agreeing after 30s: {seen}")

    def versions_answering(self, count: int, path: str = "/v1/models/ab:predict") -> Counter:
        def one(_):
            reply = requests.post(self.server.url + path, json=BODY, timeout=30)
            assert reply.status_code == 200, reply.text
            return reply.headers["X-Model-Version"]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return Counter(pool.map(one, range(count)))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    base = root / "ab"
    base.mkdir()
    copy_version("saved_model_half_plus_two_cpu", base, 1)
    copy_version("saved_model_half_plus_three", base, 2)
    config = write_config(root / "models.config", {"ab": base},
                          extra="    model_version_policy { all {} }\n")
    deployment = Deployment(config)
    deployment.start()
    yield deployment
    deployment.server.stop()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_a_missing_or_wrong_token_gets_401_and_changes_nothing(deployment, headers):
    reply = deployment.admin("PUT", "/models/ab/default", {"version": 1}, headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {"error": "Missing or wrong bearer token for the admin routes."}
    assert reply.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert deployment.admin("GET", "/models/ab").json()["default"] is None
    assert not deployment.config.with_name("models.config.routing.json").exists()


def test_without_a_configured_token_the_routes_are_off(client):
    reply = client.get("/v1/admin/models", headers=AUTH)
    assert reply.status_code == 403
    assert "admin routes are off" in reply.get_json()["error"]


def test_the_listing_shows_versions_labels_and_routes(deployment):
    listing = deployment.admin("GET", "/models").json()
    assert [m["name"] for m in listing["models"]] == ["ab"]
    model = listing["models"][0]
    assert [(s["version"], s["state"]) for s in model["model_version_status"]] == [
        ("2", "AVAILABLE"), ("1", "AVAILABLE")]
    assert model["model_version_policy"] == {"all": {}}
    assert (model["labels"], model["default"], model["split"]) == ({}, None, None)


def test_pinning_the_default_version_moves_every_worker_and_unpinning_moves_them_back(deployment):
    assert deployment.admin("PUT", "/models/ab/default", {"version": 1}).status_code == 200
    took = deployment.every_worker(lambda m: m["default"] == 1)
    print(f"\nboth workers pinned {took:.2f}s after the PUT")
    assert took < FOLLOW_WITHIN
    assert deployment.versions_answering(40) == {"1": 40}
    assert deployment.admin("DELETE", "/models/ab/default").json()["default"] is None
    deployment.every_worker(lambda m: m["default"] is None)
    assert deployment.versions_answering(40) == {"2": 40}


def test_a_label_set_moved_and_deleted_through_the_routes(deployment):
    label = "/v1/models/ab/labels/canary:predict"
    assert deployment.admin("PUT", "/models/ab/labels/canary", {"version": 2}).status_code == 200
    assert 'key: "canary"' in deployment.config.read_text()  # TF Serving's own field
    deployment.every_worker(lambda m: m["labels"] == {"canary": 2})
    assert deployment.versions_answering(20, label) == {"2": 20}
    deployment.admin("PUT", "/models/ab/labels/canary", {"version": 1})
    deployment.every_worker(lambda m: m["labels"] == {"canary": 1})
    assert deployment.versions_answering(20, label) == {"1": 20}
    assert deployment.admin("DELETE", "/models/ab/labels/canary").status_code == 200
    deployment.every_worker(lambda m: m["labels"] == {})
    reply = requests.post(deployment.server.url + label, json=BODY, timeout=30)
    assert reply.status_code == 400
    assert reply.json() == {"error": "Unrecognized servable version label: canary"}


@pytest.mark.parametrize("path, body, asked", [
    ("/models/ab/labels/canary", {"version": 9}, "assign label to version 9 of model ab"),
    ("/models/ab/default", {"version": 9}, "pin the default version of model ab to version 9"),
    ("/models/ab/traffic", {"split": {"2": 50, "9": 50}},
     "send traffic of model ab to version 9")])
def test_routing_to_a_version_that_is_not_available_is_refused(deployment, path, body, asked):
    reply = deployment.admin("PUT", path, body)
    assert reply.status_code == 400
    assert reply.json() == {"error": f"Request to {asked}, which is not currently available "
                                     f"for inference"}
    model = deployment.admin("GET", "/models/ab").json()
    assert (model["labels"], model["default"], model["split"]) == ({}, None, None)


@pytest.mark.parametrize("method, path, body, status", [
    ("PUT", "/models/nope/default", {"version": 1}, 404),
    ("PUT", "/models/ab/default", {"versoin": 1}, 400),
    ("PUT", "/models/ab/default", {"version": "one"}, 400),
    ("PUT", "/models/ab/traffic", {"split": {"1": -5}}, 400),
    ("PUT", "/models/ab/traffic", {"split": {}}, 400),
    ("PUT", "/models/ab/labels/bad%20label", {"version": 1}, 400),
    ("DELETE", "/models/ab/labels/never-set", None, 404),
])
def test_bad_admin_requests_get_a_clear_4xx(deployment, method, path, body, status):
    reply = deployment.admin(method, path, body)
    assert reply.status_code == status
    assert reply.json()["error"]


def test_a_traffic_split_is_honoured_by_every_worker_over_1000_requests(deployment):
    reply = deployment.admin("PUT", "/models/ab/traffic", {"split": {"1": 90, "2": 10}})
    assert reply.json()["split"] == {"1": 90, "2": 10}
    try:
        deployment.every_worker(lambda m: m["split"] == {"1": 90, "2": 10})
        answered = deployment.versions_answering(1000)
        print(f"\nsplit 90/10 over 1000 requests: {dict(answered)}")
        # Binomial(1000, 0.1): mean 100, sd 9.5; five sd either side.
        assert set(answered) == {"1", "2"} and 52 <= answered["2"] <= 148
    finally:
        deployment.admin("DELETE", "/models/ab/traffic")
    deployment.every_worker(lambda m: m["split"] is None)


def test_labels_and_splits_survive_a_restart(deployment):
    deployment.admin("PUT", "/models/ab/labels/stable", {"version": 1})
    deployment.admin("PUT", "/models/ab/traffic", {"split": {"1": 50, "2": 50}})
    try:
        deployment.restart()
        model = deployment.admin("GET", "/models/ab").json()
        assert (model["labels"], model["split"]) == ({"stable": 1}, {"1": 50, "2": 50})
        assert set(deployment.versions_answering(100)) == {"1", "2"}
        assert deployment.versions_answering(10, "/v1/models/ab/labels/stable:predict") == {
            "1": 10}
    finally:
        deployment.admin("DELETE", "/models/ab/traffic")
        deployment.admin("DELETE", "/models/ab/labels/stable")


def test_reload_rereads_the_config_and_rescans_now(deployment):
    reply = deployment.admin("POST", "/reload")
    assert reply.status_code == 200
    assert [m["name"] for m in reply.json()["models"]] == ["ab"]


class Intended:
    """What the operator asked for so far, as the admin listing must end up showing it."""

    def __init__(self):
        self.default, self.split, self.labels = None, None, {}

    def listing(self) -> tuple:
        return self.default, self.split, self.labels

    def apply(self, rng, deployment):
        """One random change on a fresh connection; returns the reply."""
        kind = rng.choice(["pin", "unpin", "split", "clear", "label", "unlabel"])
        fresh = {**AUTH, "Connection": "close"}  # a new connection: either worker may answer
        if kind == "pin":
            version = rng.choice([1, 2])
            reply = deployment.admin("PUT", "/models/ab/default", {"version": version}, fresh)
            self.default, self.split = version, None
        elif kind == "unpin":
            reply = deployment.admin("DELETE", "/models/ab/default", headers=fresh)
            self.default = None
        elif kind == "split":
            weights = {"1": rng.randint(1, 9), "2": rng.randint(1, 9)}
            reply = deployment.admin("PUT", "/models/ab/traffic", {"split": weights}, fresh)
            self.default, self.split = None, weights
        elif kind == "clear":
            reply = deployment.admin("DELETE", "/models/ab/traffic", headers=fresh)
            self.split = None
        elif kind == "label":
            label, version = rng.choice(["stable", "canary"]), rng.choice([1, 2])
            reply = deployment.admin("PUT", f"/models/ab/labels/{label}", {"version": version},
                                     fresh)
            self.labels = {**self.labels, label: version}
        else:
            label = rng.choice(["stable", "canary"])
            reply = deployment.admin("DELETE", f"/models/ab/labels/{label}", headers=fresh)
            if label not in self.labels:
                assert reply.status_code == 404, reply.text
                return reply
            self.labels = {k: v for k, v in self.labels.items() if k != label}
        assert reply.status_code == 200, (kind, reply.text)
        return reply


@pytest.mark.parametrize("pause", [0.0, 0.25], ids=["back to back", "with pauses"])
def test_a_random_sequence_of_changes_through_both_workers_loses_none(deployment, pause):
    rng, intended, answered_by = random.Random(int(pause * 100) + 7), Intended(), set()
    try:
        for _ in range(80):
            reply = intended.apply(rng, deployment).json()
            answered_by.add(reply.get("worker_pid"))
            if "default" in reply:  # the answer shows what was written, not a stale view
                assert (reply["default"], reply["split"], reply["labels"]) == \
                    intended.listing(), reply
            time.sleep(pause)
        final = intended.listing()
        took = deployment.every_worker(lambda m: (m["default"], m["split"], m["labels"]) == final)
        print(f"\n80 changes through workers {sorted(p for p in answered_by if p)}; both "
              f"showed the last one {took:.2f}s after it")
        assert len(answered_by - {None}) == 2  # both workers took changes
        answered = deployment.versions_answering(60)
        if final[0] is not None:
            assert answered == {str(final[0]): 60}
        elif final[1] is not None:
            assert set(answered) <= set(final[1])
        else:
            assert answered == {"2": 60}
        for label, version in final[2].items():
            path = f"/v1/models/ab/labels/{label}:predict"
            assert deployment.versions_answering(8, path) == {str(version): 8}
    finally:
        deployment.admin("DELETE", "/models/ab/default")
        deployment.admin("DELETE", "/models/ab/traffic")
        for label in ("stable", "canary"):
            deployment.admin("DELETE", f"/models/ab/labels/{label}")
        deployment.every_worker(lambda m: (m["default"], m["split"], m["labels"]) ==
                                (None, None, {}))


@pytest.fixture
def single_model_app(tmp_path):
    """In-process app started the tensorflow_model_server way (no config file), latest{1}."""
    from app import create_app
    base = tmp_path / "one"
    base.mkdir()
    copy_version("saved_model_half_plus_two_cpu", base, 1)
    copy_version("saved_model_half_plus_three", base, 2)
    settings = {"model_name": "one", "model_base_path": str(base), "admin_token": TOKEN,
                "file_system_poll_wait_seconds": 0}
    apps = []

    def start():
        apps.append(create_app(settings))
        return apps[-1].test_client()
    yield base, start
    for app in apps:
        app.extensions["serving"].close()


def test_without_a_config_file_the_state_lives_in_routing_json_in_the_base_path(single_model_app):
    base, start = single_model_app
    client = start()
    assert client.put("/v1/admin/models/one/labels/stable", json={"version": 2},
                      headers=AUTH).status_code == 200
    assert client.put("/v1/admin/models/one/default", json={"version": 2},
                      headers=AUTH).status_code == 200
    assert json.loads((base / "routing.json").read_text())["models"] == {
        "one": {"default": 2, "labels": {"stable": 2}}}
    restarted = start()
    model = restarted.get("/v1/admin/models/one", headers=AUTH).get_json()
    assert (model["labels"], model["default"]) == ({"stable": 2}, 2)
    reply = restarted.post("/v1/models/one/labels/stable:predict", json=BODY)
    assert reply.get_json() == {"predictions": [3.5]}


def test_a_pinned_version_stays_loaded_and_answering_when_a_newer_one_arrives(single_model_app):
    base, start = single_model_app
    client = start()
    client.put("/v1/admin/models/one/default", json={"version": 2}, headers=AUTH)
    copy_version("saved_model_half_plus_two_cpu", base, 3)

    def loaded():  # a reload loads the copy once it has settled (serving/models/source.py)
        listing = client.post("/v1/admin/reload", headers=AUTH).get_json()["models"][0]
        return [(s["version"], s["state"]) for s in listing["model_version_status"]]
    wait_until(lambda: loaded()[0] == ("3", "AVAILABLE"), 30, "version 3 to load")
    assert loaded() == [("3", "AVAILABLE"), ("2", "AVAILABLE")]  # latest{1} would unload 2
    assert client.post("/v1/models/one:predict", json=BODY).headers["X-Model-Version"] == "2"
    client.delete("/v1/admin/models/one/default", headers=AUTH)
    assert client.post("/v1/models/one:predict", json=BODY).headers["X-Model-Version"] == "3"
    listing = client.post("/v1/admin/reload", headers=AUTH).get_json()["models"][0]
    assert [(s["version"], s["state"]) for s in listing["model_version_status"]][:2] == [
        ("3", "AVAILABLE"), ("2", "END")]  # unpinned: the policy lets it go


@pytest.mark.parametrize("method, path", [("POST", "/models/ab:load"),
                                          ("POST", "/models/ab:unload"),
                                          ("PUT", "/models/ab/resident"),
                                          ("DELETE", "/models/ab/resident")])
def test_the_memory_routes_without_a_budget_refuse_saying_why(deployment, method, path):
    reply = deployment.admin(method, path)
    assert reply.status_code == 400 and "--model_memory_budget" in reply.json()["error"]
