"""Two workers' routing over one base path: each a VersionControl with its own manager."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from serving.config.model_config import config_from_settings
from serving.config.settings import Settings
from serving.models.manager import ModelManager
from serving.models.servable import Servable
from serving.routing.control import VersionControl


def servable(name, version, path):
    """A version that loads instantly: a Servable over a wrapper that runs nothing."""
    return Servable(name, version, SimpleNamespace(servable_signatures={}, run=None,
                                                   close=lambda: None))


@pytest.fixture
def workers(tmp_path):
    """Two workers' VersionControl over one base path with versions 1 and 2, no config file."""
    base = tmp_path / "m"
    for version in ("1", "2"):
        (base / version).mkdir(parents=True)
        (base / version / "saved_model.pb").write_bytes(b"x")
    settings = Settings.load(environ={}, overrides={
        "model_name": "m", "model_base_path": str(base), "file_system_poll_wait_seconds": 0})
    controls = []
    for _ in range(2):
        manager = ModelManager(servable)
        config = config_from_settings(settings).model_config_list
        config.config[0].model_version_policy.all.SetInParent()
        manager.configure(config)
        manager.sync_all()
        control = VersionControl(manager, settings)
        control.refresh()
        controls.append(control)
    yield controls, base / "routing.json"
    for control in controls:
        control.manager.close()
