"""Version policies, labels and config-file reloads, through a real server and its config file."""

import pytest

from tests.support.helpers import ServerProcess, copy_version, wait_until

TWO, THREE = "saved_model_half_plus_two_cpu", "saved_model_half_plus_three"
TOKEN = "policy-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = """model_config_list {{
  config {{ name: "latest2" base_path: "{root}/latest2" model_platform: "tensorflow"
           model_version_policy {{ latest {{ num_versions: {latest} }} }} }}
  config {{ name: "every" base_path: "{root}/every" model_platform: "tensorflow"
           model_version_policy {{ all {{}} }}
           version_labels {{ key: "stable" value: 1 }}
           version_labels {{ key: "canary" value: 2 }}{extra_label} }}
  config {{ name: "picked" base_path: "{root}/picked" model_platform: "tensorflow"
           model_version_policy {{ specific {{ versions: 1 versions: 3 }} }} }}
}}
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    for name, versions in {"latest2": [1, 2, 3], "every": [1, 2], "picked": [1, 2, 3]}.items():
        (root / name).mkdir()
        for version in versions:
            copy_version(TWO, root / name, version)
    config = root / "models.config"

    def write(latest=2, extra_label="", text=None):
        config.write_text(text if text is not None else
                          CONFIG.format(root=root, latest=latest, extra_label=extra_label))
    write()
    # One worker: each step reads back what the previous one changed; how several workers
    # converge on a config change is tests/test_admin.py's subject.
    server = ServerProcess(f"--model_config_file={config}", "--workers=1",
                           "--file_system_poll_wait_seconds=1",
                           "--model_config_file_poll_wait_seconds=1", env={"ADMIN_TOKEN": TOKEN})
    yield server, write
    server.stop()


def status(server, name):
    reply = server.get(f"/v1/models/{name}").json()["model_version_status"]
    return [(s["version"], s["state"]) for s in reply]


def admin_model(server, name):
    return server.get(f"/v1/admin/models/{name}", headers=AUTH).json()


def test_latest_2_serves_the_two_newest_versions(deployment):
    server, _ = deployment
    assert status(server, "latest2") == [("3", "AVAILABLE"), ("2", "AVAILABLE")]
    assert server.post("/v1/models/latest2:predict", json={"instances": [1.0]}).headers[
        "X-Model-Version"] == "3"
    reply = server.post("/v1/models/latest2/versions/1:predict", json={"instances": [1.0]})
    assert reply.status_code == 404
    assert reply.json() == {"error": "Servable not found for request: Specific(latest2, 1)"}


def test_all_serves_every_version(deployment):
    server, _ = deployment
    assert status(server, "every") == [("2", "AVAILABLE"), ("1", "AVAILABLE")]


def test_specific_serves_exactly_the_listed_versions(deployment):
    server, _ = deployment
    assert status(server, "picked") == [("3", "AVAILABLE"), ("1", "AVAILABLE")]


@pytest.mark.parametrize("label, version", [("stable", "1"), ("canary", "2")])
def test_a_label_in_the_url_selects_its_version_on_every_verb(deployment, label, version):
    server, _ = deployment
    path = f"/v1/models/every/labels/{label}"
    predict = server.post(f"{path}:predict", json={"instances": [1.0]})
    assert predict.json() == {"predictions": [2.5]}
    regress = server.post(f"{path}:regress", json={"signature_name": "regress_x_to_y",
                                                   "examples": [{"x": 1.0}]})
    assert regress.json() == {"results": [2.5]}
    classify = server.post(f"{path}:classify", json={"signature_name": "classify_x_to_y",
                                                     "examples": [{"x": 1.0}]})
    assert classify.json() == {"results": [[["", 2.5]]]}
    assert {r.headers["X-Model-Version"] for r in (predict, regress, classify)} == {version}
    assert server.get(f"{path}/metadata").json()["model_spec"]["version"] == version


def test_an_unknown_label_is_a_400(deployment):
    server, _ = deployment
    reply = server.post("/v1/models/every/labels/nope:predict", json={"instances": [1.0]})
    assert reply.status_code == 400
    assert reply.json() == {"error": "Unrecognized servable version label: nope"}


def test_a_config_label_naming_an_unavailable_version_is_refused_and_the_old_labels_stay(
        deployment):
    server, write = deployment
    write(extra_label='\n           version_labels { key: "broken" value: 9 }')
    try:
        wait_until(lambda: admin_model(server, "every")["label_error"])
        assert admin_model(server, "every")["label_error"] == (
            "Request to assign label to version 9 of model every, which is not currently "
            "available for inference")
        assert admin_model(server, "every")["labels"] == {"stable": 1, "canary": 2}
        reply = server.post("/v1/models/every/labels/broken:predict", json={"instances": [1.0]})
        assert reply.status_code == 400
    finally:
        write()
    wait_until(lambda: admin_model(server, "every")["label_error"] == "")


def test_editing_the_policy_in_the_config_file_unloads_what_it_no_longer_wants(deployment):
    server, write = deployment
    write(latest=1)
    try:
        wait_until(lambda: status(server, "latest2") == [("3", "AVAILABLE"), ("2", "END")])
    finally:
        write()
    wait_until(lambda: status(server, "latest2") == [("3", "AVAILABLE"), ("2", "AVAILABLE")])


def test_an_unparsable_config_edit_is_logged_and_the_old_config_keeps_serving(deployment):
    server, write = deployment
    write(text="model_config_list { config { name: ")
    try:
        wait_until(lambda: server.get("/v1/admin/models", headers=AUTH).json()["config_error"])
        error = server.get("/v1/admin/models", headers=AUTH).json()["config_error"]
        assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in error
        reply = server.post("/v1/models/every/labels/stable:predict", json={"instances": [1.0]})
        assert reply.json() == {"predictions": [2.5]}
    finally:
        write()
    wait_until(lambda: not server.get("/v1/admin/models", headers=AUTH).json()["config_error"])
