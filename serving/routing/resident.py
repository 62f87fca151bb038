"""What an operator decided about memory under --model_memory_budget: pins, loads, unloads.

Kept in the routing state file beside pins and splits, so every worker (and every restarted
one) applies it:
  {"models": {name: {"resident": true}}}   pinned: loaded now, never unloaded to make room
                                           (false: not pinned, though --pinned_models says so)
  {"models": {name: {"memory": {"asked": N, "last": "load" | "unload"}}}}
                                           how many admin loads and unloads were asked for,
                                           and the last: a worker that sees the count grow
                                           does the last once (a load then an unload seen in
                                           one look leave it unloaded); a starting worker
                                           acts on none
"""
from __future__ import annotations

import logging
import threading
import weakref

from serving.errors import ServingError

PIN, ASKED, LOAD, UNLOAD = "resident", "memory", "load", "unload"
log = logging.getLogger(__name__)
_seen: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # manager → counts applied
_lock = threading.Lock()


def _entries(state: dict) -> dict:
    return {name: entry for name, entry in (state.get("models") or {}).items()
            if isinstance(entry, dict)}


def pinned_names(state: dict, flag_pins) -> set[str]:
    """--pinned_models, with what the state file pins (true) or unpins (false)."""
    pins = set(flag_pins)
    for name, entry in _entries(state).items():
        if entry.get(PIN) is True:
            pins.add(name)
        elif entry.get(PIN) is False:
            pins.discard(name)
    return pins


def asked(entry: dict) -> tuple[int, str]:
    """(how many loads and unloads were asked for, the last one) of a state file entry."""
    value = entry.get(ASKED)
    if not isinstance(value, dict):
        return 0, ""
    count, last = value.get("asked"), value.get("last")
    return (count if isinstance(count, int) and not isinstance(count, bool) else 0,
            last if last in (LOAD, UNLOAD) else "")


def ask(entry: dict, action: str) -> None:
    """Record one more admin load or unload in a state file entry."""
    entry[ASKED] = {"asked": asked(entry)[0] + 1, "last": action}


def apply(manager, state: dict, flag_pins) -> None:
    """Pins take effect (a newly pinned model loads), and loads and unloads asked for since
    this worker last looked are done, here and now."""
    residency = manager.residency
    if residency is None:
        return
    pins = pinned_names(state, flag_pins)
    counts = {name: asked(entry) for name, entry in _entries(state).items()}
    with _lock:
        newly = {n for n in pins if not residency.is_pinned(n)}
        residency.set_pinned(pins)
        previous = _seen.get(manager, counts)  # the first look (the start) acts on pins only
        _seen[manager] = counts
    for name, (count, last) in sorted(counts.items()):
        if not manager.knows(name) or count <= previous.get(name, (0, ""))[0]:
            continue
        if last == UNLOAD and name not in pins:
            manager.unload_now(name)
        elif last == LOAD:
            _load(manager, name)
            newly.discard(name)
    for name in sorted(newly):
        if manager.knows(name):
            _load(manager, name)


def _load(manager, name: str) -> None:
    try:
        manager.load_now(name)
    except ServingError as exc:  # it stays registered and loads on its next request
        log.warning("model %s not loaded now: %s", name, exc.message)


def apply_from_disk(manager, settings) -> None:
    """Before a worker's first load: its pins (--pinned_models and the state file)."""
    if manager.residency is None:
        return
    from serving.routing import store
    try:
        state = store.read_state(store.state_path(settings))
    except (OSError, ValueError):
        state = {"models": {}}
    apply(manager, state, settings.pinned())
