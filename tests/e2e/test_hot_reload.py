"""Hot reload: versions copied into or deleted from a base path while 8 clients keep calling.

The versions alternate between half_plus_two (x=1 → 2.5) and half_plus_three (x=1 → 3.5), so
an answer shows which weights served it as well as its X-Model-Version header.
"""
import shutil

import pytest

from serving.models.source import SETTLE_SECONDS
from tests.support.helpers import Load, ServerProcess, copy_version, model_source, wait_until

POLL = 1.0
LOAD_SECONDS = 5.0                                   # generous, for a busy 2-core machine
TWO, THREE = "saved_model_half_plus_two_cpu", "saved_model_half_plus_three"
ANSWER = {TWO: [2.5], THREE: [3.5]}
BODY = {"instances": [1.0]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One worker: each worker polls the base path on its own, so two could briefly disagree
    about a version's state between two reads (test_admin covers workers converging)."""
    base = tmp_path_factory.mktemp("hot") / "hpt"
    base.mkdir()
    copy_version(TWO, base, 1)
    server = ServerProcess("--model_name=hpt", f"--model_base_path={base}", "--workers=1",
                           f"--file_system_poll_wait_seconds={POLL}")
    yield server, base
    server.stop()


def newest(base) -> int:
    return max(int(p.name) for p in base.iterdir() if p.name.isdigit())


def unused(server, base) -> int:
    """A version number neither on disk nor ever tracked (status keeps unloaded ones)."""
    return max([newest(base), *(int(v) for v, _, _ in states(server))]) + 1


def states(server) -> list[tuple[str, str, str]]:
    reply = server.get("/v1/models/hpt").json()["model_version_status"]
    return [(s["version"], s["state"], s["status"]["error_code"]) for s in reply]


def serving_version(server) -> str:
    return server.post("/v1/models/hpt:predict", json=BODY).headers["X-Model-Version"]


def switch_under_load(server, change, to_version: int, answer: list) -> float:
    """Run `change()` under load; return seconds until `to_version` answered. Asserts that no
    request failed and that every request started after that first answer got the new one."""
    with Load(server.url + "/v1/models/hpt:predict", BODY, clients=8) as load:
        load.wait_for(lambda a: True, timeout=30)  # under load before the change
        change()
        took = load.wait_for(lambda a: a[3] == str(to_version), timeout=30)
        first = min(a[1] for a in list(load.answers) if a[3] == str(to_version))
        load.wait_for_count(lambda a: a[0] > first, 40, timeout=30)  # answers after the switch
    assert load.failures() == []
    first = min(a[1] for a in load.answers if a[3] == str(to_version))
    after = [a for a in load.answers if a[0] > first]
    assert after and {(a[3], tuple(a[4]["predictions"])) for a in after} == {(str(to_version),
                                                                               tuple(answer))}
    return took


def test_a_copied_version_takes_over_under_load_without_a_failed_request(served):
    server, base = served
    version = newest(base) + 1
    took = switch_under_load(server, lambda: copy_version(THREE, base, version), version,
                             ANSWER[THREE])
    print(f"\nnew version answering {took:.2f}s after its copy began")
    assert took < 2 * POLL + SETTLE_SECONDS + LOAD_SECONDS
    wait_until(lambda: states(server)[1][1] == "END")  # the old one unloaded after
    assert states(server)[0] == (str(version), "AVAILABLE", "OK")


def test_deleting_the_newest_version_rolls_back_under_load(served):
    server, base = served
    previous = newest(base)
    before = server.post("/v1/models/hpt:predict", json=BODY).json()["predictions"]
    copy_version(TWO if before == ANSWER[THREE] else THREE, base, previous + 1)
    wait_until(lambda: serving_version(server) == str(previous + 1))
    took = switch_under_load(server, lambda: shutil.rmtree(base / str(previous + 1)), previous,
                             before)
    print(f"\nrolled back {took:.2f}s after the delete")
    assert took < 2 * POLL + SETTLE_SECONDS + LOAD_SECONDS


def test_a_corrupt_version_never_replaces_the_good_one_and_shows_its_error(served):
    server, base = served
    good, fresh = newest(base), unused(server, base)
    bad = base / str(fresh)
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"this is not a protobuf")
    try:
        with Load(server.url + "/v1/models/hpt:predict", BODY, clients=8) as load:
            wait_until(lambda: states(server)[0][:2] == (str(fresh), "END"))
        assert load.failures() == []
        assert {a[3] for a in load.answers} == {str(good)}
        reply = server.get(f"/v1/models/hpt/versions/{fresh}").json()["model_version_status"][0]
        assert reply["status"]["error_code"] != "OK" and reply["status"]["error_message"]
        listed = [int(v) for v, _, _ in states(server)]
        assert listed == sorted(listed, reverse=True)  # newest first, as TF Serving lists them
    finally:
        shutil.rmtree(bad)  # a later test must not take the corrupt copy for the newest
    wait_until(lambda: str(fresh) not in [v for v, _, _ in states(server)])


def test_a_half_copied_version_fails_then_loads_once_the_copy_completes(served):
    server, base = served
    good, fresh = newest(base), unused(server, base)
    partial = base / str(fresh)
    partial.mkdir()
    source = next(p for p in model_source(THREE).iterdir() if p.name.isdigit())
    shutil.copy(source / "saved_model.pb", partial)  # variables/ not there yet
    wait_until(lambda: states(server)[0][:2] == (str(fresh), "END"))
    assert serving_version(server) == str(good)
    shutil.copytree(source / "variables", partial / "variables")
    wait_until(lambda: serving_version(server) == str(fresh))
    reply = server.post("/v1/models/hpt:predict", json=BODY).json()
    assert reply == {"predictions": ANSWER[THREE]}


def test_a_broken_newest_version_at_start_leaves_the_previous_one_serving(tmp_path):
    from app import create_app
    base = tmp_path / "hpt"
    base.mkdir()
    copy_version(TWO, base, 1)
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"garbage")
    app = create_app({"model_name": "hpt", "model_base_path": str(base),
                      "file_system_poll_wait_seconds": 0})
    try:
        client = app.test_client()
        reply = client.post("/v1/models/hpt:predict", json=BODY)
        assert reply.status_code == 200 and reply.headers["X-Model-Version"] == "1"
        status = client.get("/v1/models/hpt").get_json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("2", "END"), ("1", "AVAILABLE")]
    finally:
        app.extensions["serving"].close()
