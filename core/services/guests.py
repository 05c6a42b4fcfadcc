"""Guest profiles: create and edit, VIP flag, search as you type, and possible duplicates.

Lookups reach the normalised ``*_norm`` columns' indexes with equality or prefix ranges only, the shapes
that stay on an index under row-level security (see DESIGN "RLS and indexes"); anything else only filters.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from core import normalize
from core.auth import Actor, Permission
from core.db import reads
from core.errors import ValidationError
from core.events.catalog import GuestChanged
from core.models import Guest
from core.services.uow import UnitOfWork, read, requires, unit_of_work

SEARCH_LIMIT = 20
DUPLICATE_LIMIT = 100
_EMAIL_MAX = 254
_PHONE_DIGITS = (6, 20)
_PHONE_LIKE = re.compile(r"[+\d\s().\-/]+")
_CODE_LIKE = re.compile(r"[A-Za-z0-9\-]{4,40}")
_EDITABLE = ("last_name", "first_name", "email", "phone", "notes")


@dataclass(frozen=True)
class GuestInput:
    """What a receptionist typed into the guest form."""

    last_name: str
    first_name: str = ""
    email: str | None = None
    phone: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class GuestRow:
    id: int
    last_name: str
    first_name: str
    email: str | None
    phone: str | None
    vip: bool
    notes: str
    source: str

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}" if self.first_name else self.last_name


@dataclass(frozen=True)
class StayRef:
    booking_id: int
    confirmation_code: str
    check_in: dt.date
    check_out: dt.date
    status: str
    room_number: str | None


@dataclass(frozen=True)
class GuestMatch:
    """A search hit: the guest, what matched ("confirmation", "name", "first_name", "email", "phone"),
    the current or next stay and the last finished one."""

    guest: GuestRow
    matched_on: str
    next_stay: StayRef | None
    last_stay: StayRef | None


@dataclass(frozen=True)
class DuplicateCandidate:
    guest: GuestRow
    reasons: tuple[str, ...]  # "email", "phone", "name"


@dataclass(frozen=True)
class DuplicatePair:
    first: GuestRow
    second: GuestRow
    reasons: tuple[str, ...]


# --- validation ----------------------------------------------------------------------------------


def validated(data: GuestInput) -> GuestInput:
    """The input trimmed and checked, or ValidationError; email and phone become None when empty."""
    last = normalize.clean_text(data.last_name, "The last name", max_length=100, required=True)
    first = normalize.clean_text(data.first_name, "The first name", max_length=100)
    email = normalize.clean_text(data.email, "The e-mail address", max_length=_EMAIL_MAX) or None
    phone = normalize.clean_text(data.phone, "The phone number", max_length=40) or None
    notes = normalize.clean_text(data.notes, "The notes", max_length=2000, multiline=True)
    if email is not None:
        _check_email(email)
    if phone is not None:
        _check_phone(phone)
    return GuestInput(last_name=last, first_name=first, email=email, phone=phone, notes=notes)


def _check_email(email: str) -> None:
    local, at, domain = email.partition("@")
    plausible = (
        at and local and "@" not in domain and "." in domain.strip(".") and not any(ch.isspace() for ch in email)
    )
    if not plausible:
        raise ValidationError(f"{email!r} does not look like an e-mail address (name@example.com).")


def _check_phone(phone: str) -> None:
    digits = normalize.phone_norm(phone) or ""
    low, high = _PHONE_DIGITS
    if not _PHONE_LIKE.fullmatch(phone) or not low <= len(digits) <= high:
        raise ValidationError(f"{phone!r} is not a phone number: use {low} to {high} digits, spaces, + - ( ).")


def _apply(guest: Guest, data: GuestInput) -> None:
    guest.last_name = data.last_name
    guest.first_name = data.first_name
    guest.email = data.email
    guest.phone = data.phone
    guest.notes = data.notes
    guest.name_norm = normalize.name_norm(data.last_name, data.first_name)
    guest.first_norm = normalize.fold(data.first_name)
    guest.email_norm = normalize.email_norm(data.email)
    guest.phone_norm = normalize.phone_norm(data.phone)


def _row(guest: Guest) -> GuestRow:
    return GuestRow(
        id=guest.id,
        last_name=guest.last_name,
        first_name=guest.first_name,
        email=guest.email,
        phone=guest.phone,
        vip=guest.vip,
        notes=guest.notes,
        source=guest.source,
    )


# --- changes -------------------------------------------------------------------------------------


def add_guest(uow: UnitOfWork, data: GuestInput) -> Guest:
    """Insert a validated guest inside another service's unit of work (audit row and event included)."""
    clean = validated(data)
    guest = Guest(hotel_id=uow.actor.hotel_id)
    _apply(guest, clean)
    uow.session.add(guest)
    uow.flush()
    uow.audit("guest.created", "guest", guest.id, name=_row(guest).display_name)
    uow.emit(GuestChanged(hotel_id=uow.actor.hotel_id, guest_id=guest.id))
    return guest


@requires(Permission.GUESTS_WRITE)
def create_guest(actor: Actor, data: GuestInput) -> GuestRow:
    """A new guest profile. Call find_duplicates_for() first to warn about a likely existing one."""
    with unit_of_work(actor, Permission.GUESTS_WRITE) as uow:
        guest = add_guest(uow, data)
        uow.commit()
        return _row(guest)


@requires(Permission.GUESTS_WRITE)
def update_guest(actor: Actor, guest_id: int, data: GuestInput) -> GuestRow:
    """Replace the editable fields; an edit that changes nothing writes nothing."""
    clean = validated(data)
    with unit_of_work(actor, Permission.GUESTS_WRITE) as uow:
        guest = uow.get(Guest, guest_id, "Guest", lock=True)
        changed = [name for name in _EDITABLE if getattr(guest, name) != getattr(clean, name)]
        if changed:
            _apply(guest, clean)
            guest.updated_at = func.now()
            uow.audit("guest.updated", "guest", guest.id, changed=changed)
            uow.emit(GuestChanged(hotel_id=actor.hotel_id, guest_id=guest.id))
            uow.commit()
        return _row(guest)


@requires(Permission.GUESTS_WRITE)
def set_vip(actor: Actor, guest_id: int, vip: bool) -> GuestRow:
    """Set or clear the VIP flag."""
    with unit_of_work(actor, Permission.GUESTS_WRITE) as uow:
        guest = uow.get(Guest, guest_id, "Guest", lock=True)
        if guest.vip != vip:
            guest.vip = vip
            guest.updated_at = func.now()
            uow.audit("guest.vip_set" if vip else "guest.vip_cleared", "guest", guest.id)
            uow.emit(GuestChanged(hotel_id=actor.hotel_id, guest_id=guest.id))
            uow.commit()
        return _row(guest)


@requires(Permission.GUESTS_READ)
def get_guest(actor: Actor, guest_id: int) -> GuestRow:
    with unit_of_work(actor, Permission.GUESTS_READ) as uow:
        return _row(uow.get(Guest, guest_id, "Guest"))


# --- search as you type --------------------------------------------------------------------------


def _prefix(column: str, name: str) -> str:
    """``column`` starts with the text bound as ``name_from`` .. ``name_to`` (see ``_range``). The bounds sit
    in sub-selects so that no plan depends on their values: PostgreSQL then keeps one generic plan for the
    statement instead of planning it again for every key stroke, which costs more than running it."""
    return f"{column} >= (SELECT %({name}_from)s::text) AND {column} < (SELECT %({name}_to)s::text)"


# One branch per look-up: (what it matched on, its condition, its order). Each stays on one index; the
# parameters are named per branch because one statement carries them all.
_BRANCHES = {
    "confirmation": (
        "confirmation",
        "g.id IN (SELECT b.guest_id FROM bookings b WHERE b.hotel_id = %(hotel)s AND b.confirmation_code = %(code)s)",
        "g.id",
    ),
    "phone": ("phone", _prefix("g.phone_norm", "phone"), "g.phone_norm"),
    "name": ("name", _prefix("g.name_norm", "name"), "g.name_norm"),
    "first_name": ("first_name", _prefix("g.first_norm", "first"), "g.first_norm, g.name_norm"),
    # "john smi": the first name, typed in full, drives the index; the start of the last name (perhaps one
    # letter, matching thousands) only filters: starts_with() is never an index condition under RLS.
    "first_then_last": (
        "name",
        f"{_prefix('g.first_norm', 'given')} AND starts_with(g.name_norm, (SELECT %(family)s::text))",
        "g.name_norm",
    ),
    "email": ("email", _prefix("g.email_norm", "email"), "g.email_norm"),
}
_GUEST_COLUMNS = "g.id, g.last_name, g.first_name, g.email, g.phone, g.vip, g.notes, g.source"  # GuestRow's order
_STAY_COLUMNS = "b.id, b.confirmation_code, b.check_in, b.check_out, b.status, r.number"  # StayRef's order
# Where each part sits in a result row: branch, position, the guest, the next stay, the last stay.
_GUEST, _NEXT, _LAST = slice(2, 10), slice(10, 16), slice(16, 22)


@functools.cache
def _search_statement(branches: tuple[str, ...]) -> str:
    """Every look-up the typed text can mean in one statement: each branch's first 20 guests in its order, a
    guest found by several kept where first found, the first 20 of those in branch order, and with each the
    current or next active stay and the last finished one (the business date read inside)."""
    selects = " UNION ALL ".join(
        f"(SELECT {n} AS branch, row_number() OVER (ORDER BY {order}) AS pos, {_GUEST_COLUMNS} FROM guests g"
        f" WHERE g.hotel_id = %(hotel)s AND {condition} ORDER BY {order} LIMIT {SEARCH_LIMIT})"
        for n, (_, condition, order) in enumerate(_BRANCHES[branch] for branch in branches)
    )
    return f"""
SELECT h.*, n.*, l.* FROM (
    SELECT * FROM (SELECT DISTINCT ON (id) * FROM ({selects}) found ORDER BY id, branch, pos) first_found
    ORDER BY branch, pos LIMIT {SEARCH_LIMIT}
) h
LEFT JOIN LATERAL (
    SELECT {_STAY_COLUMNS} FROM bookings b LEFT JOIN rooms r ON r.id = b.room_id
    WHERE b.hotel_id = %(hotel)s AND b.guest_id = h.id AND b.status IN ('confirmed', 'checked_in')
      AND b.check_out > (SELECT d.business_date FROM hotels d WHERE d.id = %(hotel)s)
    ORDER BY b.check_in LIMIT 1
) n ON true
LEFT JOIN LATERAL (
    SELECT {_STAY_COLUMNS} FROM bookings b LEFT JOIN rooms r ON r.id = b.room_id
    WHERE b.hotel_id = %(hotel)s AND b.guest_id = h.id AND b.status = 'checked_out'
    ORDER BY b.check_out DESC LIMIT 1
) l ON true
ORDER BY h.branch, h.pos"""


def _range(name: str, prefix: str) -> dict[str, str]:
    """``name_from`` and ``name_to`` of a prefix range PostgreSQL can take from a C-collated index."""
    return {f"{name}_from": prefix, f"{name}_to": normalize.prefix_upper_bound(prefix)}


def _lookups(text: str) -> Iterable[tuple[str, dict[str, str]]]:
    """The look-ups (branches) a typed text can mean, most specific first, with their parameters."""
    code = normalize.confirmation_code(text)
    if _CODE_LIKE.fullmatch(text) and any(ch.isdigit() for ch in code):
        yield "confirmation", {"code": code}
    digits = normalize.phone_norm(text) or ""
    if _PHONE_LIKE.fullmatch(text) and len(digits) >= 3:
        yield "phone", _range("phone", digits)
        return
    email = normalize.email_norm(text) or ""
    folded = normalize.fold(text)
    if "@" not in text and folded:
        yield "name", _range("name", folded)
        yield "first_name", _range("first", folded)
        first, _, last = folded.partition(" ")
        if last:  # "john smi": first name, then the start of the last name
            yield "first_then_last", {"family": last} | _range("given", first)
    if len(email) >= 3 and " " not in email:
        yield "email", _range("email", email)


def _search(hotel_id: int, text: str) -> tuple[tuple[str, ...], reads.Query] | None:
    """The branches the typed text means and the one statement that runs them all, or None (nothing to look up)."""
    lookups = list(_lookups(text))
    if not lookups:
        return None
    parameters: dict[str, Any] = {"hotel": hotel_id}
    for _, values in lookups:
        parameters |= values
    branches = tuple(branch for branch, _ in lookups)
    return branches, (_search_statement(branches), parameters)


@requires(Permission.GUESTS_READ)
def search_guests(actor: Actor, text: str) -> list[GuestMatch]:
    """Up to 20 guests whose name ("last first" or first name), e-mail or phone starts with ``text``, or
    whose booking has that confirmation code; case and accents do not matter."""
    typed = normalize.clean_text(text, "The search text", max_length=100)
    search = _search(actor.hotel_id, typed) if typed else None
    if search is None:
        return []
    branches, query = search
    [rows] = read(actor, Permission.GUESTS_READ, query)
    return [
        GuestMatch(
            GuestRow(*row[_GUEST]),
            _BRANCHES[branches[row[0]]][0],
            None if row[_NEXT.start] is None else StayRef(*row[_NEXT]),
            None if row[_LAST.start] is None else StayRef(*row[_LAST]),
        )
        for row in rows
    ]


# --- duplicates ----------------------------------------------------------------------------------


@requires(Permission.GUESTS_READ)
def find_duplicates_for(
    actor: Actor, data: GuestInput, exclude_guest_id: int | None = None
) -> list[DuplicateCandidate]:
    """Existing guests with the same e-mail, phone or name as ``data`` (before creating or editing one).
    Unusable fields are skipped here; create_guest() reports them."""
    keys = {
        "email": (Guest.email_norm, normalize.email_norm(data.email)),
        "phone": (Guest.phone_norm, normalize.phone_norm(data.phone)),
        "name": (Guest.name_norm, normalize.name_norm(data.last_name or "", data.first_name or "")),
    }
    wanted = {reason: (column, value) for reason, (column, value) in keys.items() if value}
    if not wanted:
        return []
    with unit_of_work(actor, Permission.GUESTS_READ) as uow:
        query = select(Guest).where(Guest.hotel_id == actor.hotel_id)
        query = query.where(or_(*(column == value for column, value in wanted.values())))
        if exclude_guest_id is not None:
            query = query.where(Guest.id != exclude_guest_id)
        guests = uow.session.scalars(query.order_by(Guest.id).limit(SEARCH_LIMIT)).all()
        return [
            DuplicateCandidate(
                _row(guest),
                tuple(reason for reason, (column, value) in wanted.items() if getattr(guest, column.key) == value),
            )
            for guest in guests
        ]


@requires(Permission.GUESTS_READ)
def find_duplicates(actor: Actor) -> list[DuplicatePair]:
    """Pairs of guests sharing an e-mail, a phone number or a name (the first 100 pairs), for review."""
    with unit_of_work(actor, Permission.GUESTS_READ) as uow:
        pairs: dict[tuple[int, int], tuple[Guest, Guest, list[str]]] = {}
        for reason, column in _DUPLICATE_KEYS.items():
            for group in _groups_sharing(uow.session, actor.hotel_id, column):
                for first, second in itertools.combinations(group, 2):
                    pairs.setdefault((first.id, second.id), (first, second, []))[2].append(reason)
        ordered = sorted(pairs.items())[:DUPLICATE_LIMIT]
        return [DuplicatePair(_row(a), _row(b), tuple(reasons)) for _, (a, b, reasons) in ordered]


_DUPLICATE_KEYS = {"email": Guest.email_norm, "phone": Guest.phone_norm, "name": Guest.name_norm}
_GROUP_MEMBERS = 15  # a placeholder e-mail shared by hundreds would otherwise make tens of thousands of pairs


def _groups_sharing(session: Session, hotel_id: int, column: QueryableAttribute[Any]) -> list[list[Guest]]:
    """Guests grouped by a key value that more than one guest has. The keys come from a streaming GROUP BY
    over the key's index (a self-join costs a second per 100,000 guests)."""
    shared = (
        select(column)
        .where(Guest.hotel_id == hotel_id, column.is_not(None))
        .group_by(column)
        .having(func.count() > 1)
        .order_by(column)
        .limit(DUPLICATE_LIMIT)
    )
    members = session.scalars(
        select(Guest).where(Guest.hotel_id == hotel_id, column.in_(shared.scalar_subquery())).order_by(column, Guest.id)
    )
    groups = itertools.groupby(members, key=lambda guest: getattr(guest, column.key))
    return [list(itertools.islice(group, _GROUP_MEMBERS)) for _, group in groups]
