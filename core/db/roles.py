"""One-time role setup on a shared server, run by an administrator (documented in docs/OPERATIONS.md)."""

from __future__ import annotations

from psycopg import sql
from sqlalchemy import Engine

from core.db.engine import RUNTIME_ROLE


def init_roles_sql(database: str, app_password: str) -> list[sql.Composed]:
    """The statements, in order: the runtime login role (no superuser, no BYPASSRLS, owns nothing)."""
    role = sql.Identifier(RUNTIME_ROLE)
    return [
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN "
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$"
        ).format(name=sql.Literal(RUNTIME_ROLE), role=role),
        sql.SQL("ALTER ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {password}").format(
            role=role, password=sql.Literal(app_password)
        ),
        sql.SQL("GRANT CONNECT ON DATABASE {db} TO {role}").format(db=sql.Identifier(database), role=role),
    ]


def init_roles(admin: Engine, app_password: str) -> None:
    database = admin.url.database or "postgres"
    raw = admin.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        for statement in init_roles_sql(database, app_password):
            conn.execute(statement)
        conn.commit()
    finally:
        raw.close()
