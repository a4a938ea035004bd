"""Settings from the environment: embedded defaults, production strictness, secrets never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from graphql_api.settings import Settings, SettingsError, redact_url

from .support import TEST_SECRET


def test_embedded_default_needs_no_configuration(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.app_env == "development" and not settings.production
    assert settings.database_url == f"sqlite://{tmp_path / 'graphql_api.sqlite3'}"
    assert settings.broadcast_url == "memory://"
    assert settings.graphiql and settings.introspection and settings.field_suggestions


def test_embedded_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"DATA_DIR": str(tmp_path)})
    secret_file = tmp_path / "secret_key"
    assert str(first.secret_key) == str(second.secret_key) == secret_file.read_text()
    assert len(str(first.secret_key)) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_secret_never_appears_in_repr(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET})
    assert TEST_SECRET not in repr(settings)
    assert TEST_SECRET not in repr(settings.secret_key)
    assert str(settings.secret_key) == TEST_SECRET


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"APP_ENV": "production", "SECRET_KEY": TEST_SECRET}, "DATABASE_URL"),
        ({"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x"}, "SECRET_KEY"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"BROADCAST_URL": "kafka://x"}, "BROADCAST_URL"),
        ({"FEED_INTERVAL": "0"}, "FEED_INTERVAL"),
        ({"FEED_INTERVAL": "fast"}, "FEED_INTERVAL"),
        ({"GRAPHIQL": "maybe"}, "GRAPHIQL"),
        ({"MAX_PAGE_SIZE": "0"}, "MAX_PAGE_SIZE"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_production_defaults_turn_off_exploration(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"APP_ENV": "production", "DATABASE_URL": "postgres://u:pw@db/x", "SECRET_KEY": TEST_SECRET}
    )
    assert settings.production
    assert not (settings.graphiql or settings.introspection or settings.field_suggestions)
    assert settings.tortoise_db_url == "postgres://u:pw@db/x?minsize=1&maxsize=20"
    assert settings.libpq_db_url == "postgresql://u:pw@db/x"


def test_urls_are_redacted_for_logs() -> None:
    assert redact_url("postgresql://user:hunter2@db:5432/x") == "postgresql://user:***@db:5432/x"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
