"""The front desk as a state machine: random sequences of bookings, room assignments, cancellations,
check-ins, check-outs, folio postings and night audits, driven through the real services against the
real PostgreSQL, with the hotel's rules checked after every step.

Every Hypothesis example gets a hotel of its own with four rooms (two of each type), so stays collide
often; one database serves the whole run. A refused step (any FrontDeskError) must leave the hotel exactly
as it was; a step that changed something must have written its audit row and its outbox event.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from core.auth import Actor
from core.errors import FrontDeskError, RoomUnavailable
from core.services import bookings, folios, guests, night_audit, rooms, stays
from core.services import uow as uow_module
from tests import conftest
from tests.factories import HotelFixture, make_hotel

T = TypeVar("T")

DAY = dt.timedelta(days=1)
ROOM_NUMBERS = ("101", "102", "103", "104")  # 101, 103 STD; 102, 104 DBL
HK_STATUSES = ("dirty", "pickup", "clean", "inspected")
ACTIVE = ("confirmed", "checked_in")
# The night audit only rolls a business date that has really come: start well in the past so a run can
# roll many times.
DAYS_BEHIND = 60

# By default the same 25 examples run every time, in well under a minute, and a failure is reported as found
# (at most 25 steps, each noted with its outcome): shrinking replays hundreds of sequences against the database
# and takes minutes. FRONTDESK_MACHINE_EXAMPLES=500 explores new random examples and shrinks what it finds
# (a soak: run it with --timeout=0).
_SOAK_EXAMPLES = int(os.environ.get("FRONTDESK_MACHINE_EXAMPLES", "0"))
MACHINE_SETTINGS = settings(
    max_examples=_SOAK_EXAMPLES or 25,
    stateful_step_count=25,
    deadline=None,
    derandomize=not _SOAK_EXAMPLES,  # the same examples on every run and every machine
    database=None,
    phases=list(Phase) if _SOAK_EXAMPLES else [Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400.00"), places=2)
# Mostly good money, sometimes what a slip of the keyboard gives: refused before anything is written.
maybe_bad_amounts = st.one_of(amounts, amounts, amounts, st.sampled_from([Decimal(0), Decimal("-5.00"), "1.005"]))
_hotel_numbers = itertools.count(1)


# --- reading the hotel as the database owner -----------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What one hotel looks like in the database (owner's view, filtered by hotel)."""

    counts: dict[str, int]
    business_date: dt.date
    bookings: tuple[tuple[Any, ...], ...]  # id, status, room_id, check_in, check_out, queued, room_type_id
    folios: tuple[tuple[Any, ...], ...]  # id, booking_id, status, sum of lines, line count, payments + refunds
    rooms: tuple[tuple[Any, ...], ...]  # id, number, hk_status, room_type_id

    @property
    def business(self) -> tuple[Any, ...]:
        """Everything but the audit and outbox counts: the state a step is meant to change."""
        kept = {k: v for k, v in self.counts.items() if k not in ("audit_log", "event_outbox")}
        return (kept, self.business_date, self.bookings, self.folios, self.rooms)

    def booking(self, booking_id: int) -> tuple[Any, ...]:
        return next(row for row in self.bookings if row[0] == booking_id)

    def room(self, room_id: int) -> tuple[Any, ...]:
        return next(row for row in self.rooms if row[0] == room_id)


_COUNTED = ("bookings", "folios", "folio_lines", "key_issue_log", "housekeeping_tasks", "audit_log", "event_outbox")
_COUNTS_SQL = text(
    "SELECT "
    + ", ".join(f"(SELECT count(*) FROM {t} WHERE hotel_id = :h) AS {t}" for t in _COUNTED)
    + ", (SELECT count(*) FROM audit_log WHERE hotel_id <> :h)"
    + " + (SELECT count(*) FROM event_outbox WHERE hotel_id <> :h)"
    + " + (SELECT count(*) FROM folio_lines WHERE hotel_id <> :h)"
    + " + (SELECT count(*) FROM bookings WHERE hotel_id <> :h) AS other_hotels"
    + ", (SELECT business_date FROM hotels WHERE id = :h) AS business_date"
)
_BOOKINGS_SQL = text(
    "SELECT id, status, room_id, check_in, check_out, queued, room_type_id FROM bookings"
    " WHERE hotel_id = :h ORDER BY id"
)
_FOLIOS_SQL = text(
    "SELECT f.id, f.booking_id, f.status, coalesce(sum(l.amount), 0), count(l.id),"
    " coalesce(sum(l.amount) FILTER (WHERE l.kind IN ('payment', 'refund')), 0)"
    " FROM folios f LEFT JOIN folio_lines l ON l.folio_id = f.id"
    " WHERE f.hotel_id = :h GROUP BY f.id ORDER BY f.id"
)
_ROOMS_SQL = text("SELECT id, number, hk_status, room_type_id FROM rooms WHERE hotel_id = :h ORDER BY id")
_OVERRIDDEN_CHECK_OUTS_SQL = text(
    "SELECT DISTINCT resource_id::bigint FROM audit_log WHERE hotel_id = :h AND action = 'stay.checked_out'"
    " AND coalesce(details ->> 'override_reason', '') <> ''"
)


def take_snapshot(database: Any, hotel_id: int) -> Snapshot:
    with database.owner.connect() as conn:
        counts = dict(conn.execute(_COUNTS_SQL, {"h": hotel_id}).mappings().one())
        business_date = counts.pop("business_date")
        return Snapshot(
            counts=counts,
            business_date=business_date,
            bookings=tuple(tuple(r) for r in conn.execute(_BOOKINGS_SQL, {"h": hotel_id})),
            folios=tuple(tuple(r) for r in conn.execute(_FOLIOS_SQL, {"h": hotel_id})),
            rooms=tuple(tuple(r) for r in conn.execute(_ROOMS_SQL, {"h": hotel_id})),
        )


def nights(check_in: dt.date, check_out: dt.date) -> Iterator[dt.date]:
    day = check_in
    while day < check_out:
        yield day
        day += DAY


# --- the machine ---------------------------------------------------------------------------------


class FrontDeskMachine(RuleBasedStateMachine):
    database: ClassVar[Any] = None  # the run's TestDatabase, set by the test below
    outcomes: ClassVar[Counter[str]] = Counter()  # "<step>: ok" / "<step>: <Error>" over the whole run

    booking_ids = Bundle("booking_ids")
    in_house_ids = Bundle("in_house_ids")  # bookings once checked in (they may have left since)
    charge_line_ids = Bundle("charge_line_ids")

    def __init__(self) -> None:
        super().__init__()
        today = dt.date.today()
        self.hotel: HotelFixture = make_hotel(
            self.database.owner,
            f"Machine hotel {next(_hotel_numbers)}",
            rooms=4,
            business_date=today - DAYS_BEHIND * DAY,
        )
        self.guest_id = guests.create_guest(self.hotel.front_desk, guests.GuestInput("Walker", "Alex")).id
        self.closed_folios: dict[int, tuple[Any, ...]] = {}  # folio id -> its row when first seen closed
        self.checked_folios: dict[int, tuple[Any, ...]] = {}  # folio id -> its row when its balance was checked
        self.rooms_checked_for: tuple[Any, ...] = ()  # the stays and rooms the rooms service was last checked on
        self.steps_since_audit = 0
        self._snapshot: Snapshot | None = None

    # --- helpers ---------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The hotel as the last step left it. Every change goes through ``attempt`` (which re-reads) or
        ``forget_snapshot``, so a cached read is the database's state."""
        if self._snapshot is None:
            self._snapshot = take_snapshot(self.database, self.hotel.hotel_id)
        return self._snapshot

    def forget_snapshot(self) -> None:
        self._snapshot = None

    def attempt(self, step: str, call: Callable[[], T], *, changes: bool = True) -> T | None:
        """Run one service call. Refused: nothing at all may have changed. Accepted: a change comes with at
        least one audit row and one outbox event of this hotel, and no change with neither. ``changes``
        says the call, when accepted, always changes something."""
        before = self.snapshot()
        self.forget_snapshot()
        self.steps_since_audit += 1
        try:
            result = call()
        except FrontDeskError as exc:
            after = self.snapshot()
            assert after == before, f"{step} was refused ({type(exc).__name__}: {exc}) but changed the database"
            self.record(step, type(exc).__name__)
            note(f"{step}: refused, {type(exc).__name__}: {exc}")
            return None
        after = self.snapshot()
        audit_rows = after.counts["audit_log"] - before.counts["audit_log"]
        outbox_rows = after.counts["event_outbox"] - before.counts["event_outbox"]
        changed = after.business != before.business
        assert after.counts["other_hotels"] == before.counts["other_hotels"], f"{step} wrote to another hotel"
        if changes:
            assert changed, f"{step} was accepted but changed nothing"
        if changed:
            assert audit_rows >= 1, f"{step} changed the hotel without an audit row"
            assert outbox_rows >= 1, f"{step} changed the hotel without an outbox event"
        else:
            assert (audit_rows, outbox_rows) == (0, 0), f"{step} changed nothing but wrote audit/outbox rows"
        self.record(step, "ok")
        note(f"{step}: ok")
        return result

    def record(self, step: str, outcome: str) -> None:
        self.outcomes[f"{step}: {outcome}"] += 1
        event(f"{step}: {outcome}")

    def folio_of(self, booking_id: int) -> tuple[Any, ...]:
        """The booking's open folio, else its latest one (what the desk shows)."""
        rows = [row for row in self.snapshot().folios if row[1] == booking_id]
        return max(rows, key=lambda row: (row[2] == "open", row[0]))

    def room_id(self, number: str) -> int:
        return self.hotel.room_ids[number]

    def actor(self, manager: bool) -> Actor:
        return self.hotel.manager if manager else self.hotel.front_desk

    # --- bookings --------------------------------------------------------------------------------

    @initialize(
        target=booking_ids,
        arrivals=st.lists(
            st.tuples(st.sampled_from(ROOM_NUMBERS), st.integers(1, 3)),
            min_size=1,
            max_size=3,
            unique_by=lambda arrival: arrival[0],
        ),
    )
    def arrivals_today(self, arrivals: list[tuple[str, int]]) -> MultipleResults[int]:
        """Every example starts with a few guests due today in rooms of their own, so stays get somewhere."""
        booked = []
        for room, length in arrivals:
            room_type = "STD" if int(room) % 2 else "DBL"
            booking_id = self.book(room_type, self.snapshot().business_date, length, room)
            assert booking_id is not None, f"an empty hotel refused a booking in room {room}"
            booked.append(booking_id)
        return multiple(*booked)

    @rule(
        target=booking_ids,
        room_type=st.sampled_from(["STD", "DBL"]),
        offset=st.one_of(st.just(0), st.integers(0, 5)),  # arrivals today are the ones that can check in
        length=st.integers(1, 4),
        room=st.none() | st.sampled_from(ROOM_NUMBERS),
    )
    def create_booking(self, room_type: str, offset: int, length: int, room: str | None) -> int | MultipleResults[int]:
        """A stay of either type, from today up to five days ahead, in a chosen room (of the other type
        sometimes: refused) or none yet."""
        booking_id = self.book(room_type, self.snapshot().business_date + offset * DAY, length, room)
        return multiple() if booking_id is None else booking_id

    def book(self, room_type: str, check_in: dt.date, length: int, room: str | None) -> int | None:
        room_id = self.room_id(room) if room else None
        detail = self.attempt(
            "create booking",
            lambda: bookings.create_booking(
                self.hotel.front_desk,
                self.guest_id,
                self.hotel.room_type_ids[room_type],
                check_in,
                check_in + length * DAY,
                room_id=room_id,
            ),
        )
        if detail is None:
            return None
        assert (detail.status, detail.room_id, detail.folio_status, detail.balance) == (
            "confirmed",
            room_id,
            "open",
            Decimal("0.00"),
        )
        return detail.booking_id

    @rule(booking_id=booking_ids, room=st.none() | st.sampled_from(ROOM_NUMBERS), upgrade=st.booleans())
    def assign_room(self, booking_id: int, room: str | None, upgrade: bool) -> None:
        """A chosen room (an upgrade sometimes), or the best free one of the booked type when ``room`` is None.
        Either may be the room the booking already has: accepted, nothing to do."""
        if room is None:
            detail = self.attempt(
                "auto-assign room", lambda: bookings.auto_assign_room(self.hotel.front_desk, booking_id), changes=False
            )
            assert detail is None or detail.room_id is not None
            return
        room_id = self.room_id(room)
        detail = self.attempt(
            "assign room",
            lambda: bookings.assign_room(self.hotel.front_desk, booking_id, room_id, allow_upgrade=upgrade),
            changes=False,
        )
        assert detail is None or detail.room_id == room_id

    @rule(
        booking_id=booking_ids,
        deposit=st.none() | amounts,
        partly_refunded=st.booleans(),
        refund_payments=st.booleans(),
    )
    def cancel_booking(
        self, booking_id: int, deposit: Decimal | None, partly_refunded: bool, refund_payments: bool
    ) -> None:
        """Cancel, with or without giving back what was paid; sometimes a deposit was taken first, and part
        of it refunded already (each its own step)."""
        if deposit is not None:
            self.money(booking_id, "payment", deposit)
            if partly_refunded:
                self.money(booking_id, "refund", (deposit / 2).quantize(Decimal("0.01")) or deposit)
        folio = self.folio_of(booking_id)
        paid = -folio[5]  # payments are negative lines, refunds positive
        result = self.attempt(
            "cancel booking",
            lambda: bookings.cancel_booking(self.hotel.front_desk, booking_id, refund_payments=refund_payments),
        )
        if result is None:
            return
        assert result.booking.status == "cancelled"
        expected = max(paid, Decimal(0)) if refund_payments and folio[2] == "open" else Decimal(0)
        assert result.refunded == expected, f"refunded {result.refunded}, {expected} was still held"

    # --- rooms -----------------------------------------------------------------------------------

    @rule(room=st.sampled_from(ROOM_NUMBERS), status=st.sampled_from([*HK_STATUSES, "ready", "ready by owner"]))
    def change_room(self, room: str, status: str) -> None:
        """Any housekeeping status, allowed by the state machine or not (a refusal must change nothing; the
        status it already has changes nothing), or the walk to ready."""
        room_id = self.room_id(room)
        if status.startswith("ready"):
            self.make_ready(room_id, through_service=status == "ready")
            return
        self.attempt(
            "set room status",
            lambda: rooms.set_room_status(self.hotel.front_desk, room_id, status),
            changes=False,
        )

    def make_ready(self, room_id: int, through_service: bool) -> None:
        """Housekeeping walks the room to inspected through the state machine, or the test's owner sets it
        (the kind of shortcut a data fix would take); either way the room can take a guest afterwards."""
        if not through_service:
            with self.database.owner.begin() as conn:
                conn.execute(text("UPDATE rooms SET hk_status = 'inspected' WHERE id = :r"), {"r": room_id})
            self.forget_snapshot()
            return
        path = {"dirty": ("clean", "inspected"), "pickup": ("clean", "inspected"), "clean": ("inspected",)}
        for status in path.get(self.snapshot().room(room_id)[2], ()):
            change = self.attempt(
                f"room to {status}", functools.partial(rooms.set_room_status, self.hotel.housekeeping, room_id, status)
            )
            assert change is not None, f"room {room_id} could not go to {status}"

    # --- stays -----------------------------------------------------------------------------------

    @rule(
        target=in_house_ids,
        booking_id=booking_ids,
        keys=st.integers(1, 3),
        queue=st.booleans(),
        override=st.booleans(),
        assign_first=st.booleans(),
        ready_first=st.sampled_from(["no", "service", "owner"]),
    )
    def check_in(
        self, booking_id: int, keys: int, queue: bool, override: bool, assign_first: bool, ready_first: str
    ) -> int | MultipleResults[int]:
        """Check in (a manager overriding an early or late arrival sometimes), often after giving the
        booking a room and getting the room inspected (each its own step), as a receptionist prepares one."""
        if assign_first and self.snapshot().booking(booking_id)[2] is None:
            self.assign_room(booking_id, None, False)
        room_id = self.snapshot().booking(booking_id)[2]
        if ready_first != "no" and room_id is not None:
            self.make_ready(room_id, through_service=ready_first == "service")
        before = self.snapshot()
        result = self.attempt(
            "check in",
            lambda: stays.check_in(
                self.actor(override),
                booking_id,
                keys=keys,
                queue=queue,
                override_reason="Arrived on another day" if override else None,
            ),
            changes=False,  # a second queueing of a queued arrival
        )
        if result is None:
            return multiple()
        after = self.snapshot()
        row = after.booking(booking_id)
        if result.queued:
            assert (row[1], row[5]) == ("confirmed", True)
            return multiple()
        assert (row[1], row[2], row[5]) == ("checked_in", result.room_id, False)
        assert after.counts["key_issue_log"] == before.counts["key_issue_log"] + 1
        return booking_id

    @rule(booking_id=in_house_ids, override=st.booleans(), settle_first=st.booleans())
    def check_out(self, booking_id: int, override: bool, settle_first: bool) -> None:
        self.leave(booking_id, override, settle_first)

    @rule(
        booking_id=booking_ids,
        bar_bill=st.none() | amounts,
        bill_voided=st.booleans(),
        override=st.booleans(),
        settle_first=st.booleans(),
    )
    def whole_stay(
        self, booking_id: int, bar_bill: Decimal | None, bill_voided: bool, override: bool, settle_first: bool
    ) -> None:
        """An arrival checked in (with a room, the room ready, the day overridden if need be), a bar bill
        sometimes (voided by a manager sometimes: it was another room's), and then out: each of those its own
        step, so short examples reach check-outs, settled or not, too."""
        if self.snapshot().booking(booking_id)[1] == "confirmed":
            self.check_in(booking_id, 1, False, True, True, "owner")
        if bar_bill is not None:
            line_id = self.post_charge(booking_id, bar_bill)
            if bill_voided and isinstance(line_id, int):
                self.void_charge(line_id, True)
        self.leave(booking_id, override, settle_first)

    def leave(self, booking_id: int, override: bool, settle_first: bool) -> None:
        """Check out, often after settling the folio; a manager may let an unsettled guest leave."""
        if settle_first:
            self.settle(booking_id)
        result = self.attempt(
            "check out",
            lambda: stays.check_out(
                self.actor(override), booking_id, override_reason="Company pays later" if override else None
            ),
        )
        if result is None:
            return
        after = self.snapshot()
        assert after.booking(booking_id)[1] == "checked_out"
        assert after.room(result.room_id)[2] == "dirty"
        folio = next(row for row in after.folios if row[0] == result.folio_id)
        if result.folio_closed:
            assert (folio[2], folio[3]) == ("closed", 0)
        else:
            assert override and folio[2] == "open" and folio[3] == result.balance != 0

    @precondition(lambda self: self.steps_since_audit >= 5)  # a day's work between audits, not 25 in a row
    @rule(force=st.booleans())
    def run_night_audit(self, force: bool) -> None:
        """Roll the business date (a manager forcing it past guests due out sometimes): no-shows, room
        charges, occupied rooms dirty."""
        before = self.snapshot()
        result = self.attempt("night audit", lambda: night_audit.run(self.actor(force), force=force))
        self.steps_since_audit = 0
        if result is not None:
            assert result.business_date == before.business_date
            assert self.snapshot().business_date == before.business_date + DAY

    # --- folios ----------------------------------------------------------------------------------

    @rule(target=charge_line_ids, booking_id=booking_ids, amount=maybe_bad_amounts)
    def post_charge(self, booking_id: int, amount: Any) -> int | MultipleResults[int]:
        folio_id, _, _, balance, *_ = self.folio_of(booking_id)
        posted = self.attempt("post charge", lambda: folios.post_charge(self.hotel.front_desk, folio_id, "Bar", amount))
        if posted is None:
            return multiple()
        assert posted.balance == balance + Decimal(amount)
        return posted.line_id

    @rule(line_id=charge_line_ids, as_manager=st.booleans())
    def void_charge(self, line_id: int, as_manager: bool) -> None:
        """Only a manager may void; the front desk is refused (and nothing changes)."""
        posted = self.attempt("void charge", lambda: folios.void_charge(self.actor(as_manager), line_id, "Wrong room"))
        if posted is not None:
            assert as_manager and posted.kind == "void" and posted.amount < 0

    @rule(booking_id=booking_ids, kind=st.sampled_from(["payment", "refund", "settle"]), amount=maybe_bad_amounts)
    def money(self, booking_id: int, kind: str, amount: Any) -> None:
        """Take a payment, give a refund (at most what was paid), or settle the folio to zero."""
        if kind == "settle":
            self.settle(booking_id)
            return
        folio_id, _, _, balance, _, payments_and_refunds = self.folio_of(booking_id)
        if kind == "payment":
            posted = self.attempt("take payment", lambda: folios.take_payment(self.hotel.front_desk, folio_id, amount))
            assert posted is None or posted.balance == balance - Decimal(amount)
            return
        paid = -payments_and_refunds
        posted = self.attempt("refund", lambda: folios.refund(self.hotel.front_desk, folio_id, amount))
        if posted is not None:
            assert Decimal(amount) <= paid, f"refunded {amount} with only {paid} paid"
            assert posted.balance == balance + Decimal(amount)

    def settle(self, booking_id: int) -> None:
        """Pay what is owed, or give back a credit, so the folio stands at zero (a check-out can follow)."""
        folio_id, _, _, balance, *_ = self.folio_of(booking_id)
        if balance > 0:
            posted = self.attempt("settle", lambda: folios.take_payment(self.hotel.front_desk, folio_id, balance))
        elif balance < 0:
            posted = self.attempt("settle", lambda: folios.refund(self.hotel.front_desk, folio_id, -balance))
        else:
            return
        assert posted is None or posted.balance == 0

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def hotel_rules_hold(self) -> None:
        """Checked after every step, all on one read of the hotel."""
        snap = self.snapshot()
        self.no_room_is_sold_twice_on_a_night(snap)
        self.no_room_type_is_oversold(snap)
        self.folio_balances_are_the_sum_of_their_lines(snap, changed_only=True)
        self.closed_folios_never_change(snap)
        self.rooms_agree_with_in_house_guests(snap)
        self.checked_out_folios_are_settled_unless_overridden(snap)

    def teardown(self) -> None:
        """At the end of an example, every folio's balance once more, changed or not."""
        self.forget_snapshot()
        self.folio_balances_are_the_sum_of_their_lines(self.snapshot(), changed_only=False)

    def no_room_is_sold_twice_on_a_night(self, snap: Snapshot) -> None:
        held: dict[tuple[int, dt.date], int] = {}
        for booking_id, status, room_id, check_in, check_out, *_ in snap.bookings:
            if status not in ACTIVE or room_id is None:
                continue
            for night in nights(check_in, check_out):
                other = held.setdefault((room_id, night), booking_id)
                assert other == booking_id, f"bookings {other} and {booking_id} both hold room {room_id} on {night}"

    def no_room_type_is_oversold(self, snap: Snapshot) -> None:
        """On every night from the business date on, active stays of a type (its room's type once it has a
        room) never outnumber the type's rooms: there are no out-of-order windows in this hotel."""
        physical = Counter(row[3] for row in snap.rooms)
        room_type = {row[0]: row[3] for row in snap.rooms}
        sold: Counter[tuple[int, dt.date]] = Counter()
        for _, status, room_id, check_in, check_out, _, booked_type in snap.bookings:
            if status in ACTIVE:
                type_id = room_type[room_id] if room_id is not None else booked_type
                for night in nights(max(check_in, snap.business_date), check_out):
                    sold[(type_id, night)] += 1
        oversold = {key: n for key, n in sold.items() if n > physical[key[0]]}
        assert not oversold, f"room types sold beyond their rooms (type, night): {oversold}"

    def folio_balances_are_the_sum_of_their_lines(self, snap: Snapshot, *, changed_only: bool) -> None:
        """Every booking has a folio, at most one of them open, no folio refunds more than was paid on it, and
        the folios service reports each balance as the sum of the folio's lines (asked again whenever the
        folio changed, and at the end)."""
        by_booking = Counter(row[1] for row in snap.folios)
        open_by_booking = Counter(row[1] for row in snap.folios if row[2] == "open")
        for row in snap.bookings:
            assert by_booking[row[0]] >= 1, f"booking {row[0]} has no folio"
            assert open_by_booking[row[0]] <= 1, f"booking {row[0]} has {open_by_booking[row[0]]} open folios"
        for row in snap.folios:
            folio_id, _, _, total, *_ = row
            if changed_only and self.checked_folios.get(folio_id) == row:
                continue
            assert row[5] <= 0, f"folio {folio_id} refunded {row[5]} more than was paid on it"
            reported = folios.folio_balance(self.hotel.front_desk, folio_id)
            assert reported == total, f"folio {folio_id}: the service says {reported}, its lines sum to {total}"
            self.checked_folios[folio_id] = row

    def closed_folios_never_change(self, snap: Snapshot) -> None:
        for row in snap.folios:
            folio_id, _, status, total, *_ = row
            if folio_id in self.closed_folios:
                assert row == self.closed_folios[folio_id], f"closed folio {folio_id} changed: {row}"
            elif status == "closed":
                assert total == 0, f"folio {folio_id} was closed with a balance of {total}"
                self.closed_folios[folio_id] = row

    def rooms_agree_with_in_house_guests(self, snap: Snapshot) -> None:
        """One guest at most in a room, every guest in a room, and the rooms service shows exactly them."""
        in_house: dict[int, int] = {}
        for booking_id, status, room_id, check_in, _, _, _ in snap.bookings:
            if status == "checked_in":
                assert room_id is not None, f"booking {booking_id} is checked in without a room"
                assert room_id not in in_house, f"bookings {in_house.get(room_id)} and {booking_id} are in one room"
                assert check_in <= snap.business_date, f"booking {booking_id} is in house before its stay"
                in_house[room_id] = booking_id
            elif status == "confirmed":
                assert check_in >= snap.business_date, f"booking {booking_id} is still expected on a past day"
        seen = (snap.business_date, snap.bookings, snap.rooms)
        if seen == self.rooms_checked_for:
            return  # the rooms service would be asked about the same hotel again
        self.rooms_checked_for = seen
        for room in rooms.list_rooms(self.hotel.front_desk):
            assert room.in_house_booking_id == in_house.get(room.id), f"room {room.number}: {room}"
            assert room.occupancy == ("occupied" if room.id in in_house else "vacant"), f"room {room.number}"
            assert room.hk_status == snap.room(room.id)[2]

    def checked_out_folios_are_settled_unless_overridden(self, snap: Snapshot) -> None:
        checked_out = {row[0] for row in snap.bookings if row[1] == "checked_out"}
        unsettled = {(row[1], row[0], row[3]) for row in snap.folios if row[1] in checked_out and row[3] != 0}
        if not unsettled:
            return
        with self.database.owner.connect() as conn:
            overridden = set(conn.scalars(_OVERRIDDEN_CHECK_OUTS_SQL, {"h": self.hotel.hotel_id}))
        for booking_id, folio_id, total in unsettled:
            assert booking_id in overridden, f"booking {booking_id} left with {total} on folio {folio_id}"


# --- the test ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def machine_db(pg_server: conftest.Server, template_database: str) -> Iterator[conftest.TestDatabase]:
    database = conftest.new_database(pg_server, template_database)
    uow_module.bind_engine(database.app)
    yield database
    uow_module.bind_engine(None)
    conftest.close_database(database)


def test_front_desk_rules_hold_under_random_operations(machine_db: conftest.TestDatabase) -> None:
    FrontDeskMachine.database = machine_db
    FrontDeskMachine.outcomes.clear()
    run_state_machine_as_test(FrontDeskMachine, settings=MACHINE_SETTINGS)
    outcomes = FrontDeskMachine.outcomes
    print(sorted(outcomes.items()))
    # The run must reach the interesting states, or the invariants above would hold vacuously.
    for step in ("create booking", "check in", "check out", "post charge", "void charge", "cancel booking"):
        assert outcomes[f"{step}: ok"] >= 3, f"only {outcomes[f'{step}: ok']} successful '{step}' steps"
    assert sum(n for key, n in outcomes.items() if not key.endswith(": ok")) >= 20


def test_an_early_check_in_does_not_oversell_its_room_type(machine_db: conftest.TestDatabase) -> None:
    hotel = make_hotel(machine_db.owner, f"Early arrival hotel {next(_hotel_numbers)}", rooms=4)  # STD: 101, 103
    guest_id = guests.create_guest(hotel.front_desk, guests.GuestInput("Early", "Erin")).id
    today, standard = hotel.business_date, hotel.room_type_ids["STD"]
    for _ in range(2):  # both Standard rooms are sold tonight, neither stay has a room yet
        bookings.create_booking(hotel.front_desk, guest_id, standard, today, today + DAY)
    tomorrow = bookings.create_booking(
        hotel.front_desk, guest_id, standard, today + DAY, today + 2 * DAY, room_id=hotel.room_ids["101"]
    )
    before = take_snapshot(machine_db, hotel.hotel_id)

    with pytest.raises(RoomUnavailable):
        stays.check_in(hotel.manager, tomorrow.booking_id, override_reason="Arrived a day early")

    assert take_snapshot(machine_db, hotel.hotel_id) == before
