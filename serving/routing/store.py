"""Run-time version changes kept on disk, so that every worker and every restart sees them.

Labels are TF Serving's own: with --model_config_file they are the `version_labels` of that
file, which stays loadable by tensorflow_model_server. What TF Serving has no field for (a
pinned default version, a traffic split) lives in a JSON file beside it, `<config>.routing.json`,
as do labels when the server runs without a config file (`routing.json` in the models folder).
Writes are atomic renames under an exclusive lock on the folder; workers re-read on change.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os

from serving.config.model_config import atomic_write, parse_model_config, write_model_config
from serving.errors import NotFound

STATE_FILE = "routing.json"


def state_path(settings) -> str:
    """Where pins and splits (and, without a config file, labels) are kept."""
    if settings.routing_state_file:
        return os.path.abspath(settings.routing_state_file)
    if settings.model_config_file:
        return os.path.abspath(settings.model_config_file) + ".routing.json"
    folder = settings.model_base_path or settings.models_dir  # non-numeric: never a version
    return os.path.join(os.path.abspath(folder), STATE_FILE)


def read_state(path: str) -> dict:
    """{"models": {name: {"default": N | "split": {...}, "labels": {...}}}, "generation": N};
    raises ValueError."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {"models": {}}
    if not isinstance(data, dict) or not isinstance(data.setdefault("models", {}), dict):
        raise ValueError(f"{path}: expected an object with a \"models\" object")
    return data


@contextlib.contextmanager
def locked(path: str):
    """One writer at a time across workers: flock on the folder (leaves no lock file behind)."""
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # closing releases the lock


def update_state(path: str, change) -> dict:
    """Read-modify-write the state file; `change(data)` edits the dict in place."""
    with locked(path):
        data = read_state(path)
        change(data)
        for entry in data["models"].values():
            if isinstance(entry, dict) and entry.get("labels") == {}:
                del entry["labels"]
        data["models"] = {k: v for k, v in data["models"].items() if v}
        # Every write makes new bytes (unload, load, unload again would not): a worker's
        # acknowledgement of one write's digest is never taken for a later one's.
        generation = data.get("generation")
        data["generation"] = generation + 1 if isinstance(generation, int) else 1
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def update_config_labels(path: str, name: str, change) -> None:
    """Edit one model's `version_labels` in the config file; `change(labels)` edits a dict.

    The file is re-parsed as written (relative base paths stay relative), then rewritten.
    """
    with locked(path):
        with open(path, encoding="utf-8") as handle:
            config = parse_model_config(handle.read(), origin=path)
        entries = [c for c in config.model_config_list.config if c.name == name]
        if not entries:
            raise NotFound(f"Model {name} is not in the model config file {path}")
        labels = dict(entries[0].version_labels)
        change(labels)
        entries[0].ClearField("version_labels")
        entries[0].version_labels.update(labels)
        write_model_config(path, config)
