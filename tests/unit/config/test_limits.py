"""How much one request may ask (serving/config/limits.py): every limit is a setting of the
"limits" group, declared only there, and each check names the limit it enforces."""
import dataclasses

import pytest

from serving.config.limits import DEFAULT, LimitExceeded, Limits
from serving.config.settings import Settings


def test_every_limit_is_a_setting_of_the_limits_group_and_declared_only_there():
    limits = {f.name for f in dataclasses.fields(Limits)}
    assert limits == {f.name for f in dataclasses.fields(Settings)
                      if f.metadata["group"] == "limits"}
    assert Limits.from_settings(Settings.load(environ={})) == Limits.from_settings(Settings())


def test_a_body_with_more_json_values_than_allowed_is_refused_before_parsing():
    small = dataclasses.replace(DEFAULT, max_json_elements=3)
    small.check_body(b"[1,2]")
    with pytest.raises(LimitExceeded, match="max_json_elements"):
        small.check_body(b"[1,2,3,4,5]")
