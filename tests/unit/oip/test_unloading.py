"""Unloading through the repository API (serving/routing/unloading.py): the model stays known
but wants no version, labels and routes included, and loading it again restores its config."""
from __future__ import annotations

from types import SimpleNamespace

from tensorflow_serving.config import model_server_config_pb2

from serving.models.manager import ModelManager
from serving.models.routes import Route
from serving.models.servable import Servable
from serving.models.state import AVAILABLE, END
from serving.routing import unloading


def _load(name, version, path):
    return Servable(name, version, SimpleNamespace(servable_signatures={}, run=None,
                                                   close=lambda: None))


def add_version(base, version: int) -> None:
    (base / str(version)).mkdir()
    (base / str(version) / "saved_model.pb").write_bytes(b"x")


def test_an_unloaded_model_keeps_its_name_and_gets_its_versions_back_on_load(tmp_path):
    manager = ModelManager(_load)
    listing = model_server_config_pb2.ModelConfigList()
    listing.config.add(name="m", base_path=str(tmp_path)).model_version_policy.all.SetInParent()
    manager.configure(listing)
    add_version(tmp_path, 1)
    add_version(tmp_path, 2)
    manager.sync("m")
    manager.set_route("m", Route(pinned=1))
    marked = {"models": {"m": {"unloaded": True}}}
    assert unloading.apply(manager, marked) and unloading.is_unloaded(manager, "m")
    manager.sync("m")
    assert manager.knows("m") and {s.state for s in manager.status("m")} == {END}
    assert manager.route("m") is None
    assert not unloading.apply(manager, marked)            # applied once, then unchanged
    assert unloading.apply(manager, {"models": {}}) and not unloading.is_unloaded(manager, "m")
    manager.sync("m")
    assert {s.version for s in manager.status("m") if s.state == AVAILABLE} == {1, 2}
    manager.close()


def test_a_worker_started_after_an_unload_never_loads_that_model(tmp_path):
    import json
    state = tmp_path / "routing.json"
    state.write_text(json.dumps({"models": {"m": {"unloaded": True}}}))
    base = tmp_path / "m"
    base.mkdir()
    add_version(base, 1)
    loaded = []
    manager = ModelManager(lambda name, version, path: loaded.append(version) or
                           _load(name, version, path))
    listing = model_server_config_pb2.ModelConfigList()
    listing.config.add(name="m", base_path=str(base))
    manager.configure(listing)
    unloading.apply_from_disk(manager, SimpleNamespace(routing_state_file=str(state)))
    manager.sync_all()
    assert loaded == [] and manager.knows("m") and unloading.is_unloaded(manager, "m")
    manager.close()
