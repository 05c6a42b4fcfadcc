"""Where the database URL comes from, and the clear errors for bad settings."""

from __future__ import annotations

import json

import pytest

from core import config
from core.db.engine import describe, parse_url
from core.errors import ConfigError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path))
    monkeypatch.delenv(config.ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv(config.ENV_ADMIN_URL, raising=False)
    return tmp_path


def _write_config(home, **values):
    folder = home / "config"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(values))


def test_nothing_configured_means_the_embedded_database(home):
    settings = config.resolve()
    assert settings.embedded
    assert settings.paths.embedded_pgdata == home / "data" / "pgdata"
    assert (home / "logs").is_dir()


def test_command_line_beats_environment_beats_config_file(home, monkeypatch):
    _write_config(home, database_url="postgresql://file@h/db")
    assert config.resolve().database_url == "postgresql://file@h/db"
    monkeypatch.setenv(config.ENV_DATABASE_URL, "postgresql://env@h/db")
    assert config.resolve().database_url == "postgresql://env@h/db"
    assert config.resolve().source == config.ENV_DATABASE_URL
    settings = config.resolve(cli_url="postgresql://cli@h/db")
    assert (settings.database_url, settings.source) == ("postgresql://cli@h/db", "--database-url")


def test_unreadable_config_file_is_named_in_the_error(home):
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json cannot be read"):
        config.resolve()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url at all"])
def test_a_url_that_is_not_postgresql_is_refused_naming_the_setting(url):
    with pytest.raises(ConfigError, match="FRONTDESK_DATABASE_URL"):
        parse_url(url, "FRONTDESK_DATABASE_URL")


def test_describe_never_shows_the_password():
    url = parse_url("postgresql://app:s3cret-pw@db.example:5433/hotel")
    assert describe(url) == "app@db.example:5433/hotel"
    assert "s3cret" not in describe(url)
