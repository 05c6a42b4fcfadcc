"""Where the database is, where the user's files live, and how we log.

The runtime database URL is resolved in this order: the ``--database-url`` option,
``FRONTDESK_DATABASE_URL``, ``database_url`` in the config file, else the embedded server.
The owner (migration) URL follows the same order with ``--admin-url``,
``FRONTDESK_ADMIN_DATABASE_URL`` and ``admin_database_url``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import ConfigError

APP_NAME = "FrontDesk"
ENV_DATABASE_URL = "FRONTDESK_DATABASE_URL"
ENV_ADMIN_URL = "FRONTDESK_ADMIN_DATABASE_URL"
ENV_HOME = "FRONTDESK_HOME"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    logs: Path

    @property
    def config_file(self) -> Path:
        return self.config / "config.json"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data / "pgdata"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``database_url`` None means: use the embedded server."""

    paths: Paths
    database_url: str | None
    admin_url: str | None
    source: str  # which setting named the URL, for error messages

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def user_paths() -> Paths:
    """Per-user folders; ``FRONTDESK_HOME`` puts all three under one folder (tests, portable installs)."""
    home = os.environ.get(ENV_HOME)
    if home:
        root = Path(home)
        paths = Paths(data=root / "data", config=root / "config", logs=root / "logs")
    else:
        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        paths = Paths(data=Path(dirs.user_data_dir), config=Path(dirs.user_config_dir), logs=Path(dirs.user_log_dir))
    for folder in (paths.data, paths.config, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    return paths


def read_config_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The config file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"The config file {path} must hold a JSON object.")
    return {str(k): str(v) for k, v in data.items()}


def resolve(cli_url: str | None = None, cli_admin_url: str | None = None) -> Settings:
    paths = user_paths()
    file_values = read_config_file(paths.config_file)
    url, source = _first(
        (cli_url, "--database-url"),
        (os.environ.get(ENV_DATABASE_URL), ENV_DATABASE_URL),
        (file_values.get("database_url"), f"database_url in {paths.config_file}"),
    )
    admin, _ = _first(
        (cli_admin_url, "--admin-url"),
        (os.environ.get(ENV_ADMIN_URL), ENV_ADMIN_URL),
        (file_values.get("admin_database_url"), f"admin_database_url in {paths.config_file}"),
    )
    return Settings(paths=paths, database_url=url, admin_url=admin, source=source or "embedded")


def _first(*candidates: tuple[str | None, str]) -> tuple[str | None, str | None]:
    for value, name in candidates:
        if value:
            return value, name
    return None, None


def setup_logging(paths: Paths, level: int = logging.INFO) -> Path:
    """Rotating log file in the user log folder; returns its path."""
    log_file = paths.logs / "frontdesk.log"
    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        root.addHandler(handler)
    return log_file
