"""Which version answers a request that names none (serving/models/routes.py): a pin, a
weighted split, or (None) the newest AVAILABLE; an unavailable target is skipped."""
import random

import pytest

from serving.errors import InvalidArgument
from serving.models.routes import Route, parse_split, parse_version


def test_a_pin_answers_while_its_version_is_available_and_steps_aside_when_not():
    route = Route(pinned=2)
    assert route.choose({1, 2, 3}) == 2
    assert route.choose({1, 3}) is None  # the newest answers instead: never an outage


def test_a_split_sends_traffic_by_weight_to_the_available_versions_only():
    random.seed(4)
    route = Route(split=parse_split({"1": 90, "2": 10}))
    picks = [route.choose({1, 2}) for _ in range(2000)]
    assert 1650 <= picks.count(1) <= 1950 and picks.count(1) + picks.count(2) == 2000
    assert {route.choose({2}) for _ in range(50)} == {2}
    assert route.choose({3}) is None


@pytest.mark.parametrize("data", [{"default": 7}, {"split": {"1": 3, "2": 1}}, {}])
def test_a_route_round_trips_through_the_state_files_json(data):
    assert Route.from_json(data).to_json() == data


def test_versions_a_route_keeps_loaded():
    assert Route(pinned=4).versions() == {4}
    assert Route(split=((1, 5), (2, 5))).versions() == {1, 2}
    assert Route().versions() == set()


@pytest.mark.parametrize("split, message", [
    ({}, "non-empty object"), ({"1": -1}, "non-negative integer"), ({"1": 0}, "above 0"),
    ({"1": True}, "non-negative integer"), ({"x": 5}, "version must be"), ([1], "non-empty")])
def test_a_bad_split_is_refused_with_the_reason(split, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_split(split)


@pytest.mark.parametrize("value", ["3", 3, "007"])
def test_versions_are_non_negative_integers(value):
    assert parse_version(value) == int(value)


@pytest.mark.parametrize("value", [-1, "one", True, 2 ** 63, "1.5"])
def test_anything_else_is_not_a_version(value):
    with pytest.raises(InvalidArgument):
        parse_version(value)
