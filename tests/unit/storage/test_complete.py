"""When a version prefix counts as whole (serving/storage/complete.py)."""
import pytest

from serving.storage.complete import has_every_part, settled

WHOLE = {"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00002",
         "variables/variables.data-00001-of-00002"}


@pytest.mark.parametrize("names, whole", [
    (WHOLE, True),
    (WHOLE - {"variables/variables.data-00001-of-00002"}, False),   # a shard to come
    (WHOLE - {"variables/variables.index"}, False),
    (WHOLE - {"saved_model.pb"}, False),                           # graph uploaded last
    ({"saved_model.pb"}, True),                                    # no variables at all
    ({"model.keras"}, True),                                       # no list of parts: time
    (set(), False),
])
def test_a_saved_model_is_whole_only_with_every_part_it_names(names, whole):
    assert has_every_part(names) is whole


def test_a_whole_version_settles_only_after_the_settle_time():
    assert not settled(10.5, 10.0, WHOLE, 1.0)
    assert settled(11.0, 10.0, WHOLE, 1.0)
    assert not settled(20.0, 10.0, {"saved_model.pb", "variables/variables.index"}, 1.0)
