"""Operator state on disk (serving/routing/store.py): read-modify-write under an exclusive
lock, atomic replacement, and labels kept in the config file's own version_labels."""
import json
import threading

import pytest

from serving.config.model_config import read_model_config
from serving.errors import NotFound
from serving.routing import store


def test_changes_from_many_threads_at_once_all_land(tmp_path):
    path = tmp_path / "routing.json"

    def add(index):
        store.update_state(str(path), lambda data: data["models"].setdefault(
            "m", {}).setdefault("labels", {}).__setitem__(f"l{index}", index))
    threads = [threading.Thread(target=add, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    labels = json.loads(path.read_text())["models"]["m"]["labels"]
    assert labels == {f"l{i}": i for i in range(40)}


def test_entries_left_empty_are_dropped(tmp_path):
    path = tmp_path / "routing.json"
    store.update_state(str(path), lambda data: data["models"].update(
        {"m": {"default": 1, "labels": {"a": 1}}}))
    store.update_state(str(path), lambda data: data["models"]["m"].pop("default"))
    store.update_state(str(path), lambda data: data["models"]["m"]["labels"].clear())
    assert json.loads(path.read_text())["models"] == {}


def test_every_write_is_new_bytes_even_back_to_the_same_state(tmp_path):
    """Workers acknowledge a write by its digest: unload, load, unload must not repeat one."""
    path, seen = tmp_path / "routing.json", set()
    for unloaded in (True, False, True, False):
        store.update_state(str(path), lambda data: data["models"].update(
            {"m": {"unloaded": True} if unloaded else {}}))
        seen.add(path.read_bytes())
    assert len(seen) == 4


def test_a_failed_change_writes_nothing(tmp_path):
    path = tmp_path / "routing.json"
    store.update_state(str(path), lambda data: data["models"].update({"m": {"default": 1}}))
    before = path.read_bytes()

    def refuse(data):
        data["models"]["m"]["default"] = 2
        raise NotFound("no")
    with pytest.raises(NotFound):
        store.update_state(str(path), refuse)
    assert path.read_bytes() == before


def test_a_state_file_that_is_not_an_object_of_models_is_an_error(tmp_path):
    path = tmp_path / "routing.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match='"models" object'):
        store.read_state(str(path))
    assert store.read_state(str(tmp_path / "absent.json")) == {"models": {}}


def test_labels_go_into_the_config_files_version_labels_and_relative_paths_stay(tmp_path):
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "m" base_path: "m" '
                      'model_platform: "tensorflow" } }')
    store.update_config_labels(str(config), "m", lambda labels: labels.update(stable=3))
    assert 'base_path: "m"' in config.read_text()
    (entry,) = read_model_config(str(config)).model_config_list.config
    assert dict(entry.version_labels) == {"stable": 3}
    with pytest.raises(NotFound, match="not in the model config file"):
        store.update_config_labels(str(config), "other", lambda labels: None)
