"""The SQLAlchemy engine on psycopg 3, and the clear message when the server cannot be used."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from core.errors import ConfigError, DatabaseUnavailable

RUNTIME_ROLE = "frontdesk_app"
APPLICATION_NAME = "frontdesk"


def parse_url(url: str, setting: str = "the database URL") -> URL:
    """Accept ``postgresql://`` or ``postgresql+psycopg://``; anything else is a config error."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{setting} is not a valid database URL (expected postgresql://user@host/db).") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"{setting} must point at PostgreSQL, not {parsed.get_backend_name()!r}.")
    return parsed.set(drivername="postgresql+psycopg")


def describe(url: URL) -> str:
    """Where a URL points, without its password."""
    host = url.host or url.query.get("host") or "local socket"
    port = f":{url.port}" if url.port else ""
    return f"{url.username or 'default user'}@{host}{port}/{url.database}"


def create_app_engine(url: URL | str, *, pool_size: int = 5, setting: str = "the database URL") -> Engine:
    """No ping before each use (a round trip per unit of work): a connection found dropped when a
    transaction or read opens is replaced and the work runs on a new one (``tenant_session``,
    ``reads.read``)."""
    parsed = parse_url(url, setting) if isinstance(url, str) else url
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"application_name": APPLICATION_NAME, "connect_timeout": 5},
    )
    return engine


def check_reachable(engine: Engine, setting: str) -> None:
    """Connect once; turn every failure into one message naming the setting and the server."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else "no answer"
        raise DatabaseUnavailable(
            f"Cannot connect to the database server {describe(engine.url)} named by {setting}: {reason}"
        ) from None
