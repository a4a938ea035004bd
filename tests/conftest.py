"""Test legs and the real server.

Every API test runs on both legs: ``sqlite`` (embedded SQLite + in-memory bus) and ``postgres``
(PostgreSQL + Redis). The legs' services are real; a leg whose service is unreachable fails, it never
skips. ``--legs sqlite`` narrows a local run on a machine without the services.

The app runs in this process under uvicorn on a real socket, and tests talk to it over HTTP and
graphql-transport-ws, exactly as a client would. Tests that need several processes start
``python -m graphql_api`` themselves (see ``support.py``).
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient

from .accounts import Account, register
from .support import LegConfig, ServerHandle, check_services, own_database, run_server, spawn_servers

ALL_LEGS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--legs",
        default=os.environ.get("TEST_LEGS", ",".join(ALL_LEGS)),
        help="comma-separated legs to run: sqlite (SQLite + memory bus), postgres (PostgreSQL + Redis)",
    )


def _selected_legs(config: pytest.Config) -> list[str]:
    legs = [leg.strip() for leg in str(config.getoption("--legs")).split(",") if leg.strip()]
    unknown = set(legs) - set(ALL_LEGS)
    if unknown:
        raise pytest.UsageError(f"unknown leg(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL_LEGS)}")
    return legs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "leg" in metafunc.fixturenames:
        legs = _selected_legs(metafunc.config)
        marker = metafunc.definition.get_closest_marker("legs")
        if marker is not None:
            legs = [leg for leg in legs if leg in marker.args]
        metafunc.parametrize("leg", legs, scope="session", indirect=True)


@pytest.fixture(scope="session")
def leg(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LegConfig]:
    name: str = request.param
    config = LegConfig.for_leg(name, tmp_path_factory.mktemp(f"leg-{name}"))
    yield config


@pytest.fixture(scope="session")
async def server(leg: LegConfig) -> AsyncIterator[ServerHandle]:
    await check_services(leg, reset_database=True)
    async with run_server(leg.settings()) as handle:
        yield handle


@pytest.fixture
async def api(server: ServerHandle) -> AsyncIterator[GraphQLClient]:
    """A client with its own address (X-Forwarded-For, trusted from loopback), so per-address limits
    of one test never spill into another."""
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    async with GraphQLClient(server.url, headers={"X-Forwarded-For": address}) as client:
        yield client


@pytest.fixture
async def ws(server: ServerHandle) -> AsyncIterator[GraphQLWSClient]:
    async with GraphQLWSClient(server.ws_url) as client:
        yield client


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
async def admin(server: ServerHandle) -> Account:
    """The leg's first account, hence its ADMIN. Every test that creates users depends on it, so it is first."""
    async with GraphQLClient(server.url) as client:
        return await register(client, "admin@example.com", name="First Admin")


@pytest.fixture
async def trader(api: GraphQLClient, admin: Account) -> Account:
    return await register(api)


@pytest.fixture(scope="module")
async def frozen(leg: LegConfig, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The URL of a server whose market never moves (feed off, fresh database at step 0)."""
    directory: Path = tmp_path_factory.mktemp("frozen")
    env = leg.env(
        DATABASE_URL=await own_database(leg, directory, "frozen"),
        BROADCAST_NAMESPACE="test-frozen",
        DATA_DIR=str(directory),
        FEED_ENABLED="false",
    )
    async with spawn_servers([env], directory) as (proc,):
        await proc.wait_ready()
        async with GraphQLClient(proc.url) as api:
            await register(api)  # the first account is the admin; the traders below are ordinary users
        yield proc.url
