"""The serving core of one worker process: models, batching, routing and the verbs, from settings.

It knows nothing of HTTP, gRPC or JSON, and nothing of how a version directory becomes a
model: `create_app` hands it `load_wrapper(path) -> wrapper` (wrappers/ builds those), so
the import of wrappers runs from the app down, never from the core up.
"""
from __future__ import annotations

import logging
from typing import Callable

from serving import storage, warmup
from serving.config.batching import BatchingConfigError, BatchingOptions, options_for_model
from serving.config.limits import Limits
from serving.config.model_config import snapshot_for
from serving.config.settings import Settings
from serving.errors import LoadError
from serving.featurized import Featurized
from serving.images import Images
from serving.inference import Inference
from serving.models.manager import ModelManager
from serving.models import unloader
from serving.models.residency import Residency
from serving.models.servable import Servable
from serving.routing import acks, resident, unloading
from serving.routing.poller import start_polling

log = logging.getLogger(__name__)


class ServingCore:
    """Everything a worker process serves; built once per process, after gunicorn forks."""

    def __init__(self, settings: Settings, load_wrapper: Callable[[str], object]):
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.batching = batching_options(settings)
        self._load_wrapper = load_wrapper
        storage.configure(settings.model_cache_dir, settings.file_system_poll_wait_seconds)
        self.manager = ModelManager(self._load, residency=residency_for(settings))
        self.manager.saved_model_tags = settings.saved_model_tags
        self.snapshot = snapshot_for(settings)  # the master's reading, shared by every worker
        self.manager.configure(self.snapshot.model_config().model_config_list)
        unknown = sorted(settings.pinned() - set(self.manager.model_names()))
        if unknown and self.manager.residency is not None:
            log.warning("--pinned_models names models that are not configured: %s",
                        ", ".join(unknown))
        self.inference = Inference(self.manager, self.limits)
        self.images = Images(self.inference, self.limits.max_image_pixels)
        self.featurized = Featurized(self.inference, self.images)
        self.control = None  # the routing control; start() builds it with its poller

    def _load(self, name: str, version: int, path: str) -> Servable:
        batching = self.batching
        if batching is not None:
            try:
                batching = options_for_model(batching, path)
            except BatchingConfigError as exc:
                raise LoadError(exc.message, exc.code) from None
        wrapper = self._load_wrapper(path)
        servable = Servable(name, version, wrapper, batching=batching,
                            timeout=self.settings.rest_api_timeout_in_ms / 1000)
        if self.settings.enable_model_warmup:  # before the manager makes it AVAILABLE
            try:
                warmup.replay(self.inference, servable, path,
                              self.settings.num_request_iterations_for_warmup)
            except LoadError:
                servable.close()
                raise
        return servable

    def start(self) -> None:
        """Load every model, start the poller, then move the loaded graphs out of the garbage
        collector's view.

        TF's Python objects make each full collection slow; freezing them removed 80 ms p99
        pauses in the peer measurements (shared/bench/RESULTS.md).
        """
        acks.booting(self.settings)  # before reading the disk: see serving/routing/acks.py
        unloading.apply_from_disk(self.manager, self.settings)  # unloaded through /v2: stays so
        resident.apply_from_disk(self.manager, self.settings)   # pins: loaded at start
        self.manager.sync_all()
        self.control = start_polling(self.manager, self.settings, self.snapshot)  # after fork
        unloader.freeze()

    def close(self) -> None:
        """Unload every version; each one's batchers answer what they hold before it goes."""
        self.manager.close()


def residency_for(settings: Settings) -> Residency | None:
    """The worker's memory budget and LRU (--model_memory_budget), or None: load all."""
    budget = settings.memory_budget()
    if not budget:
        return None
    return Residency(budget, settings.pinned(), settings.max_concurrent_loads,
                     settings.model_load_timeout_seconds)


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
