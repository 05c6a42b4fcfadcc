"""The layers hold: core imports no Qt, httpx or keyring; sync no Qt; desk_app builds no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_core_imports_no_qt_httpx_or_keyring():
    offenders = {f: n & {"PySide6", "httpx", "keyring", "desk_app", "sync"} for f, n in _imports("core").items()}
    assert {f: n for f, n in offenders.items() if n} == {}


def test_sync_imports_no_qt_and_nothing_imports_desk_app():
    for folder in ("sync", "core"):
        offenders = {f: n & {"PySide6", "desk_app"} for f, n in _imports(folder).items()}
        assert {f: n for f, n in offenders.items() if n} == {}


def test_desk_app_builds_no_sql():
    offenders = {f: n & {"sqlalchemy", "psycopg"} for f, n in _imports("desk_app").items()}
    assert {f: n for f, n in offenders.items() if n} == {}
