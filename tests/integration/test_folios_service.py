"""Folio postings on the real database: charges, voids, payments, refunds, closing, statements."""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import FolioError, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.models import FolioLine
from core.services import folios
from core.services.uow import unit_of_work
from tests.factories import make_booking

NOT_AN_ID: Any = "1"
TABLES = ("bookings", "folios", "folio_lines", "audit_log", "event_outbox")


def db_state(db) -> dict[str, list[tuple]]:
    """Every row of the tables a folio change touches, to prove a refusal changed nothing."""
    with db.owner.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in TABLES}


def events(db) -> list[tuple[str, dict]]:
    with db.owner.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT name, payload FROM event_outbox ORDER BY id"))]


def audits(db) -> list[tuple]:
    with db.owner.connect() as conn:
        rows = conn.execute(
            text("SELECT action, resource_type, resource_id, user_id, details FROM audit_log ORDER BY id")
        )
        return [tuple(r) for r in rows]


def folio_row(db, folio_id: int) -> tuple:
    with db.owner.connect() as conn:
        return tuple(conn.execute(text("SELECT status, closed_at FROM folios WHERE id = :f"), {"f": folio_id}).one())


def line_rows(db, folio_id: int) -> list[tuple]:
    with db.owner.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT kind, description, amount, voids_line_id, posted_by, business_date FROM folio_lines"
                " WHERE folio_id = :f ORDER BY id"
            ),
            {"f": folio_id},
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def folio(db, hotel) -> int:
    _booking, folio_id = make_booking(db.owner, hotel, check_in=hotel.business_date, room_number="101")
    return folio_id


# --- charges -------------------------------------------------------------------------------------


def test_post_charge_adds_a_line_an_audit_row_and_a_charge_posted_event(db, hotel, folio):
    posted = folios.post_charge(hotel.front_desk, folio, "  Minibar  ", Decimal("12.50"))

    assert (posted.kind, posted.description, posted.amount, posted.balance) == (
        "charge",
        "Minibar",
        Decimal("12.50"),
        Decimal("12.50"),
    )
    fd = hotel.user_ids[hotel.front_desk.role]
    assert line_rows(db, folio) == [("charge", "Minibar", Decimal("12.50"), None, fd, hotel.business_date)]
    assert audits(db) == [
        (
            "folio.charge_posted",
            "folio",
            str(folio),
            fd,
            {"line_id": posted.line_id, "amount": "12.50", "description": "Minibar"},
        )
    ]
    assert events(db) == [
        (
            "charge.posted",
            {
                "hotel_id": hotel.hotel_id,
                "folio_id": folio,
                "line_id": posted.line_id,
                "kind": "charge",
                "amount": "12.50",
            },
        )
    ]


GOOD_AMOUNTS: list[tuple[Any, Decimal]] = [
    (7, Decimal("7.00")),
    ("99999.99", Decimal("99999.99")),
    (Decimal("12.500"), Decimal("12.50")),
    (" 0.01 ", Decimal("0.01")),
]
BAD_AMOUNTS: list[tuple[Any, str]] = [
    (12.5, "floating-point"),
    (Decimal("NaN"), "finite"),
    (Decimal("sNaN"), "finite"),
    (Decimal("Infinity"), "finite"),
    ("-Infinity", "finite"),
    (0, "greater than zero"),
    (Decimal("-5.00"), "greater than zero"),
    (Decimal("100000"), "too large"),
    ("1e9", "too large"),
    (Decimal("12.345"), "two decimals"),
    ("twelve", "not an amount"),
    (True, "must be a number"),
    (None, "must be a number"),
]
BAD_DESCRIPTIONS: list[tuple[Any, str]] = [
    ("", "description is required"),
    ("   ", "description is required"),
    ("x" * 201, "at most 200 characters, not 201"),
    ("Mini\x00bar", "U\\+0000"),
    ("Mini\nbar", "U\\+000A"),
    ("Mini\u200bbar", "U\\+200B"),
    ("Evil \u202etxt", "U\\+202E"),
    (42, "must be text"),
]


def test_charge_amounts_are_exact_and_stored_with_two_decimals(db, hotel, folio):
    # One database for all cases: creating one per case costs more than the test itself.
    for amount, expected in GOOD_AMOUNTS:
        posted = folios.post_charge(hotel.front_desk, folio, "Spa", amount)
        assert posted.amount == expected, amount
    assert [row[2] for row in line_rows(db, folio)] == [expected for _amount, expected in GOOD_AMOUNTS]


def test_bad_amounts_are_refused_and_nothing_changes(db, hotel, folio):
    before = db_state(db)
    for amount, message in BAD_AMOUNTS:
        for post in (folios.post_charge, folios.take_payment, folios.refund):
            with pytest.raises(FolioError, match=message):
                post(hotel.front_desk, folio, description="Something", amount=amount)
    assert db_state(db) == before


def test_bad_descriptions_are_refused_and_nothing_changes(db, hotel, folio):
    before = db_state(db)
    for description, message in BAD_DESCRIPTIONS:
        for post in (folios.post_charge, folios.take_payment, folios.refund):
            with pytest.raises(ValidationError, match=message):
                post(hotel.front_desk, folio, description=description, amount=Decimal("5.00"))
    assert db_state(db) == before


def test_descriptions_of_200_characters_and_accents_are_kept(db, hotel, folio):
    folios.post_charge(hotel.front_desk, folio, "y" * 200, Decimal("1.00"))
    folios.post_charge(hotel.front_desk, folio, "Cafe\u0301 cre\u0300me ☕", Decimal("4.20"))
    descriptions = [row[1] for row in line_rows(db, folio)]
    assert descriptions == ["y" * 200, "Café crème ☕"]  # NFC-composed


def test_unknown_and_other_hotels_folios_are_not_found(db, hotel, other_hotel, folio):
    _b, foreign = make_booking(db.owner, other_hotel, check_in=other_hotel.business_date, room_number="101")
    before = db_state(db)
    for folio_id in (foreign, 987654, 2**70):
        with pytest.raises(NotFound):
            folios.post_charge(hotel.front_desk, folio_id, "Minibar", Decimal("1.00"))
        with pytest.raises(NotFound):
            folios.folio_statement(hotel.front_desk, folio_id)
    with pytest.raises(ValidationError):
        folios.post_charge(hotel.front_desk, NOT_AN_ID, "Minibar", Decimal("1.00"))
    assert db_state(db) == before


def test_housekeeping_cannot_post_or_read_folios(db, hotel, folio):
    folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("3.00"))
    before = db_state(db)
    hk = hotel.housekeeping
    refusals = [
        lambda: folios.post_charge(hk, folio, "Minibar", Decimal("1.00")),
        lambda: folios.take_payment(hk, folio, Decimal("1.00")),
        lambda: folios.refund(hk, folio, Decimal("1.00")),
        lambda: folios.close_folio(hk, folio),
        lambda: folios.folio_statement(hk, folio),
        lambda: folios.folio_balance(hk, folio),
    ]
    for attempt in refusals:
        with pytest.raises(PermissionDenied, match="housekeeping role"):
            attempt()
    assert db_state(db) == before


# --- payments and refunds ------------------------------------------------------------------------


def test_payment_is_stored_negative_and_lowers_the_balance(db, hotel, folio):
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("100.00"))
    paid = folios.take_payment(hotel.front_desk, folio, Decimal("40.00"), "Visa 1234")

    assert (paid.kind, paid.amount, paid.balance) == ("payment", Decimal("-40.00"), Decimal("60.00"))
    assert line_rows(db, folio)[-1][:3] == ("payment", "Visa 1234", Decimal("-40.00"))
    assert events(db)[-1][1]["kind"] == "payment"
    assert events(db)[-1][1]["amount"] == "-40.00"
    assert audits(db)[-1][0] == "folio.payment_taken"
    assert folios.folio_balance(hotel.front_desk, folio) == Decimal("60.00")


def test_refund_is_positive_and_limited_to_what_was_paid_net(db, hotel, folio):
    folios.take_payment(hotel.front_desk, folio, Decimal("50.00"))
    first = folios.refund(hotel.front_desk, folio, Decimal("20.00"), "Deposit back")
    assert (first.kind, first.amount, first.balance) == ("refund", Decimal("20.00"), Decimal("-30.00"))
    assert events(db)[-1][1]["kind"] == "refund"
    assert audits(db)[-1][0] == "folio.refunded"

    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("only EUR 30.00 was paid")):
        folios.refund(hotel.front_desk, folio, Decimal("30.01"))
    assert db_state(db) == before
    assert folios.refund(hotel.front_desk, folio, Decimal("30.00")).balance == Decimal("0.00")


def test_refund_without_payment_is_refused(db, hotel, folio):
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("100.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("only EUR 0.00 was paid")):
        folios.refund(hotel.front_desk, folio, Decimal("1.00"))
    assert db_state(db) == before


def test_two_terminals_refunding_the_whole_payment_at_once_refund_it_once(db, hotel, folio):
    folios.take_payment(hotel.front_desk, folio, Decimal("80.00"))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def refund_all() -> None:
        start.wait()
        try:
            folios.refund(hotel.front_desk, folio, Decimal("80.00"))
            outcomes.append("refunded")
        except FolioError:
            outcomes.append("refused")

    threads = [threading.Thread(target=refund_all) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refunded", "refused"]
    assert folios.folio_balance(hotel.front_desk, folio) == Decimal("0.00")


# --- voids ---------------------------------------------------------------------------------------


def test_manager_voids_a_charge_with_a_reversing_line(db, hotel, folio):
    charge = folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("12.50"))
    void = folios.void_charge(hotel.manager, charge.line_id, "Posted to the wrong room")

    assert (void.kind, void.amount, void.balance) == ("void", Decimal("-12.50"), Decimal("0.00"))
    lines = line_rows(db, folio)
    assert lines[0][:4] == ("charge", "Minibar", Decimal("12.50"), None)  # the charge itself is untouched
    assert lines[1][:4] == ("void", "Void: Minibar", Decimal("-12.50"), charge.line_id)
    assert events(db)[-1] == (
        "charge.voided",
        {"hotel_id": hotel.hotel_id, "folio_id": folio, "line_id": void.line_id, "voided_line_id": charge.line_id},
    )
    action, _type, resource, user, details = audits(db)[-1]
    assert (action, resource, user) == ("folio.line_voided", str(folio), hotel.user_ids[hotel.manager.role])
    assert details["reason"] == "Posted to the wrong room"
    assert details["voided_line_id"] == charge.line_id


def test_admin_may_void_but_front_desk_may_not(db, hotel, folio):
    charge = folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("12.50"))
    before = db_state(db)
    with pytest.raises(PermissionDenied, match="front desk role may not void"):
        folios.void_charge(hotel.front_desk, charge.line_id, "Mistake")
    with pytest.raises(PermissionDenied):
        folios.void_charge(hotel.housekeeping, charge.line_id, "Mistake")
    assert db_state(db) == before
    assert folios.void_charge(hotel.admin, charge.line_id, "Mistake").amount == Decimal("-12.50")


def test_a_charge_is_voided_once_and_voids_payments_and_refunds_are_not_voidable(db, hotel, folio):
    charge = folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("12.50"))
    void = folios.void_charge(hotel.manager, charge.line_id, "Mistake")
    payment = folios.take_payment(hotel.front_desk, folio, Decimal("10.00"))
    refund = folios.refund(hotel.front_desk, folio, Decimal("10.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=f"already voided by line {void.line_id}"):
        folios.void_charge(hotel.manager, charge.line_id, "Again")
    with pytest.raises(FolioError, match="only charges"):
        folios.void_charge(hotel.manager, void.line_id, "Undo the void")
    with pytest.raises(FolioError, match="payments are not voided, they are refunded"):
        folios.void_charge(hotel.manager, payment.line_id, "Card declined")
    with pytest.raises(FolioError, match="only charges"):
        folios.void_charge(hotel.manager, refund.line_id, "Oops")
    with pytest.raises(ValidationError, match="reason"):
        folios.void_charge(hotel.manager, charge.line_id, "  ")
    with pytest.raises(NotFound):
        folios.void_charge(hotel.manager, 999999, "Nothing")
    assert db_state(db) == before


# --- closing and closed folios -------------------------------------------------------------------


def test_close_at_zero_balance_closes_with_an_event_and_an_audit_row(db, hotel):
    booking, folio = make_booking(db.owner, hotel, check_in=hotel.business_date, status="cancelled")
    folios.post_charge(hotel.front_desk, folio, "Cancellation fee", Decimal("50.00"))
    folios.take_payment(hotel.front_desk, folio, Decimal("50.00"))

    summary = folios.close_folio(hotel.front_desk, folio)

    assert (summary.status, summary.balance, summary.booking_id) == ("closed", Decimal("0.00"), booking)
    status, closed_at = folio_row(db, folio)
    assert status == "closed" and closed_at is not None
    assert events(db)[-1] == ("folio.closed", {"hotel_id": hotel.hotel_id, "folio_id": folio})
    assert audits(db)[-1][:3] == ("folio.closed", "folio", str(folio))


def test_close_is_refused_with_the_balance_or_the_credit_in_the_message(db, hotel):
    _booking, folio = make_booking(db.owner, hotel, check_in=hotel.business_date, status="cancelled")
    folios.post_charge(hotel.front_desk, folio, "Cancellation fee", Decimal("1250.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("balance of EUR 1,250.00")):
        folios.close_folio(hotel.front_desk, folio)
    assert db_state(db) == before

    folios.take_payment(hotel.front_desk, folio, Decimal("1300.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("in credit by EUR 50.00")):
        folios.close_folio(hotel.front_desk, folio)
    assert db_state(db) == before


def test_an_in_house_guests_folio_closes_only_at_check_out(db, hotel):
    _booking, folio = make_booking(
        db.owner, hotel, check_in=hotel.business_date, room_number="101", status="checked_in"
    )
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="closes at check-out"):
        folios.close_folio(hotel.front_desk, folio)
    assert db_state(db) == before


def test_a_closed_folio_never_changes(db, hotel):
    _booking, folio = make_booking(db.owner, hotel, check_in=hotel.business_date, status="cancelled")
    charge = folios.post_charge(hotel.front_desk, folio, "Fee", Decimal("20.00"))
    folios.take_payment(hotel.front_desk, folio, Decimal("20.00"))
    folios.close_folio(hotel.front_desk, folio)
    before = db_state(db)

    attempts = [
        lambda: folios.post_charge(hotel.front_desk, folio, "Late fee", Decimal("5.00")),
        lambda: folios.take_payment(hotel.front_desk, folio, Decimal("5.00")),
        lambda: folios.refund(hotel.front_desk, folio, Decimal("5.00")),
        lambda: folios.void_charge(hotel.manager, charge.line_id, "Waive"),
        lambda: folios.close_folio(hotel.front_desk, folio),
    ]
    for attempt in attempts:
        with pytest.raises(FolioError, match="closed"):
            attempt()
    assert db_state(db) == before


def test_the_database_refusal_of_a_line_on_a_closed_folio_reads_as_a_folio_error(db, hotel):
    """Even code that skips the service's own check cannot write to a closed folio."""
    _booking, folio = make_booking(db.owner, hotel, check_in=hotel.business_date, status="cancelled")
    folios.close_folio(hotel.front_desk, folio)
    before = db_state(db)
    with pytest.raises(FolioError, match="closed"), unit_of_work(hotel.front_desk, None) as uow:
        uow.session.add(
            FolioLine(
                hotel_id=hotel.hotel_id,
                folio_id=folio,
                kind="charge",
                description="Sneaky",
                amount=Decimal("1.00"),
                business_date=hotel.business_date,
            )
        )
        uow.commit()
    assert db_state(db) == before


# --- statement -----------------------------------------------------------------------------------


def test_statement_lists_lines_in_order_with_running_balance_and_void_links(db, hotel, folio):
    room = folios.post_charge(hotel.front_desk, folio, "Room 101", Decimal("100.00"))
    bar = folios.post_charge(hotel.front_desk, folio, "Bar", Decimal("15.00"))
    void = folios.void_charge(hotel.manager, bar.line_id, "Not ours")
    pay = folios.take_payment(hotel.front_desk, folio, Decimal("120.00"))
    back = folios.refund(hotel.front_desk, folio, Decimal("20.00"))

    statement = folios.folio_statement(hotel.manager, folio)

    rows = [(ln.line_id, ln.kind, ln.amount, ln.running_balance) for ln in statement.lines]
    assert rows == [
        (room.line_id, "charge", Decimal("100.00"), Decimal("100.00")),
        (bar.line_id, "charge", Decimal("15.00"), Decimal("115.00")),
        (void.line_id, "void", Decimal("-15.00"), Decimal("100.00")),
        (pay.line_id, "payment", Decimal("-120.00"), Decimal("-20.00")),
        (back.line_id, "refund", Decimal("20.00"), Decimal("0.00")),
    ]
    assert statement.lines[1].voided_by_line_id == void.line_id
    assert statement.lines[2].voids_line_id == bar.line_id
    assert statement.lines[0].business_date == hotel.business_date
    assert isinstance(statement.lines[0].posted_at, dt.datetime)
    assert (statement.folio.status, statement.folio.balance, statement.folio.currency) == (
        "open",
        Decimal("0.00"),
        "EUR",
    )
    assert statement.confirmation_code.startswith("T")


def test_folio_of_a_booking_is_its_open_folio_else_its_latest_closed_one(db, hotel, other_hotel):
    booking, first = make_booking(db.owner, hotel, check_in=hotel.business_date, status="cancelled")
    assert folios.folio_of_booking(hotel.front_desk, booking).folio_id == first
    folios.close_folio(hotel.front_desk, first)
    assert folios.folio_of_booking(hotel.front_desk, booking).status == "closed"
    assert folios.booking_statement(hotel.front_desk, booking).folio.folio_id == first
    with db.owner.begin() as conn:
        second = conn.execute(
            text("INSERT INTO folios (hotel_id, booking_id, currency) VALUES (:h, :b, 'EUR') RETURNING id"),
            {"h": hotel.hotel_id, "b": booking},
        ).scalar_one()
    found = folios.folio_of_booking(hotel.front_desk, booking)
    assert (found.folio_id, found.status) == (second, "open")
    assert folios.booking_statement(hotel.front_desk, booking).folio.folio_id == second

    foreign, _ = make_booking(db.owner, other_hotel, check_in=other_hotel.business_date)
    for read in (folios.folio_of_booking, folios.booking_statement):
        with pytest.raises(NotFound):
            read(hotel.front_desk, foreign)
