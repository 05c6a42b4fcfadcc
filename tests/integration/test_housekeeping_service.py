"""Housekeeping service on a real PostgreSQL: the task queue, assignment, start, completion through the room
state machine, inspection, stay-over generation, permissions, and refusals that change nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from core.auth import Role
from core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.services import housekeeping as hk
from tests.factories import make_booking, make_hotel, set_hk

DAY = dt.timedelta(days=1)


# --- helpers: read the database as its owner ----------------------------------------------------


def _rows(db, sql: str, **params: Any) -> list[Any]:
    with db.owner.connect() as conn:
        return list(conn.execute(text(sql), params))


def audit(db, hotel, action: str) -> list[Any]:
    sql = "SELECT resource_id, details FROM audit_log WHERE hotel_id = :h AND action = :a ORDER BY id"
    return _rows(db, sql, h=hotel.hotel_id, a=action)


def event_names(db, hotel) -> list[str]:
    return [
        r.name for r in _rows(db, "SELECT name FROM event_outbox WHERE hotel_id = :h ORDER BY id", h=hotel.hotel_id)
    ]


def events(db, hotel, name: str) -> list[dict[str, Any]]:
    sql = "SELECT payload FROM event_outbox WHERE hotel_id = :h AND name = :n ORDER BY id"
    return [r.payload for r in _rows(db, sql, h=hotel.hotel_id, n=name)]


def status_of(db, hotel, number: str) -> str:
    return _rows(db, "SELECT hk_status FROM rooms WHERE id = :r", r=hotel.room_ids[number])[0].hk_status


def task(db, task_id: int) -> Any:
    return _rows(db, "SELECT * FROM housekeeping_tasks WHERE id = :t", t=task_id)[0]


def snapshot(db) -> tuple[Any, ...]:
    """Everything these services may write, to prove a refusal changed nothing."""
    return (
        _rows(db, "SELECT id, hk_status, hk_status_changed_at FROM rooms ORDER BY id"),
        _rows(db, "SELECT * FROM housekeeping_tasks ORDER BY id"),
        _rows(db, "SELECT count(*) FROM audit_log"),
        _rows(db, "SELECT count(*) FROM event_outbox"),
    )


def add_staff(db, hotel, username: str, role: str, *, active: bool = True) -> int:
    with db.owner.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO staff_users (hotel_id, username, full_name, role, password_hash, active)"
                " VALUES (:h, :u, :n, :r, 'x', :a) RETURNING id"
            ),
            {"h": hotel.hotel_id, "u": username, "n": username.title(), "r": role, "a": active},
        ).scalar_one()


def queue_booking(db, booking_id: int) -> None:
    with db.owner.begin() as conn:
        conn.execute(text("UPDATE bookings SET queued = true WHERE id = :b"), {"b": booking_id})


# --- creating and listing ------------------------------------------------------------------------


def test_creating_a_task_stores_audits_and_announces_it(db, hotel):
    room_id = hotel.room_ids["101"]

    row = hk.create_task(hotel.front_desk, room_id, "checkout_clean", notes="  Late check-out\nextra towels ")

    assert (row.room_number, row.kind, row.status, row.priority) == ("101", "checkout_clean", "open", 2)
    assert (row.business_date, row.notes, row.assigned_to) == (
        hotel.business_date,
        "Late check-out\nextra towels",
        None,
    )
    stored = task(db, row.id)
    assert (stored.room_id, stored.status, stored.priority) == (room_id, "open", 2)
    [created] = audit(db, hotel, "housekeeping_task.created")
    assert created.resource_id == str(row.id) and created.details["number"] == "101"
    assert events(db, hotel, "housekeeping.taskCreated") == [
        {"hotel_id": hotel.hotel_id, "task_id": row.id, "room_id": room_id}
    ]


def test_a_second_open_task_of_the_same_kind_for_a_room_is_refused(db, hotel):
    first = hk.create_task(hotel.housekeeping, hotel.room_ids["101"], "pickup", priority=1)
    before = snapshot(db)
    with pytest.raises(ValidationError, match=f"Room 101 already has an open pickup task \\(task {first.id}\\)"):
        hk.create_task(hotel.housekeeping, hotel.room_ids["101"], "pickup")
    assert snapshot(db) == before
    assert hk.create_task(hotel.housekeeping, hotel.room_ids["101"], "turndown").kind == "turndown"


def test_bad_task_inputs_are_refused_and_change_nothing(db, hotel, other_hotel):
    relaxed = make_hotel(db.owner, "Hotel Simple", rooms=2, inspection_required=False)
    room_id = hotel.room_ids["101"]
    before = snapshot(db)
    refusals: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (ValidationError, "one of", {"kind": "polish"}),
        (ValidationError, "Priority", {"kind": "pickup", "priority": 0}),
        (ValidationError, "Priority", {"kind": "pickup", "priority": 6}),
        (ValidationError, "Priority", {"kind": "pickup", "priority": True}),
        (ValidationError, "Priority", {"kind": "pickup", "priority": "1"}),
        (ValidationError, "too long", {"kind": "pickup", "notes": "x" * 501}),
        (ValidationError, "invisible", {"kind": "pickup", "notes": "hidden\u200bnote"}),
        (ValidationError, "must be text", {"kind": "pickup", "notes": 12}),
    ]
    for error, message, arguments in refusals:
        with pytest.raises(error, match=message):
            hk.create_task(hotel.front_desk, room_id, **arguments)
    bad_rooms: list[Any] = ["101", -1, True]
    for bad_room in bad_rooms:
        with pytest.raises(ValidationError):
            hk.create_task(hotel.front_desk, bad_room, "pickup")
    for unknown in (999_999, other_hotel.room_ids["101"]):
        with pytest.raises(NotFound):
            hk.create_task(hotel.front_desk, unknown, "pickup")
    with pytest.raises(ValidationError, match="does not use inspection"):
        hk.create_task(relaxed.front_desk, relaxed.room_ids["101"], "inspection")
    assert snapshot(db) == before


def test_the_queue_is_ordered_by_priority_then_age_and_can_show_one_floor(db):
    tall = make_hotel(db.owner, "Hotel Tall", rooms=20)
    actor = tall.housekeeping
    stay = hk.create_task(actor, tall.room_ids["101"], "stayover")  # priority 4
    first = hk.create_task(actor, tall.room_ids["201"], "checkout_clean")  # 2
    pickup = hk.create_task(actor, tall.room_ids["102"], "pickup")  # 3
    second = hk.create_task(actor, tall.room_ids["202"], "checkout_clean")  # 2, younger than ``first``
    urgent = hk.create_task(actor, tall.room_ids["103"], "turndown", priority=1)
    done = hk.create_task(actor, tall.room_ids["104"], "turndown")
    hk.complete_task(actor, done.id)
    dropped = hk.create_task(actor, tall.room_ids["105"], "turndown")
    hk.cancel_task(actor, dropped.id)

    assert [t.id for t in hk.task_queue(tall.front_desk)] == [urgent.id, first.id, second.id, pickup.id, stay.id]
    assert [t.id for t in hk.task_queue(actor, floor=2)] == [first.id, second.id]
    assert [t.floor for t in hk.task_queue(actor, floor=2)] == [2, 2]
    stored, [room] = task(db, urgent.id), _rows(db, "SELECT hk_status FROM rooms WHERE id = :r", r=urgent.room_id)
    assert hk.task_queue(actor)[0] == hk.TaskRow(
        id=urgent.id, room_id=tall.room_ids["103"], room_number="103", floor=1, room_status=room.hk_status,
        kind="turndown", status="open", priority=1, assigned_to=None, assigned_name=None,
        business_date=tall.business_date, notes="", created_at=stored.created_at, started_at=None, completed_at=None,
    )  # fmt: skip
    assigned = hk.assign_task(actor, pickup.id, tall.user_ids[Role.HOUSEKEEPING])
    assert hk.task_queue(actor, assigned_to=tall.user_ids[Role.HOUSEKEEPING]) == [assigned]
    assert assigned.assigned_name == "Housekeeping User"
    with pytest.raises(ValidationError):
        hk.task_queue(actor, floor="2")  # type: ignore[arg-type]


def test_tasks_of_another_hotel_are_invisible_and_untouchable(db, hotel, other_hotel):
    theirs = hk.create_task(other_hotel.housekeeping, other_hotel.room_ids["101"], "pickup")
    assert hk.task_queue(hotel.housekeeping) == []
    before = snapshot(db)
    for work in (hk.start_task, hk.complete_task, hk.cancel_task):
        with pytest.raises(NotFound, match=f"Task {theirs.id} was not found"):
            work(hotel.housekeeping, theirs.id)
    with pytest.raises(NotFound):
        hk.assign_task(hotel.housekeeping, theirs.id, hotel.user_ids[Role.HOUSEKEEPING])
    assert snapshot(db) == before


# --- assignment ----------------------------------------------------------------------------------


def test_a_task_is_assigned_to_a_housekeeper_and_taken_back(db, hotel):
    attendant = hotel.user_ids[Role.HOUSEKEEPING]
    created = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "pickup")

    assigned = hk.assign_task(hotel.front_desk, created.id, attendant)

    assert (assigned.status, assigned.assigned_to, assigned.assigned_name) == (
        "assigned",
        attendant,
        "Housekeeping User",
    )
    assert hk.assign_task(hotel.front_desk, created.id, attendant) == assigned  # the same again: no change
    back = hk.assign_task(hotel.front_desk, created.id, None)
    assert (back.status, back.assigned_to) == ("open", None)
    assert [a.details["assigned_to"] for a in audit(db, hotel, "housekeeping_task.assigned")] == [attendant, None]
    assert events(db, hotel, "housekeeping.taskAssigned") == [
        {"hotel_id": hotel.hotel_id, "task_id": created.id, "assigned_to": attendant},
        {"hotel_id": hotel.hotel_id, "task_id": created.id, "assigned_to": None},
    ]


def test_only_active_housekeepers_of_the_hotel_can_be_given_tasks(db, hotel, other_hotel):
    retired = add_staff(db, hotel, "old-hk", "housekeeping", active=False)
    created = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "pickup")
    before = snapshot(db)
    with pytest.raises(ValidationError, match="Front_Desk User is not on the housekeeping team"):
        hk.assign_task(hotel.front_desk, created.id, hotel.user_ids[Role.FRONT_DESK])
    with pytest.raises(ValidationError, match="not on the housekeeping team"):
        hk.assign_task(hotel.front_desk, created.id, hotel.user_ids[Role.MANAGER])
    with pytest.raises(ValidationError, match="inactive"):
        hk.assign_task(hotel.front_desk, created.id, retired)
    for stranger in (999_999, other_hotel.user_ids[Role.HOUSEKEEPING]):
        with pytest.raises(NotFound, match="Staff user"):
            hk.assign_task(hotel.front_desk, created.id, stranger)
    with pytest.raises(ValidationError):
        hk.assign_task(hotel.front_desk, created.id, "housekeeping")  # type: ignore[arg-type]
    assert snapshot(db) == before


def test_list_attendants_shows_active_housekeepers_only(db, hotel):
    second = add_staff(db, hotel, "ana", "housekeeping")
    add_staff(db, hotel, "old-hk", "housekeeping", active=False)
    attendants = hk.list_attendants(hotel.front_desk)
    assert [(a.id, a.full_name) for a in attendants] == [
        (second, "Ana"),
        (hotel.user_ids[Role.HOUSEKEEPING], "Housekeeping User"),
    ]


def test_a_task_being_worked_on_cannot_be_taken_back_to_the_pool(db, hotel):
    created = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "pickup")
    hk.start_task(hotel.housekeeping, created.id)
    with pytest.raises(InvalidTransition, match="being worked on"):
        hk.assign_task(hotel.front_desk, created.id, None)
    other = add_staff(db, hotel, "ana", "housekeeping")
    moved = hk.assign_task(hotel.front_desk, created.id, other)
    assert (moved.status, moved.assigned_to) == ("in_progress", other)


# --- working tasks -------------------------------------------------------------------------------


def test_starting_marks_in_progress_and_a_housekeeper_takes_an_unassigned_task(db, hotel):
    set_hk(db, hotel, "dirty", "101")
    created = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "checkout_clean")

    started = hk.start_task(hotel.housekeeping, created.id)

    assert started.status == "in_progress" and started.started_at is not None
    assert started.assigned_to == hotel.user_ids[Role.HOUSEKEEPING]
    assert status_of(db, hotel, "101") == "dirty"  # starting does not change the room
    assert events(db, hotel, "housekeeping.taskStarted") == [
        {"hotel_id": hotel.hotel_id, "task_id": created.id, "room_id": hotel.room_ids["101"]}
    ]
    assert len(audit(db, hotel, "housekeeping_task.started")) == 1
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="already started"):
        hk.start_task(hotel.housekeeping, created.id)
    assert snapshot(db) == before


def test_completing_a_cleaning_makes_the_room_clean_and_queues_its_inspection(db, hotel):
    set_hk(db, hotel, "dirty", "101")
    room_id = hotel.room_ids["101"]
    queued, _ = make_booking(db.owner, hotel, check_in=hotel.business_date, room_number="101")
    queue_booking(db, queued)
    cleaning = hk.create_task(hotel.front_desk, room_id, "checkout_clean", priority=1)
    hk.start_task(hotel.housekeeping, cleaning.id)

    done = hk.complete_task(hotel.housekeeping, cleaning.id)

    assert done.task.status == "done" and done.task.completed_at is not None
    assert done.room_status == "clean" and status_of(db, hotel, "101") == "clean"
    assert done.queued_arrivals == ()  # clean is not ready yet: the hotel inspects
    assert done.inspection_task_id is not None
    inspection = task(db, done.inspection_task_id)
    assert (inspection.kind, inspection.status, inspection.priority) == ("inspection", "open", 1)
    assert event_names(db, hotel)[-3:] == [
        "housekeeping.taskCompleted",
        "room.statusChanged",
        "housekeeping.taskCreated",
    ]
    [change] = audit(db, hotel, "room.status_changed")
    assert change.details == {"number": "101", "from": "dirty", "to": "clean", "task_id": cleaning.id}

    inspected = hk.complete_task(hotel.housekeeping, done.inspection_task_id)

    assert inspected.room_status == "inspected" and inspected.inspection_task_id is None
    assert [a.booking_id for a in inspected.queued_arrivals] == [queued]
    assert events(db, hotel, "booking.updated") == [{"hotel_id": hotel.hotel_id, "booking_id": queued}]
    assert hk.task_queue(hotel.front_desk) == []


def test_without_inspection_a_cleaning_makes_the_room_ready_with_no_inspection_task(db):
    relaxed = make_hotel(db.owner, "Hotel Simple", rooms=2, inspection_required=False)
    set_hk(db, relaxed, "dirty", "101")
    queued, _ = make_booking(db.owner, relaxed, check_in=relaxed.business_date, room_number="101")
    queue_booking(db, queued)
    cleaning = hk.create_task(relaxed.housekeeping, relaxed.room_ids["101"], "pickup")

    done = hk.complete_task(relaxed.housekeeping, cleaning.id)  # completing without starting is allowed

    assert done.room_status == "clean" and done.inspection_task_id is None
    assert [a.booking_id for a in done.queued_arrivals] == [queued]
    assert hk.task_queue(relaxed.housekeeping) == []


def test_cleaning_a_room_that_is_already_inspected_leaves_it_inspected(db, hotel):
    cleaning = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "stayover")
    done = hk.complete_task(hotel.housekeeping, cleaning.id)
    assert done.room_status == "inspected" and done.inspection_task_id is None
    assert audit(db, hotel, "room.status_changed") == [] and "room.statusChanged" not in event_names(db, hotel)


def test_an_inspection_of_a_dirty_room_is_refused_and_changes_nothing(db, hotel):
    inspection = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "inspection")
    set_hk(db, hotel, "dirty", "101")
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="Room 101 is dirty: it must be clean before it can be inspected"):
        hk.complete_task(hotel.housekeeping, inspection.id)
    assert snapshot(db) == before
    assert task(db, inspection.id).status == "open"


def test_done_and_cancelled_tasks_cannot_be_worked_again(db, hotel):
    done = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "turndown")
    hk.complete_task(hotel.housekeeping, done.id)
    dropped = hk.create_task(hotel.front_desk, hotel.room_ids["102"], "turndown")
    cancelled = hk.cancel_task(hotel.front_desk, dropped.id)
    assert cancelled.status == "cancelled"
    assert events(db, hotel, "housekeeping.taskCancelled") == [
        {"hotel_id": hotel.hotel_id, "task_id": dropped.id, "room_id": hotel.room_ids["102"]}
    ]
    before = snapshot(db)
    for task_id, state in ((done.id, "done"), (dropped.id, "cancelled")):
        for work in (hk.start_task, hk.complete_task, hk.cancel_task):
            with pytest.raises(InvalidTransition, match=f"Task {task_id} is {state}"):
                work(hotel.manager, task_id)
        with pytest.raises(InvalidTransition):
            hk.assign_task(hotel.manager, task_id, hotel.user_ids[Role.HOUSEKEEPING])
    assert snapshot(db) == before


def test_front_desk_cannot_start_or_complete_tasks(db, hotel):
    created = hk.create_task(hotel.front_desk, hotel.room_ids["101"], "pickup")
    before = snapshot(db)
    for work in (hk.start_task, hk.complete_task):
        with pytest.raises(PermissionDenied):
            work(hotel.front_desk, created.id)
    assert snapshot(db) == before
    assert hk.start_task(hotel.manager, created.id).status == "in_progress"  # a manager may step in


def test_unknown_or_malformed_task_ids_are_refused(db, hotel):
    before = snapshot(db)
    for work in (hk.start_task, hk.complete_task, hk.cancel_task):
        with pytest.raises(NotFound, match="Task 999999 was not found"):
            work(hotel.housekeeping, 999_999)
        bad_ids: list[Any] = ["7", None, 0, 2**70]
        for bad in bad_ids:
            with pytest.raises(ValidationError):
                work(hotel.housekeeping, bad)
    assert snapshot(db) == before


# --- stay-overs ----------------------------------------------------------------------------------


def test_stayover_tasks_are_made_once_per_occupied_room_and_day(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today - DAY, nights=3, room_number="101", status="checked_in")
    make_booking(db.owner, hotel, check_in=today, nights=1, room_number="103", status="checked_in")
    make_booking(db.owner, hotel, check_in=today - DAY, nights=1, room_number="105", status="checked_in")  # due out
    make_booking(db.owner, hotel, check_in=today, nights=2, room_number="107")  # not arrived
    make_booking(db.owner, hotel, check_in=today - 2 * DAY, nights=1, room_number="109", status="checked_out")

    run = hk.generate_stayover_tasks(hotel.housekeeping)

    made = [task(db, task_id) for task_id in run.created_task_ids]
    assert sorted(t.room_id for t in made) == sorted([hotel.room_ids["101"], hotel.room_ids["103"]])
    assert all((t.kind, t.priority, t.business_date) == ("stayover", 4, today) for t in made)
    assert run.business_date == today and run.skipped_room_ids == ()
    assert len(events(db, hotel, "housekeeping.taskCreated")) == 2
    assert len(audit(db, hotel, "housekeeping_task.created")) == 2

    for created in run.created_task_ids:  # even when today's stay-overs are done, none is made again
        hk.complete_task(hotel.housekeeping, created)
    before = _rows(db, "SELECT count(*) FROM housekeeping_tasks WHERE kind = 'stayover'")
    again = hk.generate_stayover_tasks(hotel.front_desk)
    assert again.created_task_ids == ()
    assert sorted(again.skipped_room_ids) == sorted([hotel.room_ids["101"], hotel.room_ids["103"]])
    assert _rows(db, "SELECT count(*) FROM housekeeping_tasks WHERE kind = 'stayover'") == before
