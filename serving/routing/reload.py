"""TF Serving's checks of a HandleReloadConfigRequest config, in its order and words
(server_core.cc: ValidateModelConfigList, ValidateNoModelsChangePlatforms,
UpdateModelVersionLabelMap, the platform routes), and its text for models that did not load.
"""
from __future__ import annotations

import os

from serving import storage
from serving.config.model_config import ConfigError, platform
from serving.errors import FailedPrecondition, InvalidArgument
from serving.models.state import AVAILABLE, LABEL_REQUEST, LOADING


def check(models, running: dict, available, allow_unavailable_labels: bool) -> None:
    """`models`: the new ModelConfigs; `running`: {name: ModelConfig} in force now;
    `available(name)`: the versions this worker has AVAILABLE."""
    names = set()
    for model in models:
        if model.name in names:
            raise InvalidArgument(f"Illegal to list model {model.name} multiple times in "
                                  f"config list")
        names.add(model.name)
    for model in models:
        if "://" not in model.base_path and not os.path.isabs(model.base_path):
            raise InvalidArgument(f"Expected model {model.name} to have an absolute path or "
                                  f"URI; got base_path()={model.base_path}")
    for model in models:
        if model.name in running:
            old = running[model.name]
            before = platform_of(old) if old.model_platform or old.model_type \
                else "tensorflow"  # our own config files may leave it out
            if before != platform_of(model):
                raise InvalidArgument(f"Illegal to change a model's platform. For model "
                                      f"{model.name} platform was {before} and new platform "
                                      f"requested is {platform_of(model)}")
    for model in models:
        _check_labels(model, running.get(model.name), available(model.name),
                      allow_unavailable_labels)
    for model in models:
        if model.name not in running and platform_of(model) != "tensorflow":
            raise InvalidArgument(f"Model {model.name} requests unsupported platform "
                                  f"{platform_of(model)}")


def platform_of(model) -> str:
    try:
        return platform(model)
    except ConfigError as exc:
        raise InvalidArgument(str(exc)) from None


def _check_labels(model, running, available: set[int], allow: bool) -> None:
    """Each label names an AVAILABLE version; with --allow_version_labels_for_unavailable_
    models, any version for a label that is new or keeps its version."""
    before = running.version_labels if running is not None else {}
    for label, version in model.version_labels.items():
        if allow and before.get(label, version) == version:
            continue
        if version not in available:
            raise FailedPrecondition(LABEL_REQUEST.format(version=version, name=model.name) +
                                     ", which is not currently available for inference")


def outcome(name: str, versions) -> str | None:
    """"" once the model has an AVAILABLE version; None while it may still get one; else
    TF Serving's `{{name: m version: N} due to error: CODE: message}, ` for its failure."""
    if any(s.state == AVAILABLE for s in versions):
        return ""
    failed = [s for s in versions if s.failed]  # not the END of an earlier removal
    if not failed or any(s.state == LOADING for s in versions):
        return None
    newest = failed[0]
    return (f"{{{{name: {name} version: {newest.version}}} due to error: "
            f"{newest.error_code}: {newest.error_message}}}, ")


def never_loaded(name: str, base_path: str) -> str:
    """The entry for a model with no version to load (TF Serving would wait forever)."""
    why = (f"No versions of servable {name} found under base path {base_path}"
           if _exists(base_path) else
           f"Could not find base path {base_path} for servable {name}")
    return f"{{{{name: {name} version: 0}} due to error: NOT_FOUND: {why}}}, "


def _exists(base_path: str) -> bool:
    """A folder, or a bucket prefix its store can list (s3://, gs://, az://)."""
    if not storage.is_remote(base_path):
        return os.path.isdir(base_path)
    try:
        storage.store_for(base_path).versions(base_path)
    except OSError:  # the store's SourceError: missing bucket, wrong key, unreachable
        return False
    return True
