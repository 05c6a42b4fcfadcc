"""Transactions with the tenant set: one round trip opens the transaction and sets hotel, user and timeouts,
all transaction-local.

The driver connection runs in autocommit mode and the transaction is opened explicitly by the same simple
query that sets the tenant (``BEGIN ...; SELECT set_config(...)``): the driver would otherwise send its own
BEGIN as a round trip of its own. COMMIT and ROLLBACK still go through the driver, which sends them
whenever the server reports an open transaction. Should the transaction not be open after that query,
the session refuses to go on: in autocommit mode each statement would commit on its own.

A rollback is sent on the wire here rather than by the driver: psycopg's ``rollback()`` also forgets every
statement it has prepared on the connection, and read-only units of work end in a rollback, so no query
would ever stay prepared (each call would be parsed and planned again).
"""

from __future__ import annotations

import logging
import random
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.errors import ConcurrencyConflict

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")

# Only integers are formatted in (simple queries take no parameters); the isolation level is from the list.
_BEGIN_WITH_CONTEXT = (
    "BEGIN ISOLATION LEVEL {isolation}; SELECT set_config('app.hotel_id', '{hotel}', true),"
    " set_config('app.user_id', '{user}', true), set_config('lock_timeout', '{lock_timeout}ms', true),"
    " set_config('statement_timeout', '{statement_timeout}ms', true)"
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raised directly or wrapped by SQLAlchemy."""
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)


@contextmanager
def tenant_session(
    engine: Engine,
    hotel_id: int | None,
    *,
    user_id: int | None = None,
    isolation: str = "READ COMMITTED",
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = 30000,
) -> Iterator[Session]:
    """A session inside one transaction scoped to ``hotel_id``; commits on success, rolls back on error.

    With ``hotel_id`` None no tenant is set and row-level security shows no tenant rows at all.
    """
    if isolation not in ISOLATION_LEVELS:
        raise ValueError(f"unknown isolation level {isolation!r}")
    begin = _BEGIN_WITH_CONTEXT.format(
        isolation=isolation,
        hotel="" if hotel_id is None else int(hotel_id),
        user="" if user_id is None else int(user_id),
        lock_timeout=int(lock_timeout_ms),
        statement_timeout=int(statement_timeout_ms),
    )
    bind = _explicit_transactions(engine)
    for attempt in (1, 2):
        session = Session(bind=bind, expire_on_commit=False, autoflush=True)
        transaction = session.begin()
        try:
            connection = session.connection()
            connection.exec_driver_sql(begin)
        except DBAPIError as exc:
            session.close()
            # A pooled connection the server has dropped fails here, before anything ran: SQLAlchemy has
            # invalidated the pool, so the second attempt connects afresh.
            if exc.connection_invalidated and attempt == 1:
                log.warning("database connection lost; opening the transaction on a new connection")
                continue
            raise
        break
    with session, transaction:
        driver = connection.connection.driver_connection
        if driver is None or driver.info.transaction_status != TransactionStatus.INTRANS:
            raise RuntimeError("the tenant transaction did not open; refusing to run without one")
        yield session


_EXPLICIT: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


def _explicit_transactions(engine: Engine) -> Engine:
    """``engine`` with driver-level autocommit (one per engine): our BEGIN opens each transaction."""
    explicit = _EXPLICIT.get(engine)
    if explicit is None:
        explicit = engine.execution_options(isolation_level="AUTOCOMMIT")
        event.listen(explicit, "rollback", _rollback_keeping_prepared_statements)
        _EXPLICIT[engine] = explicit
    return explicit


def _rollback_keeping_prepared_statements(connection: Connection) -> None:
    """Runs just before SQLAlchemy asks the driver to roll back; the driver then finds no transaction."""
    if connection.closed or connection.invalidated:
        return
    driver = connection.connection.driver_connection
    if driver is not None and driver.info.transaction_status in _OPEN:
        driver.pgconn.exec_(b"ROLLBACK")  # on failure the driver's own rollback() runs and reports it


def with_retry(work: Callable[[], T], *, attempts: int = 5, first_delay: float = 0.02) -> T:
    """Run ``work`` (which opens its own transaction) again on serialization failures and deadlocks."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if sqlstate(exc) not in RETRYABLE:
                raise
            if attempt == attempts:
                raise ConcurrencyConflict("Another terminal was changing the same records; please try again.") from None
            delay = random.uniform(0, first_delay * 2 ** (attempt - 1))
            log.info("transaction retry %d after SQLSTATE %s (%.3fs)", attempt, sqlstate(exc), delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
