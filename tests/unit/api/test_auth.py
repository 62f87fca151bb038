"""API tokens (api/auth.py): read from a comma-separated setting, compared in constant time,
and an empty token never opens anything."""
import pytest

from serving.config.tokens import is_valid, tokens_from


@pytest.mark.parametrize("setting, tokens", [("", ()), (" , ", ()), ("a", (b"a",)),
                                             ("a, b ,", (b"a", b"b"))])
def test_tokens_are_read_from_a_comma_separated_setting(setting, tokens):
    assert tokens_from(setting) == tokens


def test_an_empty_presented_token_never_matches():
    assert not is_valid(b"", (b"",)) and not is_valid(b"", ()) and is_valid(b"a", (b"b", b"a"))
