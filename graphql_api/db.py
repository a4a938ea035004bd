"""Tortoise configuration, migrations and the database lifecycle owned by the app's lifespan."""

from __future__ import annotations

import logging
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

from models import MODEL_MODULES

from .settings import Settings

log = logging.getLogger(__name__)

APP_LABEL = "trading"
_APP: dict[str, Any] = {"models": MODEL_MODULES, "migrations": "migrations"}


class PendingMigrations(RuntimeError):
    """Production refuses to serve a schema older than the code."""


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(settings)},
        "apps": {APP_LABEL: {**_APP, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(settings: Settings) -> str | dict[str, Any]:
    if settings.is_sqlite:
        return settings.tortoise_db_url
    # PostgreSQL goes through our engine, whose statements finish before a cancellation takes effect, so
    # a cancelled task cannot leave a connection stuck in asyncpg's cancellation (see pgengine).
    config = expand_db_url(settings.tortoise_db_url)
    config["engine"] = "graphql_api.pgengine"
    # Bounds on every connection, so an unreachable or stuck database cannot hold a request for ever.
    limit = str(int(settings.database_statement_timeout * 1000))
    config["credentials"]["timeout"] = settings.database_connect_timeout
    config["credentials"]["server_settings"] = {
        "statement_timeout": limit,
        "lock_timeout": limit,
        "idle_in_transaction_session_timeout": limit,
    }
    return config


async def pending_migrations() -> list[str]:
    """Names of migrations the connected database has not applied yet."""
    executor = MigrationExecutor(get_connection("default"), _apps_config())
    steps = await executor.plan()
    return [f"{step.migration.app_label}.{step.migration.name}" for step in steps if not step.backward]


async def apply_migrations() -> list[str]:
    names = await pending_migrations()
    if names:
        executor = MigrationExecutor(get_connection("default"), _apps_config())
        await executor.migrate()
        log.info("applied migrations: %s", ", ".join(names))
    return names


def _apps_config() -> dict[str, dict[str, Any]]:
    return {APP_LABEL: dict(_APP)}


async def open_database(settings: Settings) -> None:
    """Connect tortoise and bring the schema up to date (development) or insist it is (production)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The lifespan runs in another task than the requests: the global fallback makes the context visible.
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
    try:
        if settings.production:
            pending = await pending_migrations()
            if pending:
                raise PendingMigrations(
                    "unapplied migrations: "
                    + ", ".join(pending)
                    + "; run `python -m graphql_api migrate` before starting the server"
                )
        else:
            await apply_migrations()
    except BaseException:
        await Tortoise.close_connections()
        raise


async def close_database() -> None:
    await Tortoise.close_connections()


async def ping_database() -> None:
    await get_connection("default").execute_query("SELECT 1")
