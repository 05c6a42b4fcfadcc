"""Reads in one round trip: the tenant setting and every statement of a read travel together.

The statements are sent in one psycopg pipeline on a connection in autocommit mode: PostgreSQL runs
everything before the pipeline's Sync as one implicit transaction, so the transaction-local tenant
setting holds for the statements and is gone when they finish, and there is no BEGIN or COMMIT to wait
for. A unit of work through the ORM costs at least three round trips (open and set the tenant, the query,
the end of the transaction); the desk's lists and look-ups run on every key stroke and refresh, so they
take this path. Statements are prepared on first use and stay prepared on the connection.

Reads are safe to repeat: one that finds its pooled connection broken (a restarted server, a dropped
link) runs once more on a fresh connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine

log = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any]
Query = tuple[str, Params]
Rows = list[tuple[Any, ...]]
StatementListener = Callable[[str, Params], None]

_SET_CONTEXT = (
    "SELECT set_config('app.hotel_id', %s, true), set_config('app.user_id', %s, true),"
    " set_config('statement_timeout', %s, true)"
)
_listeners: list[StatementListener] = []


@contextmanager
def listening(listener: StatementListener) -> Iterator[None]:
    """Call ``listener(sql, params)`` for each statement a read sends while the block runs (the tenant
    setting left out): the benchmarks replay them."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def read(
    engine: Engine,
    hotel_id: int | None,
    queries: Sequence[Query],
    *,
    user_id: int | None = None,
    statement_timeout_ms: int = 30000,
) -> list[Rows]:
    """The rows of each query, run for ``hotel_id`` (None: no tenant, so row-level security shows no
    tenant rows) in one round trip. Raises ``psycopg.Error`` as the server reported it."""
    context = ("" if hotel_id is None else str(int(hotel_id)), "" if user_id is None else str(int(user_id)))
    timeout = f"{int(statement_timeout_ms)}ms"
    for listener in _listeners:
        for sql, params in queries:
            listener(sql, params)
    for attempt in (1, 2):
        pooled = engine.raw_connection()
        try:
            conn = pooled.driver_connection
            assert isinstance(conn, psycopg.Connection)
            try:
                return _run(conn, (*context, timeout), queries)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
                pooled.invalidate()  # never back into the pool
                if attempt == 2:
                    raise
                log.warning("database connection lost; reading again on a new connection")
                engine.dispose(close=False)  # the pool's other connections are likely gone as well
        finally:
            pooled.close()
    raise AssertionError("unreachable")


def _run(conn: psycopg.Connection[Any], context: tuple[str, str, str], queries: Sequence[Query]) -> list[Rows]:
    conn.autocommit = True  # no BEGIN: the pipeline's implicit transaction holds the tenant setting
    try:
        with conn.pipeline():
            conn.execute(_SET_CONTEXT, context, prepare=True)
            cursors = [conn.cursor() for _ in queries]
            for cursor, (sql, params) in zip(cursors, queries, strict=True):
                cursor.execute(sql, params, prepare=True)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        if not conn.broken:
            conn.autocommit = False
