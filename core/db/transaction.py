"""Transactions with the tenant set: one round trip sets hotel, user and timeouts, all transaction-local."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.errors import ConcurrencyConflict

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")

_SET_CONTEXT = text(
    "SELECT set_config('app.hotel_id', :hotel, true), set_config('app.user_id', :user, true),"
    " set_config('lock_timeout', :lock_timeout, true),"
    " set_config('statement_timeout', :statement_timeout, true)"
)


def sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


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
    bind = engine if isolation == "READ COMMITTED" else engine.execution_options(isolation_level=isolation)
    with Session(bind=bind, expire_on_commit=False, autoflush=True) as session, session.begin():
        session.execute(
            _SET_CONTEXT,
            {
                "hotel": "" if hotel_id is None else str(int(hotel_id)),
                "user": "" if user_id is None else str(int(user_id)),
                "lock_timeout": f"{int(lock_timeout_ms)}ms",
                "statement_timeout": f"{int(statement_timeout_ms)}ms",
            },
        )
        yield session


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
