"""Reading a hotel's outbox without ever skipping a row, and the tables that remember how far a consumer got.

Outbox ids come from a sequence, and sequence values are handed out before commit, so rows become
visible out of id order: a plain ``id > cursor`` can step over a row that commits late and never see it.
Each row therefore stores its inserting transaction id (``txid``) and readers go in (txid, id) order.
Two ways to read, each exact:

* Live (a terminal's screens): a ``ReadPosition`` is the last row read plus the transactions that were
  still running at that read with a smaller txid (the snapshot's in-progress list). Only those can still
  commit rows that sort before the position, so the next read takes the rows after the position plus
  the rows of those transactions. Each row arrives once, as soon as it is committed, in commit order,
  whatever else is running on the server.
* Settled (durable consumers, whose place is one stored (txid, id) pair): only rows whose transaction is
  older than every running one (txid below the snapshot's xmin). A transaction that commits later has a
  txid at or above that xmin, so it sorts after the cursor and nothing is skipped. The price: a long
  write transaction anywhere on the server holds these rows back until it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from core.db.transaction import tenant_session
from core.errors import ValidationError
from core.events.catalog import DomainEvent, decode

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 4000

# Each read is ONE statement: its rows and the snapshot facts it returns (xmin, the transactions in
# progress) come from the same snapshot. Every result has at least one row, so the facts arrive even when
# there is nothing new (the event columns are then NULL).
_SNAPSHOT_FACTS = """
    snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
    facts AS MATERIALIZED (
        SELECT (pg_snapshot_xmin(s)::text)::bigint AS xmin,
               ARRAY(SELECT (x::text)::bigint FROM pg_snapshot_xip(s) AS x) AS running
        FROM snap
    )"""

_ROWS_AFTER = """
    SELECT o.id, o.txid, o.name, o.payload, true AS after_position FROM event_outbox o
    WHERE o.hotel_id = :hotel AND (o.txid, o.id) > (:txid, :event_id)
    ORDER BY o.txid, o.id
    LIMIT :limit"""

_READ_LIVE = text(
    f"""
    WITH {_SNAPSHOT_FACTS},
    after_position AS ({_ROWS_AFTER}),
    late AS (
        SELECT o.id, o.txid, o.name, o.payload, false FROM event_outbox o
        WHERE o.hotel_id = :hotel AND o.txid = ANY(CAST(:open_txids AS bigint[]))
    )
    SELECT facts.xmin, facts.running, rows.* FROM facts
    LEFT JOIN (SELECT * FROM after_position UNION ALL SELECT * FROM late) AS rows ON true
    ORDER BY rows.txid, rows.id
    """
)

_READ_SETTLED = text(
    f"""
    WITH {_SNAPSHOT_FACTS},
    after_position AS ({_ROWS_AFTER})
    SELECT facts.xmin, facts.running, rows.* FROM facts LEFT JOIN after_position AS rows ON true
    ORDER BY rows.txid, rows.id
    """
)

_TAIL = text(
    f"""
    WITH {_SNAPSHOT_FACTS}
    SELECT facts.xmin, facts.running, last_row.txid AS last_txid, last_row.id AS last_id,
           last_settled.txid AS settled_txid, last_settled.id AS settled_id
    FROM facts
    LEFT JOIN LATERAL (
        SELECT o.txid, o.id FROM event_outbox o WHERE o.hotel_id = :hotel
        ORDER BY o.txid DESC, o.id DESC LIMIT 1
    ) AS last_row ON true
    LEFT JOIN LATERAL (
        SELECT o.txid, o.id FROM event_outbox o WHERE o.hotel_id = :hotel AND o.txid < facts.xmin
        ORDER BY o.txid DESC, o.id DESC LIMIT 1
    ) AS last_settled ON true
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
    """A position in a hotel's outbox, in (txid, event_id) order."""

    txid: int = 0
    event_id: int = 0


START = Cursor()


@dataclass(frozen=True)
class ReadPosition:
    """Every committed row up to ``last`` has been read, except rows the ``open_txids`` may still commit."""

    last: Cursor
    open_txids: frozenset[int] = frozenset()


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
    records: tuple[OutboxRecord, ...]  # rows not read before, in (txid, id) order
    position: ReadPosition  # where the next read starts
    full: bool  # the limit was reached: more rows follow at once
    held_back: bool = False  # settled reads: committed rows wait for an older transaction to end


@dataclass(frozen=True)
class Tail:
    """The end of a hotel's outbox as of now."""

    position: ReadPosition  # exact: a live reader starting here sees only what is committed from now on
    settled: Cursor  # for a settled reader: the last row older than every running transaction


def read_live(engine: Engine, hotel_id: int, position: ReadPosition, limit: int = 200) -> OutboxBatch:
    """The hotel's rows committed since ``position``, read through row-level security."""
    with tenant_session(engine, hotel_id) as session:
        result = session.execute(
            _READ_LIVE, {**_after(hotel_id, position.last, limit), "open_txids": sorted(position.open_txids)}
        ).all()
    rows = [row for row in result if row.id is not None]
    after = [row for row in rows if row.after_position]
    last = Cursor(after[-1].txid, after[-1].id) if after else position.last
    return OutboxBatch(
        records=_decode_all(rows),
        position=ReadPosition(last, _open_before(result[0].running, last)),
        full=len(after) == limit,
    )


def read_settled(engine: Engine, hotel_id: int, cursor: Cursor, limit: int = 200) -> OutboxBatch:
    """The hotel's settled rows after ``cursor``, read through row-level security."""
    with tenant_session(engine, hotel_id) as session:
        result = session.execute(_READ_SETTLED, _after(hotel_id, cursor, limit + 1)).all()
    rows = [row for row in result if row.id is not None]
    settled = [row for row in rows if row.txid < result[0].xmin]
    taken = settled[:limit]
    return OutboxBatch(
        records=_decode_all(taken),
        position=ReadPosition(Cursor(taken[-1].txid, taken[-1].id) if taken else cursor),
        full=len(settled) > limit,
        held_back=len(settled) < len(rows),
    )


def tail(engine: Engine, hotel_id: int) -> Tail:
    with tenant_session(engine, hotel_id) as session:
        row = session.execute(_TAIL, {"hotel": hotel_id}).one()
    last = Cursor(row.last_txid, row.last_id) if row.last_id is not None else START
    settled = Cursor(row.settled_txid, row.settled_id) if row.settled_id is not None else START
    return Tail(position=ReadPosition(last, _open_before(row.running, last)), settled=settled)


def _after(hotel_id: int, cursor: Cursor, limit: int) -> dict[str, int]:
    return {"hotel": hotel_id, "txid": cursor.txid, "event_id": cursor.event_id, "limit": limit}


def _open_before(running: list[int], last: Cursor) -> frozenset[int]:
    """Running transactions that may still commit rows sorting before ``last`` (later ones sort after it)."""
    return frozenset(txid for txid in running if txid < last.txid)


def _decode_all(rows: Iterable[Any]) -> tuple[OutboxRecord, ...]:
    return tuple(record for row in rows if (record := _decode(row)) is not None)


def _decode(row: Any) -> OutboxRecord | None:
    """An event this build does not know (written by a newer version) is skipped, not a stuck stream."""
    try:
        event = decode(row.name, row.payload)
    except (ValidationError, TypeError, ValueError) as exc:
        log.warning("skipping outbox event %s (%s): %s", row.id, row.name, exc)
        return None
    return OutboxRecord(event_id=row.id, txid=row.txid, event=event)


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
