"""The ``frontdesk`` command as an operator meets it: clear messages for bad settings, the schema check,
and the app opening against a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import migrate
from core.db.connect import refuse_privileged_login
from core.errors import ConfigError, SchemaOutdated

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    environment.update({"FRONTDESK_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"})
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "desk_app.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(url) -> str:
    return url.render_as_string(hide_password=False)


def test_a_malformed_url_gives_one_clear_line_and_a_non_zero_exit(tmp_path):
    result = run_cli("--quit-after", "0", home=tmp_path, env={"FRONTDESK_DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode == 2
    assert "FRONTDESK_DATABASE_URL must point at PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_server_is_named_with_the_setting(tmp_path):
    port = _free_port()
    result = run_cli(
        "--database-url", f"postgresql://frontdesk_app:pw@127.0.0.1:{port}/hotel", "--quit-after", "0", home=tmp_path
    )
    assert result.returncode == 2
    assert f"127.0.0.1:{port}/hotel" in result.stderr
    assert "--database-url" in result.stderr
    assert "pw@" not in result.stderr and "Traceback" not in result.stderr


def test_an_empty_database_is_refused_naming_the_upgrade_command(tmp_path, empty_db):
    url = _url(empty_db.server.app_url(empty_db.name))
    result = run_cli("--quit-after", "0", home=tmp_path, env={"FRONTDESK_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "Run `frontdesk db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_behind_or_ahead_of_the_code_is_refused(db):
    with db.owner.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with pytest.raises(SchemaOutdated, match="newer than this FrontDesk"):
        migrate.ensure_current(db.app)
    with db.owner.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaOutdated, match="frontdesk db upgrade"):
        migrate.ensure_current(db.app)


def test_the_app_refuses_to_sign_in_to_the_database_as_a_superuser(db):
    with pytest.raises(ConfigError, match="bypasses row-level security"):
        refuse_privileged_login(db.owner, "FRONTDESK_DATABASE_URL")
    refuse_privileged_login(db.app, "FRONTDESK_DATABASE_URL")


def test_db_current_and_upgrade_through_the_command(tmp_path, empty_db):
    admin = _url(empty_db.server.owner_url(empty_db.name))
    assert "empty" in run_cli("db", "current", "--admin-url", admin, home=tmp_path).stdout
    upgraded = run_cli("db", "upgrade", "--admin-url", admin, home=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert migrate.current_revision(empty_db.owner) == migrate.head_revision()
    assert "up to date" in run_cli("db", "current", "--admin-url", admin, home=tmp_path).stdout


def test_the_app_opens_a_window_on_a_shared_database_and_quits(tmp_path, db, hotel):
    result = run_cli(
        "--quit-after", "0.5", home=tmp_path, env={"FRONTDESK_DATABASE_URL": _url(db.server.app_url(db.name))}
    )
    assert result.returncode == 0, result.stderr
    assert "Window open after" in result.stdout
    assert (tmp_path / "logs" / "frontdesk.log").exists()


def test_user_add_stores_an_argon2_hash_and_an_audit_row(tmp_path, db, hotel):
    admin = _url(db.server.owner_url(db.name))
    add_user = ("user", "add", "--hotel", hotel.name, "--username", "night.audit", "--role", "front_desk")
    password = {"FRONTDESK_NEW_USER_PASSWORD": "s3cure-enough"}
    result = run_cli(*add_user, "--admin-url", admin, home=tmp_path, env=password)
    assert result.returncode == 0, result.stderr
    with db.owner.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_users WHERE username = 'night.audit'")).scalar_one()
        audit = conn.execute(text("SELECT details::text FROM audit_log WHERE action = 'staff.added'")).scalar_one()
    assert stored.startswith("$argon2")
    assert "s3cure" not in audit and "argon2" not in audit
    again = run_cli(*add_user, "--admin-url", admin, home=tmp_path, env=password)
    assert again.returncode == 2 and "already exists" in again.stderr
