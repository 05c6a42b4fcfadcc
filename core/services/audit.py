"""Audit log search: who did what to which record, newest first, one page at a time."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from core import normalize
from core.auth import Actor, Permission
from core.errors import ValidationError
from core.services.uow import read, requires

PAGE_SIZE = 50
SYSTEM_USER = "system"


@dataclass(frozen=True)
class AuditFilter:
    """Every given criterion must hold; ``since`` is inclusive, ``until`` exclusive (time-zone aware)."""

    action: str | None = None
    resource_type: str | None = None
    resource_id: str | int | None = None
    user_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    user_id: int | None
    user_name: str  # the staff member's full name, or "system" for automatic work
    action: str
    resource_type: str
    resource_id: str
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    next_before_id: int | None  # pass as ``before_id`` for the next (older) page; None on the last page


def _checked(criteria: AuditFilter) -> AuditFilter:
    for label, value in (("action", criteria.action), ("resource type", criteria.resource_type)):
        if value is not None:
            normalize.clean_text(value, f"The {label}", max_length=100)
    if criteria.resource_id is not None:
        normalize.clean_text(str(criteria.resource_id), "The record id", max_length=100)
    for label, moment in (("start", criteria.since), ("end", criteria.until)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationError(f"The {label} of the time window needs a time zone.")
    if criteria.since and criteria.until and criteria.since >= criteria.until:
        raise ValidationError("The start of the time window must be before its end.")
    return criteria


_FILTERS = ("action", "resource_type", "resource_id", "user_id", "since", "until", "before_id")
_CONDITIONS = {
    "action": "a.action = %(action)s",
    "resource_type": "a.resource_type = %(resource_type)s",
    "resource_id": "a.resource_id = %(resource_id)s",
    "user_id": "a.user_id = %(user_id)s",
    "since": "a.at >= %(since)s",
    "until": "a.at < %(until)s",
    # Keyset on (at, id); the time of the last row shown is looked up in the same statement.
    "before_id": "(a.at, a.id) < ((SELECT b.at FROM audit_log b WHERE b.id = %(before_id)s::bigint),"
    " %(before_id)s::bigint)",
}


def _parameters(criteria: AuditFilter, hotel_id: int, before_id: int | None) -> dict[str, Any]:
    given = {
        "action": criteria.action.strip() if criteria.action else None,
        "resource_type": criteria.resource_type.strip() if criteria.resource_type else None,
        "resource_id": None if criteria.resource_id is None else str(criteria.resource_id).strip(),
        "user_id": criteria.user_id,
        "since": criteria.since,
        "until": criteria.until,
        "before_id": before_id,
    }
    return {"hotel_id": hotel_id} | {name: value for name, value in given.items() if value is not None}


@functools.cache
def _statement(filters: frozenset[str]) -> str:
    """The page query for one combination of filters, built once: newest first by (at, id), so the
    (hotel_id, at, id) and (hotel_id, action, at, id) indexes hand a page over in order, about 50 index
    entries however wide the time window is."""
    conditions = ["a.hotel_id = %(hotel_id)s", *(_CONDITIONS[name] for name in _FILTERS if name in filters)]
    return (
        "SELECT a.id, a.at, a.user_id, a.action, a.resource_type, a.resource_id, a.details, s.full_name"
        " FROM audit_log a LEFT JOIN staff_users s ON s.id = a.user_id"
        f" WHERE {' AND '.join(conditions)}"
        f" ORDER BY a.at DESC, a.id DESC LIMIT {PAGE_SIZE + 1}"
    )


@requires(Permission.AUDIT_READ)
def search_audit(actor: Actor, criteria: AuditFilter | None = None, before_id: int | None = None) -> AuditPage:
    """Up to 50 audit rows matching ``criteria``, newest first, older than ``before_id`` when given."""
    checked = _checked(criteria or AuditFilter())
    parameters = _parameters(checked, actor.hotel_id, before_id)
    [found] = read(actor, Permission.AUDIT_READ, (_statement(frozenset(parameters)), parameters))
    rows = tuple(
        AuditRow(
            id=row_id,
            at=at,
            user_id=user_id,
            user_name=full_name or SYSTEM_USER,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
        )
        for row_id, at, user_id, action, resource_type, resource_id, details, full_name in found[:PAGE_SIZE]
    )
    more = len(found) > PAGE_SIZE
    return AuditPage(rows=rows, next_before_id=rows[-1].id if more else None)
