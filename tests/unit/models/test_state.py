"""One model's versions and how a request picks one (serving/models/state.py): a version,
a label, a route, else the newest AVAILABLE; which versions stay wanted; TF Serving's rule
that labels (and our pins and splits) only name AVAILABLE versions."""
from types import SimpleNamespace

import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import FailedPrecondition, InvalidArgument, NotFound
from serving.models.routes import Route
from serving.models.state import AVAILABLE, END, LOADING, PIN_REQUEST, ModelState, VersionStatus


def model(states: dict[int, str], policy=None, labels=None) -> ModelState:
    config = model_server_config_pb2.ModelConfig(name="m", base_path="/m")
    if policy == "all":
        config.model_version_policy.all.SetInParent()
    state = ModelState(config)
    for version, kind in states.items():
        servable = SimpleNamespace(version=version) if kind == AVAILABLE else None
        error = ("UNKNOWN", "broken") if kind == "FAILED" else ("OK", "")
        state.set_status(version, VersionStatus(version, f"/m/{version}",
                                                END if kind == "FAILED" else kind, *error,
                                                servable=servable))
    state.labels = labels or {}
    return state


def test_a_request_naming_nothing_gets_the_newest_available_version():
    assert model({1: AVAILABLE, 2: AVAILABLE, 3: LOADING}).servable(None, None).version == 2


def test_a_version_or_a_label_picks_that_version_only_while_it_is_available():
    state = model({1: AVAILABLE, 2: LOADING}, labels={"stable": 1, "next": 2})
    assert state.servable(1, None).version == 1
    assert state.servable(None, "stable").version == 1
    with pytest.raises(NotFound, match=r"Specific\(m, 2\)"):
        state.servable(None, "next")
    with pytest.raises(InvalidArgument, match="Unrecognized servable version label: beta"):
        state.servable(None, "beta")


def test_a_route_decides_only_requests_that_name_no_version():
    state = model({1: AVAILABLE, 2: AVAILABLE})
    state.route = Route(pinned=1)
    assert state.servable(None, None).version == 1
    assert state.servable(2, None).version == 2


def test_nothing_available_is_not_found_as_tf_serving_says_it():
    with pytest.raises(NotFound, match=r"Servable not found for request: Latest\(m\)"):
        model({1: LOADING}).servable(None, None)


def test_labelled_and_routed_versions_stay_wanted_beyond_the_policy():
    state = model({1: AVAILABLE, 2: AVAILABLE, 3: AVAILABLE}, labels={"old": 1})
    on_disk = {1: "/m/1", 2: "/m/2", 3: "/m/3"}
    assert state.wanted(on_disk) == {3, 1}
    state.route = Route(split=((2, 1), (3, 1)))
    assert state.wanted(on_disk) == {3, 2, 1}


def test_when_every_aspired_version_is_broken_the_newest_good_one_stays_wanted():
    state = model({1: AVAILABLE, 2: "FAILED"})
    assert state.wanted({1: "/m/1", 2: "/m/2"}) == {2, 1}


def test_only_available_versions_may_be_named_and_the_refusal_says_what_was_asked():
    state = model({1: AVAILABLE, 2: LOADING})
    state.require_available({1})
    with pytest.raises(FailedPrecondition, match="^Request to assign label to version 2 of "
                                                 "model m, which is not currently available"):
        state.require_available({1, 2})
    with pytest.raises(FailedPrecondition, match="^Request to pin the default version of "
                                                 "model m to version 2, which"):
        state.require_available({2}, PIN_REQUEST)


def test_the_version_table_is_replaced_whole_so_readers_never_see_half_an_update():
    state = model({1: AVAILABLE})
    before = state.versions
    state.set_status(2, VersionStatus(2, "/m/2", LOADING))
    assert before is not state.versions and set(before) == {1} and set(state.versions) == {1, 2}
