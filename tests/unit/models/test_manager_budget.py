"""The manager under a memory budget: versions are registered AVAILABLE and load on their
first request; a failed load ends the version as at start; a new version of a model in
memory loads before the old one goes, one not in memory only registers."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import LoadError, Unavailable
from serving.models.manager import ModelManager
from serving.models.residency import Residency
from serving.models.servable import Servable
from serving.models.state import AVAILABLE, END


class Loader:
    def __init__(self):
        self.loaded: list[tuple[str, int]] = []
        self.closed: list[tuple[str, int]] = []
        self.broken: set[int] = set()

    def __call__(self, name, version, path):
        if version in self.broken:
            raise LoadError(f"version {version} is broken", "INVALID_ARGUMENT")
        self.loaded.append((name, version))
        return Servable(name, version, SimpleNamespace(
            servable_signatures={}, run=None,
            close=lambda: self.closed.append((name, version))))


@pytest.fixture
def setup(tmp_path):
    loader = Loader()
    residency = Residency(10**9, pinned={"pinned"}, memory=lambda: 0,
                          release=lambda refrozen: None)
    manager = ModelManager(loader, residency=residency)
    config = model_server_config_pb2.ModelConfigList()
    for name in ("m", "pinned"):
        (tmp_path / name).mkdir()
        config.config.add(name=name, base_path=str(tmp_path / name))
    manager.configure(config)
    yield manager, loader, tmp_path
    manager.close()


def add_version(base, version: int) -> None:
    (base / str(version)).mkdir()
    (base / str(version) / "saved_model.pb").write_bytes(b"x" * 100)


def test_versions_are_registered_available_and_load_on_their_first_request(setup):
    manager, loader, base = setup
    add_version(base / "m", 1)
    manager.sync("m")
    assert [(s.version, s.state) for s in manager.status("m")] == [(1, AVAILABLE)]
    assert loader.loaded == [] and manager.resident_bytes("m", 1) is None
    servable = manager.acquire("m")
    servable.release()
    assert loader.loaded == [("m", 1)] and manager.resident_bytes("m", 1) == 100


def test_a_pinned_model_loads_when_it_is_registered(setup):
    manager, loader, base = setup
    add_version(base / "pinned", 1)
    manager.sync("pinned")
    assert loader.loaded == [("pinned", 1)]


def test_a_failed_load_on_demand_ends_the_version_and_the_request_is_told_why(setup):
    manager, loader, base = setup
    add_version(base / "m", 1)
    manager.sync("m")
    loader.broken.add(1)
    with pytest.raises(Unavailable, match="version 1 is broken"):
        manager.acquire("m")
    (status,) = manager.status("m")
    assert status.state == END and status.error_code == "INVALID_ARGUMENT"


def test_a_new_version_of_a_model_in_memory_loads_before_the_old_one_goes(setup):
    manager, loader, base = setup
    add_version(base / "m", 1)
    manager.sync("m")
    manager.acquire("m").release()
    add_version(base / "m", 2)
    manager.sync("m")
    assert loader.loaded == [("m", 1), ("m", 2)]
    assert [(s.version, s.state) for s in manager.status("m")] == [(2, AVAILABLE), (1, END)]
    assert manager.resident_bytes("m", 2) is not None and manager.resident_bytes("m", 1) is None


def test_a_new_version_of_a_model_not_in_memory_is_only_registered(setup):
    manager, loader, base = setup
    add_version(base / "m", 1)
    manager.sync("m")
    add_version(base / "m", 2)
    manager.sync("m")
    assert loader.loaded == []
    servable = manager.acquire("m")
    assert servable.version == 2
    servable.release()


def test_an_admin_unload_keeps_the_model_available_and_it_loads_again(setup):
    manager, loader, base = setup
    add_version(base / "m", 1)
    manager.sync("m")
    manager.load_now("m")
    assert manager.unload_now("m") == 1 and manager.resident_bytes("m", 1) is None
    assert [(s.version, s.state) for s in manager.status("m")] == [(1, AVAILABLE)]
    manager.acquire("m").release()
    assert loader.loaded == [("m", 1), ("m", 1)]
