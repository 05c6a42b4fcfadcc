"""A new user's first and second `frontdesk` run with nothing configured: the embedded database starts,
the schema is created, a demo hotel is seeded once, and the window opens."""

from __future__ import annotations

import pytest

from tests.integration.test_cli_and_startup import run_cli

pytestmark = pytest.mark.slow


def test_first_run_seeds_the_demo_hotel_and_a_second_run_reuses_it(tmp_path):
    first = run_cli("--demo", "--quit-after", "0.3", home=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Seeded 'Hotel Aurora (demo)'" in first.stdout
    assert "reception" in first.stdout and "Window open after" in first.stdout
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()

    second = run_cli("--quit-after", "0.3", home=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "Seeded" not in second.stdout
    assert "Window open after" in second.stdout
    assert "demo" not in second.stderr.lower()
