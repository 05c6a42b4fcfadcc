"""Reading a hotel's outbox in commit-safe order, and the tables that remember how far a consumer got.

Outbox ids come from a sequence, and sequence values are handed out before commit, so rows become
visible out of id order: a plain ``id > cursor`` can step over a row that commits late and never see it.
Each row therefore stores its inserting transaction id (``txid``), and a reader takes only rows whose
transaction is older than every transaction still running (the snapshot's xmin), in (txid, id) order.
Any transaction that commits after a read has a txid at or above that read's xmin, so it sorts after
the cursor and nothing is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from core.db.transaction import tenant_session
from core.errors import ValidationError
from core.events.catalog import DomainEvent, decode

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 4000

# The horizon is computed once per statement; rows at or past it are committed but still "unsettled":
# an older transaction may yet commit a row that sorts before them.
_READ_AFTER = text(
    """
    WITH horizon AS (SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin)
    SELECT o.id, o.txid, o.name, o.payload, o.txid < horizon.xmin AS settled
    FROM event_outbox o CROSS JOIN horizon
    WHERE o.hotel_id = :hotel AND (o.txid, o.id) > (:txid, :event_id)
    ORDER BY o.txid, o.id
    LIMIT :limit
    """
)

# One statement, so both parts see the same snapshot.
_TAIL = text(
    """
    WITH horizon AS (SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin),
    last_settled AS (
        SELECT o.txid, o.id FROM event_outbox o
        WHERE o.hotel_id = :hotel AND o.txid < (SELECT xmin FROM horizon)
        ORDER BY o.txid DESC, o.id DESC
        LIMIT 1
    )
    SELECT txid, id, true AS settled FROM last_settled
    UNION ALL
    SELECT o.txid, o.id, false FROM event_outbox o
    WHERE o.hotel_id = :hotel AND o.txid >= (SELECT xmin FROM horizon)
    """
)

_LOAD_CURSOR = text(
    "SELECT last_txid, last_event_id FROM event_cursors WHERE hotel_id = :hotel AND consumer = :consumer"
)

# Never moves a cursor backwards, so two processes sharing a consumer name cannot undo each other.
_SAVE_CURSOR = text(
    """
    INSERT INTO event_cursors (hotel_id, consumer, last_txid, last_event_id)
    VALUES (:hotel, :consumer, :txid, :event_id)
    ON CONFLICT (hotel_id, consumer) DO UPDATE
    SET last_txid = EXCLUDED.last_txid, last_event_id = EXCLUDED.last_event_id, updated_at = now()
    WHERE (event_cursors.last_txid, event_cursors.last_event_id) < (EXCLUDED.last_txid, EXCLUDED.last_event_id)
    """
)

_RECORD_FAILURE = text(
    """
    INSERT INTO event_failed_deliveries (hotel_id, event_id, handler, attempts, error)
    VALUES (:hotel, :event_id, :handler, :attempts, :error)
    """
)


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in a hotel's outbox: everything up to and including (txid, event_id) has been read."""

    txid: int = 0
    event_id: int = 0


START = Cursor()


@dataclass(frozen=True)
class OutboxRecord:
    event_id: int  # the outbox row id: stable, unique, what idempotent handlers de-duplicate on
    txid: int
    event: DomainEvent

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.event_id)


@dataclass(frozen=True)
class OutboxBatch:
    records: tuple[OutboxRecord, ...]
    cursor: Cursor  # after the last row read, including rows that could not be decoded
    full: bool  # the limit was reached: more settled rows may follow
    held_back: bool  # committed rows exist that an older, still running transaction keeps back for now


def read_after(engine: Engine, hotel_id: int, cursor: Cursor, limit: int = 200) -> OutboxBatch:
    """The hotel's settled outbox rows after ``cursor``, oldest first, read through row-level security."""
    with tenant_session(engine, hotel_id) as session:
        rows = session.execute(
            _READ_AFTER,
            {"hotel": hotel_id, "txid": cursor.txid, "event_id": cursor.event_id, "limit": limit + 1},
        ).all()
    settled = [row for row in rows if row.settled]
    taken = settled[:limit]
    records = tuple(record for row in taken if (record := _decode(row)) is not None)
    last = Cursor(taken[-1].txid, taken[-1].id) if taken else cursor
    return OutboxBatch(
        records=records,
        cursor=last,
        full=len(settled) > limit,
        held_back=len(settled) < len(rows),
    )


def _decode(row: Any) -> OutboxRecord | None:
    """An event this build does not know (written by a newer version) is skipped, not a stuck stream."""
    try:
        event = decode(row.name, row.payload)
    except (ValidationError, TypeError, ValueError) as exc:
        log.warning("skipping outbox event %s (%s): %s", row.id, row.name, exc)
        return None
    return OutboxRecord(event_id=row.id, txid=row.txid, event=event)


@dataclass(frozen=True)
class Tail:
    """The end of a hotel's outbox as of now: a reader starting here sees only what is committed next."""

    cursor: Cursor  # the last settled row
    # Rows already committed but not yet settled (an older transaction is still open somewhere on the
    # server): they sort after the cursor, yet they are not new either.
    already_committed: frozenset[Cursor]


def tail(engine: Engine, hotel_id: int) -> Tail:
    with tenant_session(engine, hotel_id) as session:
        rows = session.execute(_TAIL, {"hotel": hotel_id}).all()
    settled = [Cursor(row.txid, row.id) for row in rows if row.settled]
    return Tail(
        cursor=settled[0] if settled else START,
        already_committed=frozenset(Cursor(row.txid, row.id) for row in rows if not row.settled),
    )


def load_cursor(engine: Engine, hotel_id: int, consumer: str) -> Cursor | None:
    """Where a durable consumer stopped, or None if it has never run for this hotel."""
    with tenant_session(engine, hotel_id) as session:
        row = session.execute(_LOAD_CURSOR, {"hotel": hotel_id, "consumer": consumer}).first()
    return Cursor(row.last_txid, row.last_event_id) if row else None


def save_cursor(engine: Engine, hotel_id: int, consumer: str, cursor: Cursor) -> None:
    with tenant_session(engine, hotel_id) as session:
        session.execute(
            _SAVE_CURSOR,
            {"hotel": hotel_id, "consumer": consumer, "txid": cursor.txid, "event_id": cursor.event_id},
        )


def record_failed_delivery(
    engine: Engine, hotel_id: int, event_id: int, handler: str, attempts: int, error: str
) -> None:
    """Keep a delivery that exhausted its retries where an operator can see it."""
    with tenant_session(engine, hotel_id) as session:
        session.execute(
            _RECORD_FAILURE,
            {
                "hotel": hotel_id,
                "event_id": event_id,
                "handler": handler,
                "attempts": attempts,
                "error": error[:MAX_ERROR_TEXT],
            },
        )
