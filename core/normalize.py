"""Text normalisation for lookups that stay indexed under row-level security, and the text checks
shared by the services that store what a person typed.

The ``*_norm`` columns are ``COLLATE "C"``: searches compare them with plain equality or a prefix
range (``col >= prefix AND col < prefix_upper_bound(prefix)``), both of which PostgreSQL can use an
index for under RLS, unlike ``lower()``, ``LIKE`` or ``ILIKE``.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import ValidationError

_SPACES = re.compile(r"\s+")
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_LINE_BREAKS = frozenset("\n\t")


def fold(text: str) -> str:
    """Lower case, accents stripped (NFKD without combining marks), runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare.casefold()).strip()


def name_norm(last_name: str, first_name: str = "") -> str:
    """The stored search key for a guest's name: "last first", folded."""
    return fold(f"{last_name} {first_name}")


def email_norm(email: str | None) -> str | None:
    """Lower case and trimmed; None when empty."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned or None


def phone_norm(phone: str | None) -> str | None:
    """Digits only: "+44 (20) 7946-0000" becomes "442079460000" (the country code stays, the + goes)."""
    if phone is None:
        return None
    # Any script's decimal digits (full-width, Arabic-Indic...) become ASCII digits.
    digits = "".join(str(unicodedata.decimal(ch)) for ch in phone if ch.isdecimal())
    return digits or None


def confirmation_code(code: str) -> str:
    """Confirmation codes are stored upper case; what a guest reads out may not be."""
    return _SPACES.sub("", code).upper()


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string (in C collation, i.e. code point order) greater than every string that
    starts with ``prefix``: the exclusive end of a prefix range. ``prefix`` must not be empty."""
    if not prefix:
        raise ValueError("an empty prefix has no upper bound")
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; the next code point can
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    raise ValueError("the prefix has no upper bound")


def clean_text(value: object, field: str, *, max_length: int, required: bool = False, multiline: bool = False) -> str:
    """Trimmed, NFC-composed text (None reads as empty), or ValidationError naming ``field`` when it is not
    text, missing, too long or holds control or invisible formatting characters (line breaks and tabs allowed
    when ``multiline``). The one text check of every service: values arrive from forms and PMS feeds untyped."""
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field} must be text.")
    text = unicodedata.normalize("NFC", value or "").strip()
    if required and not text:
        raise ValidationError(f"{field} is required.")
    if len(text) > max_length:
        raise ValidationError(f"{field} is too long: at most {max_length} characters, not {len(text)}.")
    for ch in text:
        if multiline and ch in _LINE_BREAKS:
            continue
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise ValidationError(f"{field} contains a control or invisible character (U+{ord(ch):04X}).")
    return text
