"""A version's objects land inside its folder, whatever their keys say."""
import pytest

from serving.storage.download import safe_join


@pytest.mark.parametrize("key", ["../../etc/cron.d/x", "variables/../../x", "/etc/passwd"])
def test_a_key_that_climbs_out_of_its_version_is_refused(tmp_path, key):
    with pytest.raises(ValueError, match="leaves its version's prefix"):
        safe_join(str(tmp_path / "v"), key)


def test_an_ordinary_key_lands_under_the_version(tmp_path):
    assert safe_join(str(tmp_path / "v"), "variables/variables.index") == str(
        tmp_path / "v" / "variables" / "variables.index")
