"""Normalised search keys and the text checks shared by services."""

from __future__ import annotations

import pytest

from core import normalize
from core.errors import ValidationError


@pytest.mark.parametrize(
    ("last", "first", "expected"),
    [
        ("Müller", "Jürgen", "muller jurgen"),
        ("  O'Brien ", " Seán  ", "o'brien sean"),
        ("VAN   DER Berg", "Anna-Lena", "van der berg anna-lena"),
        ("Straße", "", "strasse"),
        ("Ｓｍｉｔｈ", "Ｊｏｈｎ", "smith john"),  # full-width letters fold to ASCII
        ("Đặng", "Thị", "đang thi"),  # Đ has no decomposition: kept, lower-cased
    ],
)
def test_name_norm_is_last_then_first_lower_case_without_accents(last, first, expected):
    assert normalize.name_norm(last, first) == expected


def test_fold_collapses_every_kind_of_space():
    assert normalize.fold("Jean\u00a0 \t Luc") == "jean luc"


def test_email_norm_trims_and_lowers_and_empty_is_none():
    assert normalize.email_norm("  John.Smith@Example.COM ") == "john.smith@example.com"
    assert normalize.email_norm("   ") is None
    assert normalize.email_norm(None) is None


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+44 (20) 7946-0000", "442079460000"),
        ("030 1234 567", "0301234567"),
        ("+1.555.010.9999", "15550109999"),
        ("٠١٢٣٤٥٦", "0123456"),  # Arabic-Indic digits become ASCII digits
        ("no digits", None),
        (None, None),
    ],
)
def test_phone_norm_keeps_digits_only(phone, expected):
    assert normalize.phone_norm(phone) == expected


def test_confirmation_code_is_upper_case_without_spaces():
    assert normalize.confirmation_code(" ab12-cd 34 ") == "AB12-CD34"


@pytest.mark.parametrize("prefix", ["smi", "a", "z", "müll", "~", "\U0010ffff\U0010ffffx"])
def test_prefix_upper_bound_is_the_end_of_the_prefix_range(prefix):
    bound = normalize.prefix_upper_bound(prefix)
    assert bound > prefix
    assert bound > prefix + "\U0010ffff" * 3
    # nothing that does not start with the prefix falls in [prefix, bound)
    for other in ("smj", "smh", "b", "a", prefix[:-1]):
        if not other.startswith(prefix):
            assert not (prefix <= other < bound)


def test_prefix_upper_bound_skips_surrogates_and_drops_maxed_characters():
    assert normalize.prefix_upper_bound("a\ud7ff") == "a\ue000"
    assert normalize.prefix_upper_bound("ab\U0010ffff") == "ac"
    with pytest.raises(ValueError):
        normalize.prefix_upper_bound("\U0010ffff")
    with pytest.raises(ValueError):
        normalize.prefix_upper_bound("")


def test_clean_text_trims_and_composes():
    assert normalize.clean_text("  Cafe\u0301 ", "Name", max_length=10) == "Café"
    assert normalize.clean_text(None, "Name", max_length=10) == ""


@pytest.mark.parametrize(
    "bad",
    ["Smith\x00", "Smith\x1b[31m", "Smi\u202eth", "Smi\u200bth", "line\nbreak", "\ud800"],
)
def test_clean_text_refuses_control_and_invisible_characters(bad):
    with pytest.raises(ValidationError, match="control or invisible"):
        normalize.clean_text(bad, "The last name", max_length=100)


def test_clean_text_allows_line_breaks_only_in_multiline_text():
    assert normalize.clean_text("first\n\tsecond", "Notes", max_length=100, multiline=True) == "first\n\tsecond"


def test_clean_text_refuses_missing_and_overlong_text_with_the_field_name():
    with pytest.raises(ValidationError, match="The last name is required"):
        normalize.clean_text("   ", "The last name", max_length=100, required=True)
    with pytest.raises(ValidationError, match="The last name is too long: at most 100 characters, not 101"):
        normalize.clean_text("x" * 101, "The last name", max_length=100)
