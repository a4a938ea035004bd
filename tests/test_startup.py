"""Starting the server as an operator does: refusals are loud and name what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graphql_api.units import Seconds

from .support import REPO_ROOT, TEST_SECRET, migrate, production_sqlite_env


def _serve(env: dict[str, str], timeout: Seconds = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graphql_api", "--port", "0"],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "APP_ENV"}} | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = production_sqlite_env(tmp_path)
    del env["SECRET_KEY"]
    result = _serve(env)
    assert result.returncode == 2
    assert "SECRET_KEY is required" in result.stderr


def test_production_refuses_unapplied_migrations_until_migrated(tmp_path: Path) -> None:
    env = production_sqlite_env(tmp_path)
    result = _serve(env)
    assert result.returncode != 0
    assert "unapplied migrations: trading.0001_initial, trading.0002_seed_instruments" in result.stderr
    assert "python -m graphql_api migrate" in result.stderr
    assert TEST_SECRET not in result.stderr

    applied = migrate(env)
    assert "0002_seed_instruments" in applied.stderr
    again = migrate(env)
    assert "none pending" in again.stderr
