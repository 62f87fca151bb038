"""Builds the serving core from settings: the manager, its loader, session and batching options."""
from __future__ import annotations

import gc
import logging

from serving.batching_config import BatchingConfigError, BatchingOptions, options_for_model
from serving.errors import LoadError
from serving.manager import ModelManager
from serving.model_config import snapshot_for
from serving.servable import Servable
from serving.settings import Settings

log = logging.getLogger(__name__)


class ServingCore:
    """Everything a worker process serves; built once per process, after gunicorn forks."""

    def __init__(self, settings: Settings):
        from wrappers.base import SessionOptions
        self.settings = settings
        self.session_options = SessionOptions(**settings.session_config_args())
        self.batching = batching_options(settings)
        self.manager = ModelManager(self._load)
        self.snapshot = snapshot_for(settings)  # the master's reading, shared by every worker
        self.manager.configure(self.snapshot.model_config().model_config_list)

    def _load(self, name: str, version: int, path: str) -> Servable:
        from wrappers import load_version
        batching = self.batching
        if batching is not None:
            try:
                batching = options_for_model(batching, path)
            except BatchingConfigError as exc:
                raise LoadError(exc.message, exc.code) from None
        wrapper = load_version(path, self.session_options, self.settings.saved_model_tags)
        return Servable(name, version, wrapper, batching=batching,
                        timeout=self.settings.rest_api_timeout_in_ms / 1000)

    def start(self) -> None:
        """Load every model, then move the loaded graphs out of the garbage collector's view.

        TF's Python objects make each full collection slow; freezing them removed 80 ms p99
        pauses in the peer measurements (shared/bench/RESULTS.md).
        """
        self.manager.sync_all()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        """Unload every version; each one's batchers answer what they hold before it goes."""
        self.manager.close()


def batching_options(settings: Settings) -> BatchingOptions | None:
    """The process-wide batching options, or None when batching is off.

    As in tensorflow_model_server, a parameters file without --enable_batching is an error;
    app.py calls this before forking so a bad file stops the start with its message.
    """
    if not settings.enable_batching:
        if settings.batching_parameters_file:
            raise BatchingConfigError("--batching_parameters_file was given but "
                                      "--enable_batching is false")
        return None
    if settings.batching_parameters_file:
        return BatchingOptions.from_file(settings.batching_parameters_file)
    return BatchingOptions()
