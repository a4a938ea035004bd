"""The server under test: ``python -m graphql_api`` as a child process on a free loopback port, per leg."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis import asyncio as aioredis

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Benches of several checkouts on one machine keep apart by BENCH_DATABASE (and BROADCAST_NAMESPACE, inherited).
POSTGRES_BENCH_DB = os.environ.get("BENCH_DATABASE", "bench")
POSTGRES_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{POSTGRES_BENCH_DB}"
REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"
FEED_INTERVAL = 0.25
READY_TIMEOUT = 60.0
_SERVER_SETTINGS_NOT_INHERITED = frozenset(
    {"APP_ENV", "DATABASE_URL", "BROADCAST_URL", "FEED_ENABLED", "FEED_INTERVAL", "FEED_LEADER_POLL"}
)
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Leg:
    name: str
    title: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def env(self, data_dir: Path) -> dict[str, str]:
        env = {
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": SECRET_KEY,
            "FEED_INTERVAL": str(FEED_INTERVAL),
            # The bench measures the work, from one address and a few users: the abuse limits (which the
            # tests cover) would refuse most of it.
            **{f"RATE_LIMIT_{c}": "1000000000" for c in ("GENERAL", "TRADING", "MARKET_DATA", "AUTH")},
            "MAX_SOCKETS_PER_IP": "100000",
            "MAX_SOCKETS_PER_USER": "100000",
            "WS_MESSAGES_PER_SECOND": "100000",
        }
        if self.is_postgres:
            env["DATABASE_URL"] = POSTGRES_BENCH_URL
            env["BROADCAST_URL"] = REDIS_URL
        else:
            env["BROADCAST_URL"] = "memory://"
        return env


LEGS = {
    "sqlite": Leg("sqlite", "SQLite + memory bus"),
    "postgres": Leg("postgres", "PostgreSQL + Redis bus"),
}


def raise_fd_limit() -> tuple[int, int]:
    """Lift the soft open-files limit to the hard one; the server inherits it, and 1000 sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    # The port is released before the server binds it; a race is possible but harmless on a quiet loopback.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def prepare_postgres() -> None:
    """Create the bench database if missing and empty it, so every run migrates and seeds from scratch."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", POSTGRES_BENCH_DB)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{POSTGRES_BENCH_DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(POSTGRES_BENCH_URL, timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def check_redis() -> None:
    """Fail early with a clear message rather than after the server's readiness wait times out."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


def _load_libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


# Loaded up front: the child between fork and exec should do as little as possible.
_LIBC = _load_libc()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the bench is killed outright, the kernel stops the server too."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class ChildProcess:
    """A server the bench starts as a child process on a free loopback port: the project, or an anchor."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.exited_by_itself = False
        self._clock_ticks = os.sysconf("SC_CLK_TCK")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: Ctrl-C reaches only the bench, which then stops the server in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """Ready when GET /ready answers 200 with status ready; its body."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode} before it was ready (see {self.log_path})"
                    )
                try:
                    response = await client.get(self.url + "/ready")
                    body: dict[str, Any] = response.json()
                    if response.status_code == 200 and body.get("status") == "ready":
                        return body
                    last = f"{response.status_code} {body}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready within {timeout}s (last: {last}; see {self.log_path})")

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server has used so far, from /proc; None where /proc is unavailable."""
        if self.proc is None:
            return None
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._clock_ticks

    def open_fds(self) -> int | None:
        """How many file descriptors the server holds (sockets included); None where /proc is unavailable."""
        if self.proc is None:
            return None
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; the exit code (negative for a signal)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is not None:
            self.exited_by_itself = True
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.killed = True
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        return proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class ServerProcess(ChildProcess):
    """``python -m graphql_api`` on one leg; settings that would pick another deployment are not inherited."""

    def __init__(self, leg: Leg, data_dir: Path, log_path: Path) -> None:
        command = [sys.executable, "-m", "graphql_api", "--port", "{port}", "--log-level", "warning"]
        super().__init__(f"server ({leg.name})", command, log_path, leg.env(data_dir))
        self.leg = leg
        self.data_dir = data_dir

    def environment(self) -> dict[str, str]:
        # A developer's shell may configure another deployment; the leg must not silently become it.
        inherited = {k: v for k, v in os.environ.items() if k not in _SERVER_SETTINGS_NOT_INHERITED}
        return {**inherited, **self.env}


@dataclass
class ServerOutcome:
    """How the server ended; filled in by ``serve`` even when it never became ready."""

    started: bool = False
    exit_code: int | None = None
    killed: bool = False
    exited_by_itself: bool = False
    log: str = ""


@contextlib.asynccontextmanager
async def serve(leg: Leg, outcome: ServerOutcome) -> AsyncIterator[tuple[ServerProcess, dict[str, Any]]]:
    """The leg's server and its /ready body; stopped, and ``outcome`` recorded, however the block ends."""
    if leg.is_postgres:
        await prepare_postgres()
        await check_redis()
    with tempfile.TemporaryDirectory(prefix=f"bench-{leg.name}-") as tmp:
        process = ServerProcess(leg, Path(tmp) / "data", Path(tmp) / "server.log")
        try:
            process.start()
            outcome.started = True
            ready = await process.wait_ready()
            yield process, ready
        finally:
            outcome.exit_code = process.stop()
            outcome.killed = process.killed
            outcome.exited_by_itself = process.exited_by_itself
            outcome.log = process.log()
