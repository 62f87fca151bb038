"""Memory pins, loads and unloads in the routing state file (serving/routing/resident.py):
what each worker does when it looks at the file."""
from __future__ import annotations

from serving.routing import resident


class Residency:
    def __init__(self):
        self.pinned = frozenset()

    def set_pinned(self, names):
        self.pinned = frozenset(names)

    def is_pinned(self, name):
        return name in self.pinned


class Manager:
    def __init__(self):
        self.residency = Residency()
        self.done: list[tuple[str, str]] = []

    def knows(self, name):
        return name in ("a", "b")

    def load_now(self, name):
        self.done.append(("load", name))

    def unload_now(self, name):
        self.done.append(("unload", name))


def state(**entries) -> dict:
    return {"models": entries}


def asked(*actions) -> dict:
    entry: dict = {}
    for action in actions:
        resident.ask(entry, action)
    return entry


def test_a_starting_worker_acts_on_no_earlier_load_or_unload():
    manager = Manager()
    resident.apply(manager, state(a=asked("load", "unload")), ())
    assert manager.done == []


def test_a_load_then_an_unload_seen_in_one_look_leave_the_model_unloaded():
    manager = Manager()
    resident.apply(manager, state(), ())
    resident.apply(manager, state(a=asked("load", "unload"), b=asked("unload", "load")), ())
    assert manager.done == [("unload", "a"), ("load", "b")]
    resident.apply(manager, state(a=asked("load", "unload"), b=asked("unload", "load")), ())
    assert len(manager.done) == 2  # each asked once, done once


def test_pins_come_from_the_flag_and_the_file_which_may_unpin_and_a_new_pin_loads():
    manager = Manager()
    resident.apply(manager, state(b={"resident": False}), ("a", "b"))
    assert manager.residency.pinned == {"a"} and manager.done == [("load", "a")]
    resident.apply(manager, state(b={"resident": True}), ("a",))
    assert manager.residency.pinned == {"a", "b"} and manager.done[-1] == ("load", "b")


def test_a_pinned_model_is_not_unloaded_by_an_unload_in_the_file():
    manager = Manager()
    resident.apply(manager, state(), ("a",))
    resident.apply(manager, state(a=asked("unload")), ("a",))
    assert ("unload", "a") not in manager.done
