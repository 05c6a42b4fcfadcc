"""Housekeeping: the task queue, assignment to attendants, start and completion (which moves the room through
the housekeeping state machine of ``core.services.rooms``), inspection, and the daily stay-over tasks.

Priority 1 is the most urgent; the queue is ordered by priority, then by age.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select, text

from core.auth import Actor, Permission, Role
from core.errors import InvalidTransition, ValidationError
from core.events.catalog import TaskAssigned, TaskCancelled, TaskCompleted, TaskCreated, TaskStarted
from core.models import TASK_KINDS, Booking, HousekeepingTask, Room, StaffUser
from core.normalize import clean_text
from core.services.rooms import (
    QueuedArrival,
    change_room_status,
    checked_id,
    lock_rooms,
)
from core.services.uow import UnitOfWork, read, requires, transact, unit_of_work

OPEN_STATUSES = ("open", "assigned", "in_progress")
CLEANING_KINDS = ("checkout_clean", "stayover", "pickup")
# Rooms for arrivals (check-out cleans) and their inspection come first; stay-overs and turndowns can wait.
DEFAULT_PRIORITY = {"checkout_clean": 2, "inspection": 2, "pickup": 3, "stayover": 4, "turndown": 4}
MAX_NOTES_LENGTH = 500


class TaskRow(NamedTuple):
    """A task as the board shows it. A named tuple, built in one C call per row: a hotel's board holds
    hundreds of tasks. Fields in the order the board's statement selects them (sort keys first)."""

    priority: int
    created_at: dt.datetime
    id: int
    room_id: int
    floor: int
    assigned_to: int | None
    business_date: dt.date
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    room_number: str
    room_status: str
    kind: str
    status: str
    assigned_name: str | None
    notes: str


@dataclass(frozen=True)
class TaskCompletion:
    task: TaskRow
    room_status: str
    inspection_task_id: int | None  # the inspection now waiting for this room, if the hotel inspects
    queued_arrivals: tuple[QueuedArrival, ...]  # queued bookings whose room became ready


@dataclass(frozen=True)
class StayoverRun:
    business_date: dt.date
    created_task_ids: tuple[int, ...]
    skipped_room_ids: tuple[int, ...]  # already had a stay-over task for the day (or one still open)


@dataclass(frozen=True)
class Attendant:
    id: int
    username: str
    full_name: str


# --- reading -------------------------------------------------------------------------------------


# The tasks with their room and attendant. Sort keys and other fixed-width columns come first: PostgreSQL
# finds a column that follows a text one only by walking the row, which made sorting the board by
# (priority, created_at, id) cost more than reading it. The columns are TaskRow's fields in order.
_TASKS = (
    "SELECT t.priority, t.created_at, t.id, t.room_id, r.floor, t.assigned_to, t.business_date, t.started_at,"
    " t.completed_at, r.number, r.hk_status, t.kind, t.status, s.full_name, t.notes"
    " FROM housekeeping_tasks t JOIN rooms r ON r.id = t.room_id LEFT JOIN staff_users s ON s.id = t.assigned_to"
)
_TASK_BY_ID = text(_TASKS + " WHERE t.hotel_id = :hotel AND t.id = :task")


@functools.cache
def _queue(by_floor: bool, by_attendant: bool) -> str:
    """The board's statement for one combination of filters. The open statuses are written out as the
    queue index's predicate is, so the planner can use that partial index."""
    conditions = ["t.hotel_id = %(hotel)s", f"t.status IN ({', '.join(repr(status) for status in OPEN_STATUSES)})"]
    if by_floor:
        conditions.append("r.floor = %(floor)s")
    if by_attendant:
        conditions.append("t.assigned_to = %(attendant)s")
    return f"{_TASKS} WHERE {' AND '.join(conditions)} ORDER BY t.priority, t.created_at, t.id"


def _tasks(rows: Sequence[Sequence[Any]]) -> list[TaskRow]:
    return list(map(TaskRow._make, rows))


def _task_row(uow: UnitOfWork, task: HousekeepingTask) -> TaskRow:
    """The task as the board shows it, read in the caller's transaction (its changes flushed first)."""
    uow.flush()
    found = uow.session.connection().execute(_TASK_BY_ID, {"hotel": uow.actor.hotel_id, "task": task.id}).all()
    return _tasks(found)[0]


@requires(Permission.ROOMS_READ)
def task_queue(actor: Actor, *, floor: int | None = None, assigned_to: int | None = None) -> list[TaskRow]:
    """Open, assigned and in-progress tasks of the hotel (or one floor, or one attendant): priority, then age."""
    parameters: dict[str, int] = {"hotel": actor.hotel_id}
    if floor is not None:
        if isinstance(floor, bool) or not isinstance(floor, int):
            raise ValidationError(f"Floor must be a whole number, not {floor!r}.")
        parameters["floor"] = floor
    if assigned_to is not None:
        parameters["attendant"] = checked_id(assigned_to, "Staff user")
    [rows] = read(actor, Permission.ROOMS_READ, (_queue("floor" in parameters, "attendant" in parameters), parameters))
    return _tasks(rows)


@requires(Permission.HOUSEKEEPING_SUPERVISE)
def list_attendants(actor: Actor) -> list[Attendant]:
    """Active housekeeping staff, who can be given tasks."""
    with unit_of_work(actor, Permission.HOUSEKEEPING_SUPERVISE) as uow:
        stmt = (
            select(StaffUser.id, StaffUser.username, StaffUser.full_name)
            .where(StaffUser.hotel_id == actor.hotel_id, StaffUser.role == Role.HOUSEKEEPING.value)
            .where(StaffUser.active.is_(True))
            .order_by(StaffUser.full_name, StaffUser.id)
        )
        return [Attendant(*row) for row in uow.session.execute(stmt)]


# --- creating ------------------------------------------------------------------------------------


def _open_task_rooms(uow: UnitOfWork, room_ids: Sequence[int], kind: str) -> dict[int, HousekeepingTask]:
    """The open task of ``kind`` of each room that has one."""
    stmt = (
        select(HousekeepingTask)
        .where(HousekeepingTask.hotel_id == uow.actor.hotel_id, HousekeepingTask.room_id.in_(room_ids))
        .where(HousekeepingTask.kind == kind, HousekeepingTask.status.in_(OPEN_STATUSES))
        .order_by(HousekeepingTask.id.desc())
    )
    return {task.room_id: task for task in uow.session.scalars(stmt)}


def _insert_tasks(
    uow: UnitOfWork, rooms: Sequence[Room], kind: str, priority: int | None = None, notes: str = ""
) -> list[HousekeepingTask]:
    """New open tasks, one per room, written in one batch with their audit rows and TaskCreated events."""
    tasks = [
        HousekeepingTask(
            hotel_id=uow.actor.hotel_id,
            room_id=room.id,
            kind=kind,
            status="open",
            priority=priority or DEFAULT_PRIORITY[kind],
            business_date=uow.business_date,
            notes=notes,
        )
        for room in rooms
    ]
    uow.session.add_all(tasks)
    uow.flush()
    for room, task in zip(rooms, tasks, strict=True):
        uow.audit(
            "housekeeping_task.created", "housekeeping_task", task.id,
            room_id=room.id, number=room.number, kind=kind, priority=task.priority,
        )  # fmt: skip
        uow.emit(TaskCreated(hotel_id=uow.actor.hotel_id, task_id=task.id, room_id=room.id))
    return tasks


def add_task(
    uow: UnitOfWork, room: Room, kind: str, *, priority: int | None = None, notes: str = ""
) -> tuple[HousekeepingTask, bool]:
    """Inside a unit of work, on a room locked with ``lock_rooms``: a task of ``kind`` for the room, or the
    open one it already has (False). Check-out uses this for its cleaning task."""
    existing = _open_task_rooms(uow, [room.id], kind).get(room.id)
    if existing is not None:
        return existing, False
    return _insert_tasks(uow, [room], kind, priority, notes)[0], True


def _checked_priority(priority: object) -> int | None:
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise ValidationError(f"Priority runs from 1 (most urgent) to 5, not {priority!r}.")
    return priority


@requires(Permission.HOUSEKEEPING_SUPERVISE)
def create_task(actor: Actor, room_id: int, kind: str, *, priority: int | None = None, notes: str = "") -> TaskRow:
    """A new task for a room; refused while the room has an open task of the same kind."""
    room_id = checked_id(room_id, "Room")
    if kind not in TASK_KINDS:
        raise ValidationError(f"A task is one of {', '.join(TASK_KINDS)}, not {kind!r}.")
    checked_priority = _checked_priority(priority)
    notes = clean_text(notes, "The notes", max_length=MAX_NOTES_LENGTH, multiline=True)

    def work(uow: UnitOfWork) -> TaskRow:
        if kind == "inspection" and not uow.hotel.inspection_required:
            raise ValidationError("This hotel does not use inspection: a clean room is already ready.")
        [room] = lock_rooms(uow, [room_id])
        task, created = add_task(uow, room, kind, priority=checked_priority, notes=notes)
        if not created:
            raise ValidationError(
                f"Room {room.number} already has an open {kind.replace('_', ' ')} task (task {task.id})."
            )
        uow.commit()
        return _task_row(uow, task)

    return transact(actor, Permission.HOUSEKEEPING_SUPERVISE, work)


@requires(Permission.HOUSEKEEPING_SUPERVISE)
def generate_stayover_tasks(actor: Actor) -> StayoverRun:
    """A stay-over task for every room with a guest in house who stays tonight. Run it twice and nothing more
    is created: one stay-over per room and business date. Rooms due out get their clean at check-out."""

    def work(uow: UnitOfWork) -> StayoverRun:
        today = uow.business_date
        occupied = uow.session.scalars(
            select(Booking.room_id)
            .where(Booking.hotel_id == actor.hotel_id, Booking.status == "checked_in")
            .where(Booking.room_id.is_not(None), Booking.check_out > today)
            .distinct()
        )
        room_ids = sorted(room_id for room_id in occupied if room_id is not None)
        # The locks serialise two supervisors pressing the button at once: the second sees the first's tasks.
        rooms = lock_rooms(uow, room_ids) if room_ids else []
        made_today = set(
            uow.session.scalars(
                select(HousekeepingTask.room_id)
                .where(HousekeepingTask.hotel_id == actor.hotel_id, HousekeepingTask.kind == "stayover")
                .where(HousekeepingTask.business_date == today, HousekeepingTask.room_id.in_(room_ids))
            )
        )
        still_open = _open_task_rooms(uow, room_ids, "stayover")  # e.g. yesterday's, not done yet
        skip = made_today | still_open.keys()
        created = _insert_tasks(uow, [room for room in rooms if room.id not in skip], "stayover")
        uow.commit()
        skipped = tuple(room.id for room in rooms if room.id in skip)
        return StayoverRun(today, tuple(task.id for task in created), skipped)

    return transact(actor, Permission.HOUSEKEEPING_SUPERVISE, work)


# --- working a task ------------------------------------------------------------------------------


def _open_task(uow: UnitOfWork, task_id: int, doing: str) -> HousekeepingTask:
    task = uow.get(HousekeepingTask, task_id, "Task", lock=True)
    if task.status not in OPEN_STATUSES:
        raise InvalidTransition(f"Task {task.id} is {task.status.replace('_', ' ')}: it cannot be {doing}.")
    return task


def _attendant(uow: UnitOfWork, user_id: int) -> StaffUser:
    user = uow.get(StaffUser, user_id, "Staff user")
    if user.role != Role.HOUSEKEEPING.value:
        raise ValidationError(f"{user.full_name} is not on the housekeeping team; choose a housekeeper.")
    if not user.active:
        raise ValidationError(f"{user.full_name}'s account is inactive; choose another housekeeper.")
    return user


@requires(Permission.HOUSEKEEPING_SUPERVISE)
def assign_task(actor: Actor, task_id: int, user_id: int | None) -> TaskRow:
    """Give a task to an active housekeeper (None takes it back to the open pool, unless work has started)."""
    task_id = checked_id(task_id, "Task")
    attendant_id = None if user_id is None else checked_id(user_id, "Staff user")

    def work(uow: UnitOfWork) -> TaskRow:
        task = _open_task(uow, task_id, "assigned")
        if attendant_id is not None:
            _attendant(uow, attendant_id)
        elif task.status == "in_progress":
            raise InvalidTransition(f"Task {task.id} is being worked on; give it to another housekeeper instead.")
        if task.assigned_to != attendant_id:
            uow.audit(
                "housekeeping_task.assigned", "housekeeping_task", task.id,
                room_id=task.room_id, previous=task.assigned_to, assigned_to=attendant_id,
            )  # fmt: skip
            task.assigned_to = attendant_id
            if task.status != "in_progress":
                task.status = "open" if attendant_id is None else "assigned"
            uow.emit(TaskAssigned(hotel_id=actor.hotel_id, task_id=task.id, assigned_to=attendant_id))
        uow.commit()
        return _task_row(uow, task)

    return transact(actor, Permission.HOUSEKEEPING_SUPERVISE, work)


def _claim(uow: UnitOfWork, task: HousekeepingTask) -> None:
    """A housekeeper working an unassigned task takes it, so the board shows who did the room."""
    if task.assigned_to is None and uow.actor.role is Role.HOUSEKEEPING and uow.actor.user_id is not None:
        task.assigned_to = uow.actor.user_id


@requires(Permission.HOUSEKEEPING)
def start_task(actor: Actor, task_id: int) -> TaskRow:
    """Mark a task in progress (the room's condition changes only when the task is completed)."""
    task_id = checked_id(task_id, "Task")

    def work(uow: UnitOfWork) -> TaskRow:
        task = _open_task(uow, task_id, "started")
        if task.status == "in_progress":
            raise InvalidTransition(f"Task {task.id} was already started.")
        task.status = "in_progress"
        task.started_at = func.now()
        _claim(uow, task)
        uow.audit("housekeeping_task.started", "housekeeping_task", task.id, room_id=task.room_id)
        uow.emit(TaskStarted(hotel_id=actor.hotel_id, task_id=task.id, room_id=task.room_id))
        uow.commit()
        return _task_row(uow, task)

    return transact(actor, Permission.HOUSEKEEPING, work)


def _room_target(kind: str, hk_status: str) -> str | None:
    """The condition the finished task puts the room in; None when it is already there or beyond."""
    if kind in CLEANING_KINDS and hk_status not in ("clean", "inspected"):
        return "clean"
    if kind == "inspection" and hk_status != "inspected":
        return "inspected"
    return None


@requires(Permission.HOUSEKEEPING)
def complete_task(actor: Actor, task_id: int) -> TaskCompletion:
    """Finish a task: a cleaning makes the room clean (and queues its inspection when the hotel inspects), an
    inspection makes it inspected; both through the room state machine, all in one transaction."""
    task_id = checked_id(task_id, "Task")

    def work(uow: UnitOfWork) -> TaskCompletion:
        task = _open_task(uow, task_id, "completed")
        if task.kind == "inspection":
            actor.require(Permission.HOUSEKEEPING_SUPERVISE)
        [room] = lock_rooms(uow, [task.room_id])
        task.status, task.completed_at = "done", func.now()
        _claim(uow, task)
        uow.audit("housekeeping_task.completed", "housekeeping_task", task.id, room_id=room.id, kind=task.kind)
        uow.emit(TaskCompleted(hotel_id=actor.hotel_id, task_id=task.id, room_id=room.id))
        target = _room_target(task.kind, room.hk_status)
        change = change_room_status(uow, [room], target, task_id=task.id) if target else None
        inspection_id = None
        if task.kind in CLEANING_KINDS and room.hk_status == "clean" and uow.hotel.inspection_required:
            inspection, _ = add_task(uow, room, "inspection", priority=task.priority)
            inspection_id = inspection.id
        uow.commit()
        arrivals = change.queued_arrivals if change else ()
        return TaskCompletion(_task_row(uow, task), room.hk_status, inspection_id, arrivals)

    return transact(actor, Permission.HOUSEKEEPING, work)


@requires(Permission.HOUSEKEEPING_SUPERVISE)
def cancel_task(actor: Actor, task_id: int) -> TaskRow:
    """Withdraw a task that is no longer needed (the room's condition is left as it is)."""
    task_id = checked_id(task_id, "Task")

    def work(uow: UnitOfWork) -> TaskRow:
        task = _open_task(uow, task_id, "cancelled")
        task.status = "cancelled"
        uow.audit("housekeeping_task.cancelled", "housekeeping_task", task.id, room_id=task.room_id)
        uow.emit(TaskCancelled(hotel_id=actor.hotel_id, task_id=task.id, room_id=task.room_id))
        uow.commit()
        return _task_row(uow, task)

    return transact(actor, Permission.HOUSEKEEPING_SUPERVISE, work)
