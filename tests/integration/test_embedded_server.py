"""The embedded PostgreSQL: starts in an empty folder, serves two processes, keeps data across a restart,
and accepts no login without its generated secret."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# Each step is its own process, like two app instances on one machine.
SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sqlalchemy import text
    from core.db import embedded
    from core.db.engine import create_app_engine
    pgdata, action = Path(sys.argv[1]), sys.argv[2]
    started = embedded.start(pgdata)
    owner = create_app_engine(started.owner_url)
    with owner.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS kept (note text)"))
        if action == "write":
            conn.execute(text("INSERT INTO kept VALUES ('first process')"))
        print("rows", conn.execute(text("SELECT count(*) FROM kept")).scalar_one(), flush=True)
    print("pid", open(pgdata / "postmaster.pid").readline().strip(), flush=True)
    if action == "hold":
        sys.stdin.readline()  # keep the server in use until the test says so
    owner.dispose()
""")


def _start(pgdata: Path, action: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(pgdata), action],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def _finish(process: subprocess.Popen, stdin: str | None = None) -> dict[str, str]:
    out, err = process.communicate(stdin, timeout=120)
    assert process.returncode == 0, err
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_starts_in_an_empty_folder_serves_two_processes_and_keeps_data_across_restart(tmp_path):
    pgdata = tmp_path / "data" / "pgdata"
    holder = _start(pgdata, "hold", stdin=subprocess.PIPE)
    assert holder.stdout is not None
    first_line = holder.stdout.readline()
    assert first_line.startswith("rows 0"), first_line + (holder.stderr.read() if holder.stderr else "")
    server_pid = holder.stdout.readline().split()[1]

    second = _finish(_start(pgdata, "write"))  # a second process attaches to the running server
    assert second == {"rows": "1", "pid": server_pid}
    _finish(holder, "\n")  # the last user leaves: the server stops cleanly
    assert not (pgdata / "postmaster.pid").exists()

    restarted = _finish(_start(pgdata, "read"))
    assert restarted["rows"] == "1"
    assert restarted["pid"] != server_pid


def test_no_login_without_the_generated_secret(tmp_path):
    pgdata = tmp_path / "pgdata"
    _finish(_start(pgdata, "read"))
    holder = _start(pgdata, "hold", stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        secret_file = tmp_path / "embedded-secret.json"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=str(pgdata), user="postgres", dbname="frontdesk", connect_timeout=5)
        assert "host" not in (pgdata / "pg_hba.conf").read_text()  # no TCP access at all
    finally:
        _finish(holder, "\n")
