"""Leader leases: exactly one process runs a singleton engine (the market feed) at a time; and row leases
(``RowLeases``): each bot or trading session is driven by exactly one process at a time.

PostgreSQL: a session-level advisory lock held on a dedicated connection. When the holder dies its
connection closes and the lock is released, so a standby's next ``acquire`` takes over. Advisory locks
are scoped to one database, so separate databases never contend.
SQLite: an exclusive ``flock`` on a file beside the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from tortoise.expressions import Q
from tortoise.models import Model

log = logging.getLogger(__name__)


def process_name() -> str:
    """This process as a lease holder names it: host, pid and a random suffix (unique across restarts)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a lease name."""
    value = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "big")
    return value - (1 << 64) if value >= (1 << 63) else value


class Lease(Protocol):
    async def acquire(self) -> bool: ...

    async def check(self) -> bool: ...

    async def release(self) -> None: ...


class PostgresLease:
    def __init__(self, dsn: str, name: str) -> None:
        self._dsn = dsn
        self._key = lock_key(name)
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=3)
            return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key, timeout=3))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("lease acquire failed: %s", type(exc).__name__)
            await self._drop()
            return False

    async def check(self) -> bool:
        """True while the lock's connection is alive (the lock lives exactly as long as it)."""
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            await self._conn.fetchval("SELECT 1", timeout=3)
            return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            await self._drop()
            return False

    async def release(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.fetchval("SELECT pg_advisory_unlock($1)", self._key, timeout=2)
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)


class FileLease:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def check(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class RowLeases:
    """Leases on the rows of a table that a runner in every process drives (bots, trading sessions).

    A row names its ``runner`` (a process) and ``lease_until``. ``renew`` extends this runner's leases with one
    UPDATE and returns the live rows it holds; ``claim`` takes free or lapsed live rows with a conditional
    UPDATE (``WHERE runner IS NULL OR lease_until < now``), so two processes never both win one, up to this
    runner's fair share (live rows ÷ live runners, rounded up); a dead process's rows lapse after ``ttl`` and
    are taken over. ``release`` hands every lease back (clean shutdown)."""

    def __init__(self, model: type[Model], runner: str, ttl: timedelta, **live: Any) -> None:
        self._model = model
        self._runner = runner
        self._ttl = ttl
        self._live = live

    async def renew(self, now: datetime) -> set[str]:
        await self._model.filter(runner=self._runner, **self._live).update(lease_until=now + self._ttl)
        rows = await self._model.filter(runner=self._runner, **self._live).values_list("id", flat=True)
        return {str(row) for row in rows}

    async def claim(self, now: datetime, held: int) -> list[tuple[str, str | None]]:
        """(row id, previous runner) of each row claimed now."""
        live = await self._model.filter(**self._live).count()
        others = await (
            self._model.filter(**self._live, lease_until__gte=now, runner__not_isnull=True)
            .exclude(runner=self._runner)
            .distinct()
            .values_list("runner", flat=True)
        )
        share = math.ceil(live / (len(set(others)) + 1)) if live else 0
        free = (
            self._model.filter(**self._live)
            .filter(Q(runner__isnull=True) | Q(lease_until__lt=now))
            .order_by("id")
            .limit(max(0, share - held))
        )
        claimed: list[tuple[str, str | None]] = []
        for candidate in await free:
            won = (
                await self._model.filter(id=candidate.pk, **self._live)
                .filter(Q(runner__isnull=True) | Q(lease_until__lt=now))
                .update(runner=self._runner, lease_until=now + self._ttl)
            )
            if won:
                claimed.append((str(candidate.pk), getattr(candidate, "runner", None)))
        return claimed

    async def release(self) -> None:
        await self._model.filter(runner=self._runner).update(runner=None, lease_until=None)
