"""HandleReloadConfigRequest in the core (serving/routing/control.py, reload.py): two workers'
controls over one config file; what one reloads the other applies from the disk, and the
operator's own file is never rewritten."""
from __future__ import annotations

import os
import time

import pytest
from tensorflow_serving.apis import model_management_pb2

from serving.config.settings import Settings
from serving.errors import FailedPrecondition, InvalidArgument
from serving.models.manager import ModelManager
from serving.models.state import AVAILABLE, END
from serving.routing.control import VersionControl
from tests.unit.routing.conftest import servable


def model_dir(root, name, versions=("1",)):
    for version in versions:
        (root / name / version).mkdir(parents=True)
        (root / name / version / "saved_model.pb").write_bytes(b"x")
    return root / name


def config_text(models: dict) -> str:
    return "model_config_list {\n" + "".join(
        f'  config {{ name: "{n}" base_path: "{b}" model_platform: "tensorflow" }}\n'
        for n, b in models.items()) + "}\n"


@pytest.fixture
def two(tmp_path):
    """Two workers' controls over a config file naming model a, with config polling on."""
    a, b = model_dir(tmp_path, "a"), model_dir(tmp_path, "b", ("1", "2"))
    config = tmp_path / "models.config"
    config.write_text(config_text({"a": a}))
    settings = Settings.load(environ={}, overrides={
        "model_config_file": str(config), "file_system_poll_wait_seconds": 0,
        "model_config_file_poll_wait_seconds": 1, "rest_api_port": 0, "port": 0})
    controls = []
    for _ in range(2):
        control = VersionControl(ModelManager(servable), settings)
        control.refresh(force=True)
        control.manager.sync_all()
        controls.append(control)
    yield controls, config, a, b
    for control in controls:
        control.manager.close()


def request(models: dict, **labels) -> model_management_pb2.ReloadConfigRequest:
    message = model_management_pb2.ReloadConfigRequest()
    for name, base in models.items():
        entry = message.config.model_config_list.config.add(
            name=name, base_path=str(base), model_platform="tensorflow")
        entry.version_labels.update(labels.get(name, {}))
    return message


def test_a_reload_is_kept_beside_the_config_and_the_other_worker_applies_it(two):
    (one, other), config, a, b = two
    before = config.read_text()
    one.reload_config(request({"b": b}).config, timeout=5)
    assert config.read_text() == before
    assert "b" in open(f"{config}.reloaded").read()
    assert other.refresh(watch_config=False)
    other.manager.sync_all()
    assert other.manager.model_names() == ["b"]
    assert [(s.version, s.state) for s in other.manager.status("a")] == [(1, END)]


def test_an_edit_of_the_config_file_under_polling_ends_an_older_reload(two):
    (one, other), config, a, b = two
    one.reload_config(request({"b": b}).config, timeout=5)
    time.sleep(0.01)
    config.write_text(config_text({"a": a}) + "\n")
    os.utime(config)
    assert other.refresh(watch_config=True)
    assert not os.path.exists(f"{config}.reloaded")
    assert other.manager.model_names() == ["a"]


def test_labels_are_checked_before_anything_changes(two):
    (one, _), config, a, b = two
    with pytest.raises(FailedPrecondition, match="Request to assign label to version 2 of "
                       "model a, which is not currently available for inference"):
        one.reload_config(request({"a": a}, a={"x": 2}).config, timeout=5)
    assert not os.path.exists(f"{config}.reloaded")
    with pytest.raises(InvalidArgument, match="Illegal to list model a multiple"):
        one.reload_config(request({"a": a, "b": b}).config.__class__(
            model_config_list={"config": [{"name": "a", "base_path": str(a)}] * 2}))


def test_a_model_added_again_keeps_the_end_of_its_earlier_versions(two):
    (one, _), _, a, b = two
    one.reload_config(request({"b": b}).config, timeout=5)
    one.reload_config(request({"a": a, "b": b}).config, timeout=5)
    assert [(s.version, s.state) for s in one.manager.status("a")] == [(1, AVAILABLE)]
    one.reload_config(request({"a": b}).config, timeout=5)  # a swapped to b's versions
    assert [(s.version, s.state) for s in one.manager.status("a")] == [(2, AVAILABLE),
                                                                       (1, END)]


def test_a_restart_forgets_a_reload_as_tf_serving_does(two):
    from serving.config import model_config
    (one, _), config, a, b = two
    one.reload_config(request({"b": b}).config, timeout=5)
    settings = one.settings
    try:
        model_config.take_snapshot(settings)  # what the next master does before forking
        assert not os.path.exists(f"{config}.reloaded")
        assert model_config.snapshot_for(settings).model_config().model_config_list \
            .config[0].name == "a"
    finally:
        model_config._snapshot = None
