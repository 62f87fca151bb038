"""Operator changes are decided from the state on disk, whichever worker takes them.

Two VersionControl objects over the same files stand for two gunicorn workers; the second
never polls, so its memory is stale on purpose: what it writes must still be right.
"""
from __future__ import annotations

import json

import pytest

from serving.errors import NotFound


def on_disk(path) -> dict:
    return json.loads(path.read_text())["models"].get("m", {})


def test_a_worker_that_has_not_seen_a_pin_still_removes_it(workers):
    (first, stale), state = workers
    first.pin("m", 1)
    assert on_disk(state) == {"default": 1}
    stale.clear_route("m", "default")  # it still believes nothing is pinned
    assert on_disk(state) == {}
    assert stale.describe("m")["default"] is None  # and its answer says what it wrote


def test_a_worker_that_has_not_seen_a_split_still_clears_it(workers):
    (first, stale), state = workers
    first.set_split("m", {"1": 30, "2": 70})
    stale.clear_route("m", "split")
    assert on_disk(state) == {}


def test_clearing_one_kind_of_route_keeps_the_other_kind_and_the_labels(workers):
    (first, stale), state = workers
    first.set_label("m", "stable", 1)
    first.pin("m", 2)
    stale.clear_route("m", "split")
    assert on_disk(state) == {"default": 2, "labels": {"stable": 1}}


def test_a_label_another_worker_set_can_be_deleted_through_this_one(workers):
    (first, stale), state = workers
    first.set_label("m", "canary", 2)
    stale.delete_label("m", "canary")
    assert on_disk(state) == {}
    with pytest.raises(NotFound, match="Model m has no label canary"):
        first.delete_label("m", "canary")  # it still holds the label in memory


def test_changes_through_both_workers_add_up_on_disk(workers):
    (first, stale), state = workers
    first.set_label("m", "a", 1)
    stale.set_label("m", "b", 2)
    first.set_split("m", {"1": 1, "2": 1})
    stale.pin("m", 1)  # a pin replaces the split
    assert on_disk(state) == {"default": 1, "labels": {"a": 1, "b": 2}}
    first.refresh()
    assert first.describe("m")["labels"] == {"a": 1, "b": 2}
    assert first.describe("m")["default"] == 1


def test_a_rewrite_of_the_same_size_is_seen_even_within_one_mtime_tick(workers):
    (first, stale), state = workers
    first.pin("m", 1)
    stale.refresh()
    assert stale.describe("m")["default"] == 1
    first.pin("m", 2)  # same size, probably the same inode and mtime tick
    assert stale.refresh() is True
    assert stale.describe("m")["default"] == 2
