"""The manager (serving/models/manager.py): new versions load before old ones unload, a
failed load is reported while the model keeps serving, removed models are unloaded, and a
request's lease never lands on a version that is going away."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import LoadError
from serving.models.manager import ModelManager
from serving.models.servable import Servable
from serving.models.state import AVAILABLE, END, LOADING
from tests.support.helpers import wait_until


class Loader:
    """Loads instantly, or waits at a gate for chosen versions, or fails for chosen ones."""

    def __init__(self):
        self.gates: dict[int, threading.Event] = {}
        self.broken: set[int] = set()
        self.closed: list[int] = []

    def __call__(self, name, version, path):
        if version in self.gates:
            self.gates[version].wait(30)
        if version in self.broken:
            raise LoadError(f"version {version} is broken", "INVALID_ARGUMENT")
        return Servable(name, version, SimpleNamespace(
            servable_signatures={}, run=None, close=lambda: self.closed.append(version)))


@pytest.fixture
def setup(tmp_path):
    loader = Loader()
    manager = ModelManager(loader)
    config = model_server_config_pb2.ModelConfigList()
    config.config.add(name="m", base_path=str(tmp_path))
    manager.configure(config)
    yield manager, loader, tmp_path
    manager.close()


def add_version(base, version: int) -> None:
    (base / str(version)).mkdir()
    (base / str(version) / "saved_model.pb").write_bytes(b"x")


def states(manager) -> list[tuple[int, str]]:
    return [(s.version, s.state) for s in manager.status("m")]


def test_a_new_version_loads_before_the_old_one_is_unloaded(setup):
    manager, loader, base = setup
    add_version(base, 1)
    manager.sync("m")
    add_version(base, 2)
    loader.gates[2] = threading.Event()
    syncing = threading.Thread(target=manager.sync, args=("m",))
    syncing.start()
    wait_until(lambda: (2, LOADING) in states(manager), 10, "version 2 to start loading")
    assert manager.resolve("m").version == 1          # the old one answers meanwhile
    loader.gates[2].set()
    syncing.join(10)
    assert states(manager) == [(2, AVAILABLE), (1, END)]
    wait_until(lambda: loader.closed == [1], 10, "version 1 to be closed")


def test_a_version_that_fails_to_load_is_reported_and_the_old_one_keeps_serving(setup):
    manager, loader, base = setup
    add_version(base, 1)
    manager.sync("m")
    add_version(base, 2)
    loader.broken.add(2)
    manager.sync("m")
    (failed, serving) = manager.status("m")
    assert (failed.version, failed.state, failed.error_code) == (2, END, "INVALID_ARGUMENT")
    assert failed.error_message == "version 2 is broken"
    assert (serving.version, serving.state) == (1, AVAILABLE) and manager.resolve("m").version == 1


def test_a_model_removed_from_the_config_is_unloaded(setup):
    manager, loader, base = setup
    add_version(base, 1)
    manager.sync("m")
    manager.configure(model_server_config_pb2.ModelConfigList())
    assert manager.model_names() == []
    wait_until(lambda: loader.closed == [1], 10, "the removed model to be closed")


def test_a_lease_taken_as_a_version_retires_goes_to_its_successor(setup):
    manager, _, base = setup
    add_version(base, 1)
    manager.sync("m")
    first = manager.resolve("m")
    add_version(base, 2)
    manager.sync("m")  # version 2 AVAILABLE, version 1 retired
    assert not first.acquire()
    leased = manager.acquire("m")
    try:
        assert leased.version == 2
    finally:
        leased.release()


def test_the_summary_line_counts_models_and_versions_and_names_failures(setup):
    manager, loader, base = setup
    add_version(base, 1)
    loader.broken.add(1)
    manager.sync("m")
    assert manager.summary() == "0 of 1 models serving, 0 versions AVAILABLE; failed to load: m"
