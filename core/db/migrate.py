"""Alembic driven from code: upgrade, downgrade, current, and the start-up check of the schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from core.errors import SchemaOutdated

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations folder has no revisions"
    return head


def _run(engine: Engine, fn: Callable[..., None], *args: str) -> None:
    config = alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        fn(config, *args)
        conn.commit()


def upgrade(owner_engine: Engine, revision: str = "head") -> None:
    _run(owner_engine, command.upgrade, revision)


def downgrade(owner_engine: Engine, revision: str) -> None:
    _run(owner_engine, command.downgrade, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_current(engine: Engine) -> None:
    """Refuse to run against a schema this code was not written for, naming the fix."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutdated("The database has no FrontDesk schema yet. Run `frontdesk db upgrade`.")
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaOutdated(
            f"The database schema ({current}) is newer than this FrontDesk ({head}). Install the newer version."
        )
    raise SchemaOutdated(
        f"The database schema ({current}) is behind this FrontDesk ({head}). Run `frontdesk db upgrade`."
    )
