"""Open the database the configuration names: the shared server, or the embedded one started on demand."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, text

from core.config import Settings
from core.db import embedded, migrate
from core.db.engine import RUNTIME_ROLE, check_reachable, create_app_engine, describe
from core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Connection:
    """The engines of a running app: ``app`` (runtime role, RLS) and, when known, ``owner`` (migrations)."""

    app: Engine
    owner: Engine | None
    embedded: embedded.EmbeddedDatabase | None
    where: str

    def dispose(self) -> None:
        self.app.dispose()
        if self.owner is not None:
            self.owner.dispose()


def open_database(settings: Settings, *, pool_size: int = 5) -> Connection:
    """Connect as the runtime role; the embedded server is started and migrated here, a shared server's
    schema must already be current (``frontdesk db upgrade``)."""
    if settings.embedded:
        return _open_embedded(settings, pool_size)
    assert settings.database_url is not None
    app = create_app_engine(settings.database_url, pool_size=pool_size, setting=settings.source)
    check_reachable(app, settings.source)
    refuse_privileged_login(app, settings.source)
    migrate.ensure_current(app)
    return Connection(app=app, owner=None, embedded=None, where=describe(app.url))


def _open_embedded(settings: Settings, pool_size: int) -> Connection:
    started = embedded.start(settings.paths.embedded_pgdata)
    owner = create_app_engine(started.owner_url, pool_size=1, setting="the embedded database")
    if migrate.current_revision(owner) != migrate.head_revision():
        log.info("migrating the embedded database to %s", migrate.head_revision())
        migrate.upgrade(owner)
    app = create_app_engine(started.app_url, pool_size=pool_size, setting="the embedded database")
    return Connection(
        app=app, owner=owner, embedded=started, where=f"embedded database in {settings.paths.embedded_pgdata}"
    )


def open_owner(settings: Settings) -> Engine:
    """The owner (migration) engine: the embedded superuser, or the admin URL for a shared server."""
    if settings.embedded and settings.admin_url is None:
        return create_app_engine(embedded.start(settings.paths.embedded_pgdata).owner_url, pool_size=1)
    url = settings.admin_url or settings.database_url
    setting = "--admin-url / FRONTDESK_ADMIN_DATABASE_URL" if settings.admin_url else settings.source
    assert url is not None
    engine = create_app_engine(url, pool_size=1, setting=setting)
    check_reachable(engine, setting)
    return engine


def refuse_privileged_login(engine: Engine, setting: str) -> None:
    """The app never runs as a superuser or a role that skips row-level security."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    if row.rolsuper or row.rolbypassrls:
        raise ConfigError(
            f"{setting} signs in as {row.current_user!r}, which bypasses row-level security. "
            f"Use the runtime role {RUNTIME_ROLE!r} (see `frontdesk db init-roles`)."
        )
