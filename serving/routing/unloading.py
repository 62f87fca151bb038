"""Models an operator unloaded (the Open Inference Protocol's repository unload) and loaded again.

An unloaded model stays configured, so it is still known and listed, but with a version
policy that wants no version and no labels or route that would keep one: the manager's next
sync unloads all its versions. The mark lives in the routing state file
(`{"models": {name: {"unloaded": true}}}`), so every worker, and every restarted one, applies
it; a load removes the mark and the configured policy takes effect again.
"""
from __future__ import annotations

import copy
import threading
import weakref

MARK = "unloaded"
# manager → {name: (config as configured, the unloaded stand-in handed to the manager)}
_originals: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def unloaded_names(state: dict) -> set[str]:
    return {name for name, entry in (state.get("models") or {}).items()
            if isinstance(entry, dict) and entry.get(MARK) is True}


def _stand_in(config):
    """The model's config wanting no version: an empty `specific` policy, no labels."""
    unloaded = copy.deepcopy(config)
    unloaded.ClearField("version_labels")
    unloaded.model_version_policy.Clear()
    unloaded.model_version_policy.specific.SetInParent()
    return unloaded


def apply(manager, state: dict) -> bool:
    """Hand the manager stand-ins for unloaded models and their configs back for loaded ones;
    True when that changed anything (the caller then syncs). Called under the control's lock
    after each refresh, so a config re-read from disk is covered again at once."""
    wanted = unloaded_names(state)
    with _lock:
        held = _originals.setdefault(manager, {})
        configs, changed = [], False
        for name in manager.model_names():
            current = manager.config(name)
            original, stand_in = held.get(name, (None, None))
            if current is not stand_in:  # configured anew since (or never replaced)
                original, stand_in = current, None
            if name in wanted:
                if stand_in is None:
                    stand_in, changed = _stand_in(original), True
                held[name] = (original, stand_in)
                configs.append(stand_in)
            else:
                changed = changed or stand_in is not None
                held.pop(name, None)
                configs.append(original)
        if changed:
            from tensorflow_serving.config import model_server_config_pb2
            listing = model_server_config_pb2.ModelConfigList()
            listing.config.extend(configs)
            manager.configure(listing)
            for name in manager.model_names():
                if name in wanted:
                    held[name] = (held[name][0], manager.config(name))
        for name in wanted & set(held):
            manager.set_route(name, None)  # a pin or split must not keep a version loaded
            manager.commit_labels(name)    # nor a label (its stand-in has none)
        return changed


def apply_from_disk(manager, settings) -> None:
    """Before a worker's first load: what the state file marks unloaded is never loaded (a
    file that does not parse is left to the control, which reports it)."""
    from serving.routing import store
    try:
        state = store.read_state(store.state_path(settings))
    except (OSError, ValueError):
        return
    apply(manager, state)


def is_unloaded(manager, name: str) -> bool:
    """Whether this worker has applied an unload of `name` (its stand-in is configured)."""
    with _lock:
        _, stand_in = _originals.get(manager, {}).get(name, (None, None))
    return stand_in is not None and manager.knows(name) and manager.config(name) is stand_in
