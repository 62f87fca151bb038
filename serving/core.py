"""Builds the serving core from settings: the manager, its loader and session options."""
from __future__ import annotations

import gc
import logging

from serving.manager import ModelManager
from serving.model_config import config_from_settings
from serving.servable import Servable
from serving.settings import Settings

log = logging.getLogger(__name__)


class ServingCore:
    """Everything a worker process serves; built once per process, after gunicorn forks."""

    def __init__(self, settings: Settings):
        from wrappers.base import SessionOptions
        self.settings = settings
        self.session_options = SessionOptions(**settings.session_config_args())
        self.manager = ModelManager(self._load)
        self.manager.configure(config_from_settings(settings).model_config_list)

    def _load(self, name: str, version: int, path: str) -> Servable:
        from wrappers import load_version
        wrapper = load_version(path, self.session_options, self.settings.saved_model_tags)
        return Servable(name, version, wrapper)

    def start(self) -> None:
        """Load every model, then move the loaded graphs out of the garbage collector's view.

        TF's Python objects make each full collection slow; freezing them removed 80 ms p99
        pauses in the peer measurements (shared/bench/RESULTS.md).
        """
        self.manager.sync_all()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.manager.close()
