"""Checks on identifiers a person typed, shared by services and operator tasks."""

from __future__ import annotations

import re

from core.errors import ValidationError

USERNAME = re.compile(r"[a-z0-9._-]{2,40}")


def require_username(username: str) -> str:
    """The username as given, or ValidationError: 2 to 40 lower-case letters, digits, '.', '_' or '-'
    (fullmatch: a trailing line break is refused too)."""
    if not USERNAME.fullmatch(username):
        raise ValidationError("A username is 2 to 40 characters: lower-case letters, digits, '.', '_' or '-'.")
    return username
