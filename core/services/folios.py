"""Folios: charges, voids, payments, refunds, closing, and the statement with its running balance.

Lines are signed and never edited: a charge or refund raises the balance, a payment lowers it, a void is a
new line reversing one charge. Every posting locks the folio row first, so balance rules (refund at most what
was paid, close at zero) hold when two terminals post to the same folio at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select

from core.auth import Actor, Permission
from core.errors import FolioError, InvalidTransition, NotFound, ValidationError
from core.events.catalog import ChargePosted, ChargeVoided, FolioClosed
from core.models import Booking, Folio, FolioLine
from core.normalize import clean_text
from core.services.uow import UnitOfWork, requires, transact, unit_of_work

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000")  # one posting; larger sums are split or are a typing mistake
MAX_TEXT = 200
MAX_ID = 2**63 - 1


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedLine:
    line_id: int
    folio_id: int
    kind: str
    description: str
    amount: Decimal
    balance: Decimal  # the folio's balance after this line


@dataclass(frozen=True)
class FolioSummary:
    folio_id: int
    booking_id: int
    currency: str
    status: str
    balance: Decimal
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class StatementLine:
    line_id: int
    posted_at: dt.datetime
    business_date: dt.date
    kind: str
    description: str
    amount: Decimal
    running_balance: Decimal
    voids_line_id: int | None
    voided_by_line_id: int | None


@dataclass(frozen=True)
class FolioStatement:
    folio: FolioSummary
    confirmation_code: str
    lines: tuple[StatementLine, ...]


# --- input checks (shared with the stays service) ------------------------------------------------


def require_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"The {what} must be given by its number, not {value!r}.")
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"{what.capitalize()} {value} was not found in this hotel.")
    return value


def parse_amount(value: Any) -> Decimal:
    """A positive amount of money below MAX_AMOUNT with at most two decimals (Decimal, int or text)."""
    if isinstance(value, float):
        raise FolioError(f"The amount {value!r} is a floating-point number; give money as an exact amount.")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise FolioError(f"The amount must be a number, not {value!r}.")
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise FolioError(f"{value!r} is not an amount of money.") from None
    if not amount.is_finite():
        raise FolioError("The amount must be a finite number.")
    if amount <= 0:
        raise FolioError("The amount must be greater than zero.")
    if amount >= MAX_AMOUNT:
        raise FolioError(f"The amount {amount} is too large; one posting must stay below {MAX_AMOUNT:,}.")
    if amount != amount.quantize(CENT):
        raise FolioError(f"The amount {amount} has more than two decimals.")
    return amount.quantize(CENT)


def money(currency: str, amount: Decimal) -> str:
    return f"{currency} {amount.quantize(CENT):,}"


# --- building blocks used inside a unit of work (also by the stays service) ----------------------


def lock_folio(uow: UnitOfWork, folio_id: int) -> Folio:
    stmt = select(Folio).where(Folio.id == folio_id).with_for_update().execution_options(populate_existing=True)
    folio = uow.session.scalars(stmt).one_or_none()
    if folio is None:
        raise NotFound(f"Folio {folio_id} was not found in this hotel.")
    return folio


def lock_open_folio_of(uow: UnitOfWork, booking_id: int) -> Folio | None:
    """The booking's open folio, locked; None when it has none (closed, or never opened)."""
    stmt = (
        select(Folio)
        .where(Folio.hotel_id == uow.actor.hotel_id, Folio.booking_id == booking_id, Folio.status == "open")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return uow.session.scalars(stmt).one_or_none()


def open_new_folio(uow: UnitOfWork, booking_id: int) -> Folio:
    folio = Folio(hotel_id=uow.actor.hotel_id, booking_id=booking_id, currency=uow.hotel.currency)
    uow.session.add(folio)
    uow.flush()
    return folio


def balance_of(uow: UnitOfWork, folio_id: int) -> Decimal:
    total = uow.session.scalar(
        select(func.coalesce(func.sum(FolioLine.amount), 0)).where(
            FolioLine.hotel_id == uow.actor.hotel_id, FolioLine.folio_id == folio_id
        )
    )
    return Decimal(total or 0).quantize(CENT)


def lines_of(uow: UnitOfWork, folio_id: int) -> list[FolioLine]:
    stmt = (
        select(FolioLine)
        .where(FolioLine.hotel_id == uow.actor.hotel_id, FolioLine.folio_id == folio_id)
        .order_by(FolioLine.id)
    )
    return list(uow.session.scalars(stmt))


def require_open(folio: Folio) -> None:
    if folio.status != "open":
        raise FolioError(f"Folio {folio.id} is closed; a closed folio never changes.")


def close_locked_folio(uow: UnitOfWork, folio: Folio, now: dt.datetime) -> None:
    """Close a locked, open folio at zero balance: audit row and FolioClosed event included."""
    balance = balance_of(uow, folio.id)
    if balance != 0:
        raise FolioError(unsettled_message(folio, balance))
    folio.status = "closed"
    folio.closed_at = now
    uow.audit("folio.closed", "folio", folio.id, booking_id=folio.booking_id)
    uow.emit(FolioClosed(hotel_id=uow.actor.hotel_id, folio_id=folio.id))


def db_now(uow: UnitOfWork) -> dt.datetime:
    """The transaction's timestamp, so every row of one change carries the same time."""
    return uow.session.scalars(select(func.now())).one()


def unsettled_message(folio: Folio, balance: Decimal) -> str:
    if balance > 0:
        return f"Folio {folio.id} still has a balance of {money(folio.currency, balance)} to pay."
    return f"Folio {folio.id} is in credit by {money(folio.currency, -balance)}; refund it first."


def post_line(uow: UnitOfWork, folio: Folio, kind: str, description: str, amount: Decimal, **link: Any) -> PostedLine:
    """Inside a unit of work, on a locked open folio: add one signed line (its audit row and event are
    ``record_posting``'s)."""
    line = FolioLine(
        hotel_id=uow.actor.hotel_id,
        folio_id=folio.id,
        kind=kind,
        description=description,
        amount=amount,
        business_date=uow.business_date,
        posted_by=uow.actor.user_id,
        **link,
    )
    uow.session.add(line)
    uow.flush()
    return PostedLine(line.id, folio.id, kind, description, amount, balance_of(uow, folio.id))


def record_posting(uow: UnitOfWork, posted: PostedLine, action: str) -> None:
    """The audit row and ChargePosted event of a posted line."""
    uow.audit(
        action, "folio", posted.folio_id, line_id=posted.line_id, amount=posted.amount, description=posted.description
    )
    uow.emit(
        ChargePosted(
            hotel_id=uow.actor.hotel_id,
            folio_id=posted.folio_id,
            line_id=posted.line_id,
            kind=posted.kind,
            amount=posted.amount,
        )
    )


# --- use cases -----------------------------------------------------------------------------------


# kind -> (sign of the stored line, audit action)
_POSTINGS = {
    "charge": (1, "folio.charge_posted"),
    "payment": (-1, "folio.payment_taken"),
    "refund": (1, "folio.refunded"),
}


def _post_to_open_folio(
    actor: Actor, folio_id: int, kind: str, description: str, amount: Decimal | int | str
) -> PostedLine:
    """What a charge, a payment and a refund share: the checks, then one line on the locked, open folio."""
    folio_id = require_id(folio_id, "folio")
    text = clean_text(description, "The description", max_length=MAX_TEXT, required=True)
    value = parse_amount(amount)
    sign, action = _POSTINGS[kind]

    def work(uow: UnitOfWork) -> PostedLine:
        folio = lock_folio(uow, folio_id)
        require_open(folio)
        if kind == "refund":
            _require_paid(uow, folio, value)
        posted = post_line(uow, folio, kind, text, sign * value)
        record_posting(uow, posted, action)
        uow.commit()
        return posted

    return transact(actor, Permission.FOLIO_POST, work)


@requires(Permission.FOLIO_POST)
def post_charge(actor: Actor, folio_id: int, description: str, amount: Decimal | int | str) -> PostedLine:
    """Post a charge (positive line) to an open folio."""
    return _post_to_open_folio(actor, folio_id, "charge", description, amount)


@requires(Permission.FOLIO_POST)
def take_payment(actor: Actor, folio_id: int, amount: Decimal | int | str, description: str = "Payment") -> PostedLine:
    """Record money received; stored as a negative line that lowers the balance."""
    return _post_to_open_folio(actor, folio_id, "payment", description, amount)


@requires(Permission.FOLIO_POST)
def refund(actor: Actor, folio_id: int, amount: Decimal | int | str, description: str = "Refund") -> PostedLine:
    """Give money back: a positive line, at most what was paid (payments less earlier refunds)."""
    return _post_to_open_folio(actor, folio_id, "refund", description, amount)


def _require_paid(uow: UnitOfWork, folio: Folio, amount: Decimal) -> None:
    paid = _net_paid(uow, folio.id)
    if amount > paid:
        raise FolioError(
            f"Cannot refund {money(folio.currency, amount)}: only {money(folio.currency, paid)} "
            f"was paid on folio {folio.id}."
        )


def _net_paid(uow: UnitOfWork, folio_id: int) -> Decimal:
    total = uow.session.scalar(
        select(func.coalesce(func.sum(FolioLine.amount), 0)).where(
            FolioLine.hotel_id == uow.actor.hotel_id,
            FolioLine.folio_id == folio_id,
            FolioLine.kind.in_(("payment", "refund")),
        )
    )
    return -Decimal(total or 0).quantize(CENT)


@requires(Permission.FOLIO_VOID)
def void_charge(actor: Actor, line_id: int, reason: str) -> PostedLine:
    """Reverse one charge with a new line (the charge itself stays as it was). A charge is voided once."""
    line_id = require_id(line_id, "folio line")
    why = clean_text(reason, "The reason for the void", max_length=MAX_TEXT, required=True)

    def work(uow: UnitOfWork) -> PostedLine:
        line = uow.get(FolioLine, line_id, "Folio line")
        folio = lock_folio(uow, line.folio_id)
        require_open(folio)
        _require_voidable(uow, line)
        description = f"Void: {line.description}"[:MAX_TEXT]
        posted = post_line(uow, folio, "void", description, -line.amount, voids_line_id=line.id)
        uow.audit(
            "folio.line_voided",
            "folio",
            folio.id,
            line_id=posted.line_id,
            voided_line_id=line.id,
            amount=posted.amount,
            reason=why,
        )
        uow.emit(
            ChargeVoided(
                hotel_id=uow.actor.hotel_id,
                folio_id=folio.id,
                line_id=posted.line_id,
                voided_line_id=line.id,
            )
        )
        uow.commit()
        return posted

    return transact(actor, Permission.FOLIO_VOID, work)


def _require_voidable(uow: UnitOfWork, line: FolioLine) -> None:
    if line.kind == "payment":
        raise FolioError(f"Line {line.id} is a payment: payments are not voided, they are refunded.")
    if line.kind != "charge":
        raise FolioError(f"Line {line.id} is a {line.kind}; only charges can be voided.")
    earlier = uow.session.scalar(
        select(FolioLine.id).where(FolioLine.hotel_id == uow.actor.hotel_id, FolioLine.voids_line_id == line.id)
    )
    if earlier is not None:
        raise FolioError(f"Charge {line.id} was already voided by line {earlier}.")


@requires(Permission.FOLIO_POST)
def close_folio(actor: Actor, folio_id: int) -> FolioSummary:
    """Close a folio whose balance is zero; an in-house guest's folio closes at check-out instead."""
    folio_id = require_id(folio_id, "folio")

    def work(uow: UnitOfWork) -> FolioSummary:
        folio = lock_folio(uow, folio_id)
        require_open(folio)
        status = uow.session.scalar(select(Booking.status).where(Booking.id == folio.booking_id))
        if status == "checked_in":
            raise InvalidTransition(f"Folio {folio.id} belongs to an in-house guest; it closes at check-out.")
        close_locked_folio(uow, folio, db_now(uow))
        uow.commit()
        return _summary(folio, Decimal("0.00"))

    return transact(actor, Permission.FOLIO_POST, work)


# --- reading -------------------------------------------------------------------------------------


@requires(Permission.BOOKINGS_READ)
def folio_of_booking(actor: Actor, booking_id: int) -> FolioSummary:
    """The booking's open folio, or its latest closed one when none is open."""
    booking_id = require_id(booking_id, "booking")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        folio = _current_folio(uow, booking_id)
        return _summary(folio, balance_of(uow, folio.id))


@requires(Permission.BOOKINGS_READ)
def folio_balance(actor: Actor, folio_id: int) -> Decimal:
    folio_id = require_id(folio_id, "folio")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        uow.get(Folio, folio_id, "Folio")
        return balance_of(uow, folio_id)


@requires(Permission.BOOKINGS_READ)
def folio_statement(actor: Actor, folio_id: int) -> FolioStatement:
    """Every line in posting order with the running balance, for the screen and the printed statement."""
    folio_id = require_id(folio_id, "folio")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return _statement(uow, uow.get(Folio, folio_id, "Folio"))


@requires(Permission.BOOKINGS_READ)
def booking_statement(actor: Actor, booking_id: int) -> FolioStatement:
    """The statement of the booking's folio: the open one, else the latest closed one."""
    booking_id = require_id(booking_id, "booking")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return _statement(uow, _current_folio(uow, booking_id))


def _current_folio(uow: UnitOfWork, booking_id: int) -> Folio:
    uow.get(Booking, booking_id, "Booking")
    stmt = (
        select(Folio)
        .where(Folio.hotel_id == uow.actor.hotel_id, Folio.booking_id == booking_id)
        .order_by((Folio.status == "open").desc(), Folio.id.desc())
        .limit(1)
    )
    folio = uow.session.scalars(stmt).one_or_none()
    if folio is None:
        raise NotFound(f"Booking {booking_id} has no folio.")
    return folio


def _statement(uow: UnitOfWork, folio: Folio) -> FolioStatement:
    code = uow.session.scalar(select(Booking.confirmation_code).where(Booking.id == folio.booking_id))
    lines = lines_of(uow, folio.id)
    voided_by = {line.voids_line_id: line.id for line in lines if line.voids_line_id is not None}
    running = Decimal("0.00")
    rows = []
    for line in lines:
        running += line.amount
        rows.append(
            StatementLine(
                line.id,
                line.posted_at,
                line.business_date,
                line.kind,
                line.description,
                line.amount,
                running,
                line.voids_line_id,
                voided_by.get(line.id),
            )
        )
    return FolioStatement(_summary(folio, running), code or "", tuple(rows))


def _summary(folio: Folio, balance: Decimal) -> FolioSummary:
    return FolioSummary(folio.id, folio.booking_id, folio.currency, folio.status, balance, folio.closed_at)
