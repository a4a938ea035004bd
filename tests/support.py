"""Shared test machinery: leg configuration, servers in-process and as subprocesses, a cuttable TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from redis import asyncio as aioredis
from tortoise.backends.base.executor import EXECUTOR_CACHE

from graphql_api.app import Resources, create_app
from graphql_api.settings import Settings
from graphql_api.units import Seconds

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis pub/sub ignores the database number, so suites that share a Redis (parallel checkouts) keep apart by
# namespace; the default follows the PostgreSQL database's name.
NAMESPACE = os.environ.get("TEST_BROADCAST_NAMESPACE", POSTGRES_URL.rsplit("/", 1)[1])
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LegConfig:
    name: str
    data_dir: Path
    database_url: str
    broadcast_url: str

    @classmethod
    def for_leg(cls, name: str, data_dir: Path) -> LegConfig:
        if name == "sqlite":
            return cls(name, data_dir, f"sqlite://{data_dir / 'test.sqlite3'}", "memory://")
        return cls(name, data_dir, POSTGRES_URL, REDIS_URL)

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def env(self, **overrides: str) -> dict[str, str]:
        """Environment for a server process on this leg (fast feed, test secret)."""
        env = {
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "BROADCAST_URL": self.broadcast_url,
            "SECRET_KEY": TEST_SECRET,
            "FEED_INTERVAL": "0.1",
            "FEED_LEADER_POLL": "0.2",
            "EQUITY_SNAPSHOT_INTERVAL": "1",
            # Session entries only when a test runs runSessionEngineOnce (exits are still checked every tick).
            "SESSION_ENGINE_INTERVAL": "0",
            "BROADCAST_NAMESPACE": NAMESPACE,
            # Tests send far more requests than a person: the request-category limits are tested on their own
            # server with low values (test_rate_limits.py).
            "RATE_LIMIT_GENERAL": "100000",
            "RATE_LIMIT_TRADING": "100000",
            "RATE_LIMIT_MARKET_DATA": "100000",
            "RATE_LIMIT_AUTH": "100000",
            "WS_MESSAGES_PER_SECOND": "1000",
            # The leg's admin and trader sign in once per session, and a leg on a loaded machine can outlast
            # the default 15 minutes; expiry itself is tested with tokens made to expire.
            "ACCESS_TOKEN_TTL": "7200",
            # The in-process server drains no outbox: the delivery tests run dispatcher passes themselves.
            "DELIVERY_INTERVAL": "0",
        }
        env.update(overrides)
        return env

    def settings(self, **overrides: str) -> Settings:
        return Settings.from_env(self.env(**overrides))


def database_url_for(base: str, database: str) -> str:
    """The same server as ``base`` with another database name."""
    return base.rsplit("/", 1)[0] + "/" + database


async def own_database(leg: LegConfig, directory: Path, name: str) -> str:
    """A fresh database for the server processes of one test, apart from the leg's in-process server:
    ``<database>_cluster`` beside the leg's PostgreSQL database (reset), or a new SQLite file in ``directory``."""
    if leg.is_postgres:
        url = database_url_for(leg.database_url, leg.database_url.rsplit("/", 1)[1] + "_cluster")
        await reset_postgres(url)
        return url
    return f"sqlite://{directory / (name + '.sqlite3')}"


async def reset_postgres(url: str) -> None:
    """Drop everything in ``url``'s database (creating the database first if it does not exist)."""
    database = url.rsplit("/", 1)[1]
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(database_url_for(url, "postgres"), timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def check_services(leg: LegConfig, *, reset_database: bool) -> None:
    """Fail (never skip) when a leg's service is missing."""
    if not leg.is_postgres:
        return
    try:
        if reset_database:
            await reset_postgres(leg.database_url)
        else:
            conn = await asyncpg.connect(leg.database_url, timeout=5)
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"postgres leg: PostgreSQL at {leg.database_url} is unreachable ({exc!r})", pytrace=False)
    client = aioredis.Redis.from_url(leg.broadcast_url, socket_connect_timeout=3)
    try:
        await client.ping()
        if reset_database:
            # Rate-limit counters outlive a test run in Redis; a fresh database starts with none.
            async for key in client.scan_iter(match="*:rl:*"):
                await client.delete(key)
    except (OSError, aioredis.RedisError) as exc:
        pytest.fail(f"postgres leg: Redis at {leg.broadcast_url} is unreachable ({exc!r})", pytrace=False)
    finally:
        await client.aclose()


def production_sqlite_env(data_dir: Path) -> dict[str, str]:
    """A production-mode server on its own SQLite file (no migrations applied yet)."""
    return {
        "APP_ENV": "production",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite://{data_dir / 'prod.sqlite3'}",
        "SECRET_KEY": TEST_SECRET,
        "FEED_INTERVAL": "0.1",
    }


def migrate(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m graphql_api migrate`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "graphql_api", "migrate"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


class QueryCounter(logging.Handler):
    """Counts the SQL statements tortoise sends (its db client logs each one at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    # Background work of the in-process server (the feed and what follows each tick) is not the request's.
    background = frozenset(
        {
            "market-feed",
            "ws-session-watch",
            "redis-bus",
            "bot-leases",
            "bot-ticks",
            "copy-dispatcher",
            "session-leases",
            "session-ticks",
        }
    )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is not None and task.get_name() in self.background:
            return
        self.statements.append(record.getMessage())

    @property
    def count(self) -> int:
        return len(self.statements)


@contextlib.contextmanager
def count_queries() -> Iterator[QueryCounter]:
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerHandle:
    url: str
    settings: Settings
    resources: Resources | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def run_server(settings: Settings) -> AsyncIterator[ServerHandle]:
    """The real app under uvicorn, in this process and event loop, on a free loopback port."""
    # tortoise caches each model's INSERT/DELETE SQL per connection name for the life of the process;
    # the legs reuse the name "default" with another dialect, so the cache must start empty per leg.
    EXECUTOR_CACHE.clear()
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started or task.done(), timeout=30)
        if not server.started:
            await task
            raise RuntimeError("server failed to start")
        yield ServerHandle(f"http://127.0.0.1:{port}", settings, app.state.resources)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
        sock.close()
    # A clean shutdown closes every connection the app opened. Checked here, by the kernel's socket
    # table, rather than left to the garbage collector's ResourceWarnings at interpreter exit.
    with contextlib.suppress(TimeoutError):
        await wait_until(lambda: not service_connections(), timeout=10)
    left = service_connections()
    assert not left, f"the server's shutdown left connections open: {left}"


async def scrape_metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by (name, labels), parsed by prometheus-client's own parser."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def metric_value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


SERVICE_PORTS = (5432, 6379)


def service_connections() -> list[str]:
    """This process's open TCP connections to PostgreSQL or Redis, as ``local -> remote`` strings."""
    inodes: set[str] = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                # State 0A is LISTEN; 07 is CLOSE (the socket is already closed on our side).
                if inode in inodes and state not in ("0A", "07") and int(remote.rsplit(":", 1)[1], 16) in SERVICE_PORTS:
                    found.append(f"{local} -> {remote} state {state}")
    return found


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], *, timeout: Seconds, interval: Seconds = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def holds_for(
    predicate: Callable[[], bool | Awaitable[bool]], *, seconds: Seconds, interval: Seconds = 0.1
) -> None:
    """Assert that ``predicate`` stays true, checked every ``interval``, for ``seconds``: a state that must
    last (an outage, not a blip), checked throughout rather than once after a sleep."""
    deadline = time.monotonic() + seconds
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        assert result, "the condition stopped holding"
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(interval)


@dataclass
class ServerProcess:
    """``python -m graphql_api`` as a child process, as production runs it."""

    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graphql_api", "--port", str(self.port), "--log-level", "info"],
                cwd=REPO_ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(self.url + "/ready")
            body: dict[str, Any] = response.json()
            return body
        except (httpx.HTTPError, ValueError):
            return None

    # A cold start imports for about 6 s of CPU and may migrate a fresh database; on a loaded machine that
    # takes far longer than on an idle one.
    async def wait_ready(self, timeout: Seconds = 90) -> dict[str, Any]:
        async def is_ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            body = await self.ready()
            return body is not None and body["status"] == "ready"

        await wait_until(is_ready, timeout=timeout, interval=0.1)
        body = await self.ready()
        assert body is not None
        return body

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.asynccontextmanager
async def spawn_servers(envs: list[Mapping[str, str]], log_dir: Path) -> AsyncIterator[list[ServerProcess]]:
    procs = [ServerProcess(free_port(), dict(env), log_dir / f"server-{i}.log") for i, env in enumerate(envs)]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@dataclass
class TcpProxy:
    """A loopback TCP proxy that can cut every connection and refuse new ones, then come back.

    Stands between an API process and Redis to simulate Redis going away and returning, without
    touching the Redis server other tests share.
    """

    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._flowing.set()

    def pause(self) -> None:
        """Hold every byte in both directions, connections open: the target is unreachable, not refusing."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Close the listener and every open connection: the target looks down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
