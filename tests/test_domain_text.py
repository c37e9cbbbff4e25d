"""Shortening to Visma's max lengths on word boundaries, with a warning."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shopbridge.domain.text import MAX_NAME, collapse_spaces, shorten


def test_short_values_pass_unchanged():
    assert shorten("Kalles Kaffe AB", 50) == ("Kalles Kaffe AB", None)
    assert shorten("  Kalles   Kaffe\nAB ", 50) == ("Kalles Kaffe AB", None)  # whitespace tidied silently


def test_cut_on_word_boundary_with_warning():
    name = "Aktiebolaget Svenska Kullagerfabriken i Göteborg, Avdelning Ekonomi"
    short, warning = shorten(name, MAX_NAME, field="customer name")
    assert short == "Aktiebolaget Svenska Kullagerfabriken i Göteborg"
    assert warning is not None and warning.code == "shortened"
    assert warning.field == "customer name" and warning.original == name and warning.value == short
    assert "50 characters" in warning.message


def test_cut_exactly_at_a_space():
    assert shorten("abc def ghi", 7)[0] == "abc def"


def test_never_mid_word_unless_one_word_is_too_long():
    assert shorten("Storgatan 123456789", 12)[0] == "Storgatan"
    assert shorten("Supercalifragilisticexpialidocious", 10)[0] == "Supercalif"
    assert shorten("Sven-Göran Eriksson-Lindqvist", 12)[0] == "Sven-Göran"


def test_trailing_separators_dropped():
    assert shorten("Ek & Ask, Stockholm", 10)[0] == "Ek & Ask"


words = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "P")), min_size=1, max_size=15)


@given(st.lists(words, min_size=1, max_size=12).map(" ".join), st.integers(min_value=1, max_value=60))
def test_shorten_properties(value, max_len):
    short, warning = shorten(value, max_len)
    text = collapse_spaces(value)
    assert len(short) <= max_len
    assert text.startswith(short)
    assert short  # never empty for non-empty input
    if warning is None:
        assert short == text
    else:
        assert len(text) > max_len
        rest = text[len(short) :]
        first_word = text.split(" ")[0]
        # either a clean word boundary, or the first word alone did not fit
        assert rest.startswith((" ", ",", ";", ":", "-", "/", "&")) or len(first_word) > max_len or not rest
