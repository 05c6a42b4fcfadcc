"""The unit of work: one transaction with the tenant set, its audit rows and its outbox events.

Nothing is written unless ``uow.commit()`` is called; database rule violations become domain errors.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.auth import Actor, Permission
from core.db import reads
from core.db.transaction import sqlstate, tenant_session, with_retry
from core.errors import (
    ConcurrencyConflict,
    FolioError,
    NotFound,
    PermissionDenied,
    RoomUnavailable,
    TenantMismatch,
    ValidationError,
)
from core.events.catalog import DomainEvent
from core.models import AuditEntry, Base, Hotel, OutboxEvent

T = TypeVar("T")
P = ParamSpec("P")
M = TypeVar("M", bound=Base)

# Every public service entry point and the permission it checks (tested role by role).
ENTRY_POINTS: dict[str, Permission] = {}


def requires(permission: Permission) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Mark a service entry point: the actor (first argument) must hold ``permission``."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        ENTRY_POINTS[f"{fn.__module__}.{fn.__qualname__}"] = permission

        @functools.wraps(fn)
        def checked(*args: P.args, **kwargs: P.kwargs) -> T:
            actor = args[0]
            if not isinstance(actor, Actor):
                raise TypeError(f"{fn.__qualname__} takes the Actor first")
            actor.require(permission)
            return fn(*args, **kwargs)

        checked.permission = permission  # type: ignore[attr-defined]
        return checked

    return wrap


_engine: Engine | None = None


def bind_engine(engine: Engine | None) -> None:
    """The composition root hands the runtime engine to the services once (tests: per database)."""
    global _engine
    _engine = engine


def bound_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("core.services has no database: call bind_engine() at start-up")
    return _engine


class UnitOfWork:
    def __init__(self, actor: Actor, session: Session) -> None:
        self.actor = actor
        self.session = session
        self.events: list[DomainEvent] = []
        self._committed = False
        self._hotel: Hotel | None = None

    @property
    def hotel(self) -> Hotel:
        if self._hotel is None:
            self._hotel = self.session.get(Hotel, self.actor.hotel_id)
            if self._hotel is None:
                raise NotFound("This hotel no longer exists.")
        return self._hotel

    @property
    def business_date(self) -> dt.date:
        return self.hotel.business_date

    def get(self, model: type[M], record_id: int, what: str, *, lock: bool = False) -> M:
        """A row of this hotel by id (RLS hides other hotels' rows), or NotFound naming ``what``."""
        stmt = select(model).where(model.id == record_id)  # type: ignore[attr-defined]
        if lock:
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(f"{what} {record_id} was not found in this hotel.")
        return row

    def audit(self, action: str, resource_type: str, resource_id: Any, **details: Any) -> None:
        self.session.add(
            AuditEntry(
                hotel_id=self.actor.hotel_id,
                user_id=self.actor.user_id,
                action=action,
                resource_type=resource_type,
                resource_id=str(resource_id),
                details=_jsonable(details),
            )
        )

    def emit(self, event: DomainEvent) -> None:
        if event.hotel_id != self.actor.hotel_id:
            raise TenantMismatch(
                f"Event {event.name} is for hotel {event.hotel_id}, not the signed-in hotel {self.actor.hotel_id}."
            )
        self.session.add(OutboxEvent(hotel_id=event.hotel_id, name=event.name, payload=event.to_payload()))
        self.events.append(event)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.flush()
        self._committed = True


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dt.date | dt.datetime):
            out[key] = value.isoformat()
        elif isinstance(value, int | float | str | bool) or value is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _jsonable(value)
        elif isinstance(value, list | tuple):
            out[key] = [v if isinstance(v, int | str | bool | float) or v is None else str(v) for v in value]
        else:
            out[key] = str(value)
    return out


@contextmanager
def unit_of_work(
    actor: Actor,
    permission: Permission | None,
    *,
    isolation: str = "READ COMMITTED",
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 30000,
) -> Iterator[UnitOfWork]:
    """Check the permission, open a tenant transaction, and commit only if ``uow.commit()`` was called."""
    if permission is not None:
        actor.require(permission)
    try:
        with tenant_session(
            bound_engine(),
            actor.hotel_id,
            user_id=actor.user_id,
            isolation=isolation,
            lock_timeout_ms=lock_timeout_ms,
            statement_timeout_ms=statement_timeout_ms,
        ) as session:
            uow = UnitOfWork(actor, session)
            yield uow
            if not uow._committed:
                session.rollback()
    except DBAPIError as exc:
        raise translate(exc) from None


def transact(
    actor: Actor,
    permission: Permission | None,
    work: Callable[[UnitOfWork], T],
    *,
    isolation: str = "READ COMMITTED",
    attempts: int = 5,
) -> T:
    """Run ``work`` in a unit of work, again (bounded) when the database reports a deadlock or
    serialization failure. ``work`` must call ``uow.commit()`` to keep its changes."""

    def attempt() -> T:
        if permission is not None:
            actor.require(permission)
        with tenant_session(bound_engine(), actor.hotel_id, user_id=actor.user_id, isolation=isolation) as session:
            uow = UnitOfWork(actor, session)
            result = work(uow)
            if not uow._committed:
                session.rollback()
            return result

    try:
        return with_retry(attempt, attempts=attempts)
    except DBAPIError as exc:
        raise translate(exc) from None


def read(actor: Actor, permission: Permission | None, *queries: reads.Query) -> list[reads.Rows]:
    """The rows of each read-only statement, run for the actor's hotel in one round trip (``core.db.reads``);
    statements use psycopg placeholders."""
    if permission is not None:
        actor.require(permission)
    try:
        return reads.read(bound_engine(), actor.hotel_id, queries, user_id=actor.user_id)
    except (psycopg.Error, DBAPIError) as exc:  # DBAPIError: the pool could not connect
        raise translate(exc) from None


def translate(exc: DBAPIError | psycopg.Error) -> Exception:
    """Map a database error that escaped a service onto the domain error a person can act on."""
    code = sqlstate(exc)
    diag = exc.diag if isinstance(exc, psycopg.Error) else getattr(exc.orig, "diag", None)
    detail = (getattr(diag, "message_primary", None) or "").strip()
    if code == "23P01":
        return RoomUnavailable("The room is already booked for some of those nights.")
    if code in ("40001", "40P01", "55P03"):
        return ConcurrencyConflict("Another terminal was changing the same records; please try again.")
    if code == "42501":
        return PermissionDenied("The database refused this change for the signed-in hotel.")
    if code == "23514" and "folio" in detail:
        return FolioError(f"The folio cannot change: {detail}.")
    if code in ("23514", "23502", "22001", "22003", "22007", "22008", "22P02"):
        return ValidationError(f"The values were not accepted: {detail or code}.")
    if code == "23505":
        return ValidationError(f"That would duplicate an existing record: {detail}.")
    if code == "23503":
        return NotFound(f"A referenced record does not exist: {detail}.")
    return exc
