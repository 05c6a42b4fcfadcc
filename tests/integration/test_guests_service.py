"""Guest profiles on a real database: create, edit, VIP, search as you type, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from core.db.transaction import tenant_session
from core.errors import NotFound, PermissionDenied, ValidationError
from core.services import guests
from core.services.guests import GuestInput
from tests.factories import make_booking


def _state(db) -> dict[str, int]:
    """Row counts a refused call must leave as they were."""
    with db.owner.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("guests", "audit_log", "event_outbox")
        }


def _audit(db, action: str) -> list[dict]:
    with db.owner.connect() as conn:
        rows = conn.execute(
            text("SELECT hotel_id, user_id, resource_id, details FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
        return [dict(row._mapping) for row in rows]


def _events(db, name: str) -> list[dict]:
    with db.owner.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM event_outbox WHERE name = :n ORDER BY id"), {"n": name})
        return [row.payload for row in rows]


def _stored(db, guest_id: int) -> dict:
    with db.owner.connect() as conn:
        row = conn.execute(
            text(
                "SELECT last_name, first_name, email, phone, name_norm, first_norm, email_norm, phone_norm, vip"
                " FROM guests WHERE id = :id"
            ),
            {"id": guest_id},
        ).one()
        return dict(row._mapping)


MULLER = GuestInput(last_name="Müller", first_name="Jürgen", email="J.Mueller@Example.de", phone="+49 (30) 1234-567")


# --- create --------------------------------------------------------------------------------------


def test_create_guest_stores_normalised_keys_with_audit_row_and_event(db, hotel):
    row = guests.create_guest(hotel.front_desk, MULLER)

    assert (row.last_name, row.first_name, row.display_name) == ("Müller", "Jürgen", "Müller, Jürgen")
    assert _stored(db, row.id) == {
        "last_name": "Müller",
        "first_name": "Jürgen",
        "email": "J.Mueller@Example.de",
        "phone": "+49 (30) 1234-567",
        "name_norm": "muller jurgen",
        "first_norm": "jurgen",
        "email_norm": "j.mueller@example.de",
        "phone_norm": "49301234567",
        "vip": False,
    }
    assert _audit(db, "guest.created") == [
        {
            "hotel_id": hotel.hotel_id,
            "user_id": hotel.front_desk.user_id,
            "resource_id": str(row.id),
            "details": {"name": "Müller, Jürgen"},
        }
    ]
    assert _events(db, "guest.changed") == [{"hotel_id": hotel.hotel_id, "guest_id": row.id}]


def test_create_guest_trims_text_and_leaves_empty_contact_fields_null(db, hotel):
    row = guests.create_guest(hotel.front_desk, GuestInput(last_name="  Lee ", first_name="", email="  ", phone=""))

    assert (row.last_name, row.email, row.phone) == ("Lee", None, None)
    stored = _stored(db, row.id)
    assert (stored["name_norm"], stored["email_norm"], stored["phone_norm"]) == ("lee", None, None)


BAD_INPUT = [
    (GuestInput(last_name="   "), "The last name is required"),
    (GuestInput(last_name="x" * 101), "The last name is too long"),
    (GuestInput(last_name="Lee", first_name="y" * 101), "The first name is too long"),
    (GuestInput(last_name="Lee\x00"), "control or invisible"),
    (GuestInput(last_name="Lee", first_name="Ann\u202e"), "control or invisible"),
    (GuestInput(last_name="Lee", email="lee.example.com"), "does not look like an e-mail"),
    (GuestInput(last_name="Lee", email="lee@@example.com"), "does not look like an e-mail"),
    (GuestInput(last_name="Lee", email="lee@localhost"), "does not look like an e-mail"),
    (GuestInput(last_name="Lee", email="l ee@example.com"), "does not look like an e-mail"),
    (GuestInput(last_name="Lee", email="@example.com"), "does not look like an e-mail"),
    (GuestInput(last_name="Lee", email="a" * 250 + "@b.cd"), "e-mail address is too long"),
    (GuestInput(last_name="Lee", phone="12345"), "is not a phone number"),
    (GuestInput(last_name="Lee", phone="1" * 21), "is not a phone number"),
    (GuestInput(last_name="Lee", phone="call 0301234567"), "is not a phone number"),
    (GuestInput(last_name="Lee", notes="n" * 2001), "The notes is too long"),
]


def test_create_guest_refuses_bad_input_and_changes_nothing(db, hotel):
    before = _state(db)
    for data, message in BAD_INPUT:
        with pytest.raises(ValidationError, match=message):
            guests.create_guest(hotel.front_desk, data)
    assert _state(db) == before


def test_housekeeping_may_not_create_guests(db, hotel):
    before = _state(db)
    with pytest.raises(PermissionDenied):
        guests.create_guest(hotel.housekeeping, MULLER)
    assert _state(db) == before


# --- update and VIP ------------------------------------------------------------------------------


def test_update_guest_rewrites_fields_and_keys_and_audits_the_changed_fields(db, hotel):
    row = guests.create_guest(hotel.front_desk, MULLER)

    updated = guests.update_guest(
        hotel.front_desk, row.id, GuestInput(last_name="Müller-Lüdenscheidt", first_name="Jürgen", phone="030 999 888")
    )

    assert (updated.last_name, updated.email, updated.phone) == ("Müller-Lüdenscheidt", None, "030 999 888")
    stored = _stored(db, row.id)
    assert (stored["name_norm"], stored["email_norm"], stored["phone_norm"]) == (
        "muller-ludenscheidt jurgen",
        None,
        "030999888",
    )
    assert [a["details"] for a in _audit(db, "guest.updated")] == [{"changed": ["last_name", "email", "phone"]}]
    assert len(_events(db, "guest.changed")) == 2


def test_an_edit_that_changes_nothing_writes_nothing(db, hotel):
    row = guests.create_guest(hotel.front_desk, MULLER)
    before = _state(db)

    again = guests.update_guest(hotel.front_desk, row.id, MULLER)

    assert again == row
    assert _state(db) == before


def test_update_guest_refuses_bad_input_and_changes_nothing(db, hotel):
    row = guests.create_guest(hotel.front_desk, MULLER)
    before, stored = _state(db), _stored(db, row.id)

    with pytest.raises(ValidationError):
        guests.update_guest(hotel.front_desk, row.id, GuestInput(last_name="Müller", email="not-an-email"))

    assert _state(db) == before
    assert _stored(db, row.id) == stored


def test_another_hotels_guest_cannot_be_seen_or_changed(db, hotel, other_hotel):
    theirs = guests.create_guest(other_hotel.front_desk, MULLER)
    before, stored = _state(db), _stored(db, theirs.id)

    with pytest.raises(NotFound, match=f"Guest {theirs.id} was not found"):
        guests.update_guest(hotel.front_desk, theirs.id, GuestInput(last_name="Taken"))
    with pytest.raises(NotFound):
        guests.set_vip(hotel.front_desk, theirs.id, True)
    with pytest.raises(NotFound):
        guests.get_guest(hotel.front_desk, theirs.id)
    with pytest.raises(NotFound):
        guests.update_guest(hotel.front_desk, 999_999, GuestInput(last_name="Ghost"))

    assert _state(db) == before
    assert _stored(db, theirs.id) == stored


def test_set_and_clear_vip_audit_each_change_and_ignore_repeats(db, hotel):
    row = guests.create_guest(hotel.front_desk, MULLER)

    assert guests.set_vip(hotel.front_desk, row.id, True).vip is True
    assert guests.set_vip(hotel.front_desk, row.id, True).vip is True  # already VIP: nothing written
    assert guests.set_vip(hotel.front_desk, row.id, False).vip is False

    assert len(_audit(db, "guest.vip_set")) == 1
    assert len(_audit(db, "guest.vip_cleared")) == 1
    assert len(_events(db, "guest.changed")) == 3  # created, set, cleared
    assert guests.get_guest(hotel.front_desk, row.id).vip is False


# --- search as you type --------------------------------------------------------------------------


@pytest.fixture
def guest_book(db, hotel):
    people = [
        GuestInput(last_name="Müller", first_name="Jürgen", email="jm@example.de", phone="+49 30 1234567"),
        GuestInput(last_name="Mueller", first_name="Anna", email="anna.mueller@example.com"),
        GuestInput(last_name="Smith", first_name="John", email="john.smith@example.com", phone="+44 20 7946 0000"),
        GuestInput(last_name="Smithson", first_name="Jane"),
        GuestInput(last_name="Johnson", first_name="Mary"),
        GuestInput(last_name="Ólafsdóttir", first_name="Björk"),
    ]
    return {f"{p.last_name} {p.first_name}": guests.create_guest(hotel.front_desk, p).id for p in people}


def _names(matches) -> list[str]:
    return [m.guest.display_name for m in matches]


NAME_SEARCHES = [
    ("mul", ["Müller, Jürgen"]),
    ("MÜL", ["Müller, Jürgen"]),
    ("muller j", ["Müller, Jürgen"]),
    ("smith", ["Smith, John", "Smithson, Jane"]),
    ("smith john", ["Smith, John"]),
    ("olafsdottir", ["Ólafsdóttir, Björk"]),
    ("bjo", ["Ólafsdóttir, Björk"]),
    ("jurgen mul", ["Müller, Jürgen"]),
    ("  jane   smith  ", ["Smithson, Jane"]),
    ("zz", []),
]


def test_search_by_name_ignores_case_accents_and_spacing(db, hotel, guest_book):
    found = {typed: _names(guests.search_guests(hotel.front_desk, typed)) for typed, _ in NAME_SEARCHES}
    assert found == dict(NAME_SEARCHES)


def test_search_by_first_name_prefix_lists_name_matches_first(db, hotel, guest_book):
    matches = guests.search_guests(hotel.front_desk, "jo")
    # "Johnson" matches the last name; "John" (Smith) the first name
    assert [(m.guest.display_name, m.matched_on) for m in matches] == [
        ("Johnson, Mary", "name"),
        ("Smith, John", "first_name"),
    ]


def test_search_by_email_exact_or_prefix(db, hotel, guest_book):
    searches = {
        "john.smith@example.com": ["Smith, John"],
        "JOHN.SMITH@EXAMPLE.COM": ["Smith, John"],
        "anna.mu": ["Mueller, Anna"],
        "jm@": ["Müller, Jürgen"],
    }
    assert {typed: _names(guests.search_guests(hotel.front_desk, typed)) for typed in searches} == searches


def test_search_by_phone_digits_prefix(db, hotel, guest_book):
    for typed in ("+49 30 12", "4930", "(49) 30-1234567"):
        matches = guests.search_guests(hotel.front_desk, typed)
        assert [(m.guest.display_name, m.matched_on) for m in matches] == [("Müller, Jürgen", "phone")], typed


def test_search_by_confirmation_code_finds_the_guest_with_next_and_last_stay(db, hotel):
    today = hotel.business_date
    past_id, _ = make_booking(
        db.owner,
        hotel,
        check_in=today - dt.timedelta(days=30),
        nights=3,
        room_number="101",
        status="checked_out",
        last_name="Lindqvist",
    )
    next_id, _ = make_booking(
        db.owner, hotel, check_in=today + dt.timedelta(days=7), nights=2, room_number="102", last_name="Lindqvist"
    )
    with db.owner.begin() as conn:  # both stays belong to one guest
        conn.execute(
            text("UPDATE bookings SET guest_id = (SELECT guest_id FROM bookings WHERE id = :a) WHERE id = :b"),
            {"a": past_id, "b": next_id},
        )
        code = conn.execute(text("SELECT confirmation_code FROM bookings WHERE id = :b"), {"b": next_id}).scalar_one()

    by_code = guests.search_guests(hotel.front_desk, code.lower())
    by_name = guests.search_guests(hotel.front_desk, "lindq")

    assert [m.matched_on for m in by_code] == ["confirmation"]
    match = by_code[0]
    assert match.guest.last_name == "Lindqvist"
    assert match.next_stay is not None and match.last_stay is not None
    assert (match.next_stay.booking_id, match.next_stay.room_number, match.next_stay.status) == (
        next_id,
        "102",
        "confirmed",
    )
    assert match.next_stay.check_in == today + dt.timedelta(days=7)
    assert (match.last_stay.booking_id, match.last_stay.room_number) == (past_id, "101")
    # the factory made a second Lindqvist for the moved booking: found too, with no stays
    stays = {m.guest.id: (m.next_stay, m.last_stay) for m in by_name}
    assert len(stays) == 2
    assert stays.pop(match.guest.id) == (match.next_stay, match.last_stay)
    assert list(stays.values()) == [(None, None)]


def test_search_never_shows_another_hotels_guests(db, hotel, other_hotel, guest_book):
    guests.create_guest(other_hotel.front_desk, GuestInput(last_name="Smithers", email="smithers@example.com"))
    assert _names(guests.search_guests(hotel.front_desk, "smith")) == ["Smith, John", "Smithson, Jane"]
    assert _names(guests.search_guests(other_hotel.front_desk, "smith")) == ["Smithers"]


def test_search_returns_at_most_twenty_guests_in_name_order(db, hotel):
    for i in range(25):
        guests.create_guest(hotel.front_desk, GuestInput(last_name=f"Baker{i:02d}"))
    matches = guests.search_guests(hotel.front_desk, "bak")
    assert _names(matches) == [f"Baker{i:02d}" for i in range(20)]


def test_search_with_nothing_typed_returns_nothing_and_bad_text_is_refused(db, hotel, guest_book):
    assert guests.search_guests(hotel.front_desk, "   ") == []
    with pytest.raises(ValidationError, match="too long"):
        guests.search_guests(hotel.front_desk, "x" * 101)
    with pytest.raises(ValidationError, match="control"):
        guests.search_guests(hotel.front_desk, "smi\x00")


def _plan(db, hotel, typed: str) -> str:
    """The plan of the search statement for ``typed``, as the runtime role under row-level security."""
    search = guests._search(hotel.hotel_id, typed)
    assert search is not None, typed
    _, (sql, parameters) = search
    with tenant_session(db.app, hotel.hotel_id) as session:
        cursor = session.connection().connection.driver_connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, parameters)
        return "\n".join(row[0] for row in cursor.fetchall())


def _fill_hotel(db, hotel, count: int) -> None:
    """``count`` guests with one booking each, and fresh planner statistics."""
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO guests (hotel_id, last_name, first_name, name_norm, first_norm, email_norm, phone_norm)"
                " SELECT :h, 'L' || i, 'F' || i, 'l' || i || ' f' || i, 'f' || i, 'e' || i || '@x.org', '33' || i"
                " FROM generate_series(1, :n) AS i"
            ),
            {"h": hotel.hotel_id, "n": count},
        )
        conn.execute(
            text(
                "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, check_in, check_out, rate)"
                " SELECT :h, 'F' || id, id, :t, DATE '2020-01-01' + (id % 900)::int,"
                " DATE '2020-01-03' + (id % 900)::int,"
                " 100 FROM guests WHERE hotel_id = :h"
            ),
            {"h": hotel.hotel_id, "t": hotel.room_type_ids["STD"]},
        )
    with db.owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE guests"))
        conn.execute(text("ANALYZE bookings"))


def test_every_search_shape_stays_on_an_index_under_row_level_security(db, hotel, guest_book):
    """With sequential scans priced out, a condition RLS cannot push into an index would still show a Seq
    Scan; every lookup the search statement holds must use its index instead."""
    _fill_hotel(db, hotel, 5000)
    shapes = {
        "smi": "ix_guests_hotel_id_name_norm",
        "smith jo": "ix_guests_hotel_id_first_norm",
        "john.smith@ex": "ix_guests_hotel_id_email_norm",
        "+44 20": "ix_guests_hotel_id_phone_norm",
        "F1234": "uq_bookings_hotel_id_confirmation_code",
    }
    for typed, index in shapes.items():
        plan = _plan(db, hotel, typed)
        assert index in plan, (typed, plan)
        assert "Seq Scan" not in plan, (typed, plan)


# --- duplicates ----------------------------------------------------------------------------------


def test_find_duplicates_for_warns_about_same_email_phone_or_name(db, hotel, guest_book):
    candidate = GuestInput(
        last_name="MÜLLER", first_name="jürgen", email="ANNA.MUELLER@example.com ", phone="0044 20 7946 0000"
    )
    found = guests.find_duplicates_for(hotel.front_desk, candidate)
    assert {(c.guest.display_name, c.reasons) for c in found} == {
        ("Müller, Jürgen", ("name",)),
        ("Mueller, Anna", ("email",)),
    }
    # the phone's digits differ (0044... against 44...): no match on the phone alone
    same_phone = GuestInput(last_name="Other", phone="+44 (20) 7946-0000")
    assert [(c.guest.display_name, c.reasons) for c in guests.find_duplicates_for(hotel.front_desk, same_phone)] == [
        ("Smith, John", ("phone",))
    ]


def test_find_duplicates_for_skips_the_guest_being_edited_and_empty_input(db, hotel, guest_book):
    muller = guest_book["Müller Jürgen"]
    again = GuestInput(last_name="Müller", first_name="Jürgen", email="jm@example.de")
    assert guests.find_duplicates_for(hotel.front_desk, again, exclude_guest_id=muller) == []
    assert guests.find_duplicates_for(hotel.front_desk, GuestInput(last_name="")) == []


def test_find_duplicates_lists_pairs_with_every_shared_key(db, hotel, other_hotel):
    a = guests.create_guest(hotel.front_desk, GuestInput(last_name="Kim", first_name="Ji", email="ji@kim.kr"))
    b = guests.create_guest(hotel.front_desk, GuestInput(last_name="KIM", first_name="ji", phone="010 1234 5678"))
    c = guests.create_guest(hotel.front_desk, GuestInput(last_name="Park", email="JI@kim.kr", phone="01012345678"))
    d = guests.create_guest(hotel.front_desk, GuestInput(last_name="PARK"))
    e = guests.create_guest(hotel.front_desk, GuestInput(last_name="park "))
    guests.create_guest(hotel.front_desk, GuestInput(last_name="Unrelated"))
    guests.create_guest(other_hotel.front_desk, GuestInput(last_name="Kim", first_name="Ji", email="ji@kim.kr"))

    pairs = guests.find_duplicates(hotel.front_desk)

    assert [(p.first.id, p.second.id, p.reasons) for p in pairs] == [
        (a.id, b.id, ("name",)),
        (a.id, c.id, ("email",)),
        (b.id, c.id, ("phone",)),
        (c.id, d.id, ("name",)),  # three guests named Park make three pairs
        (c.id, e.id, ("name",)),
        (d.id, e.id, ("name",)),
    ]
