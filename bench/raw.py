"""The floor: the statements a service call sends, replayed as raw psycopg prepared statements.

A service call is run once per input with listeners on the engine and on ``core.db.reads`` that record
every statement it sends (SQL text as the driver receives it, and its parameters), except the tenant
setting. The raw client then replays exactly those statements on a plain psycopg connection as the
runtime role in the fewest round trips the protocol allows: ``set_config`` and every statement, each
prepared, in one pipeline (one implicit transaction, one round trip). The ratio service / raw is what the
service layer (SQLAlchemy, result objects, extra round trips) costs on top of the same SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from core.db import reads

Statement = tuple[str, Any]
_TENANT_MARK = "set_config('app.hotel_id'"
SET_TENANT = "SELECT set_config('app.hotel_id', %s, true)"


@contextmanager
def recording(engine: Engine) -> Iterator[list[Statement]]:
    """Statements sent through ``engine`` while the block runs (the tenant setting left out)."""
    statements: list[Statement] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if _TENANT_MARK not in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with reads.listening(lambda sql, params: statements.append((sql, params))):
            yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def record_calls(engine: Engine, call: Callable[[Any], object], inputs: list[Any]) -> list[list[Statement]]:
    """The statements of ``call(input)`` for each input, in order."""
    out = []
    for value in inputs:
        with recording(engine) as statements:
            call(value)
        out.append(list(statements))
    return out


class RawClient:
    """One runtime-role connection; ``run`` replays recorded statements for the hotel in one round trip."""

    def __init__(self, dsn: str, hotel_id: int) -> None:
        self.conn = psycopg.connect(dsn, application_name="frontdesk-bench-raw", autocommit=True)
        self.tenant = (str(hotel_id),)

    def run(self, statements: list[Statement]) -> int:
        conn = self.conn
        with conn.pipeline():
            conn.execute(SET_TENANT, self.tenant, prepare=True)
            cursors = [conn.execute(sql_text, params, prepare=True) for sql_text, params in statements]
        return sum(len(cur.fetchall()) for cur in cursors if cur.description is not None)

    def close(self) -> None:
        self.conn.close()


def explain(dsn: str, hotel_id: int, statements: list[Statement]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement as the runtime role with the tenant set (rolled back)."""
    parts = []
    with psycopg.connect(dsn, application_name="frontdesk-bench-explain") as conn:
        for n, (sql_text, params) in enumerate(statements, 1):
            with conn.transaction(force_rollback=True):
                conn.execute(SET_TENANT, (str(hotel_id),))
                conn.execute(sql_text, params)  # once to warm the cache, as in the timed runs
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text, params).fetchall()
            parts.append(f"-- statement {n} of {len(statements)}\n{sql_text}\n-- parameters: {params!r}\n")
            parts.append("\n".join(line for (line,) in plan) + "\n")
    return "\n".join(parts)
