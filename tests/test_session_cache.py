"""A process reuses the session it read to authenticate a request, and forgets it the moment a session ends or
a user changes — in itself at once, in every other process through the bus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graphql_api.auth import SESSIONS
from graphql_api.client import GraphQLClient

from .accounts import ME, Account, as_user, error_code, register
from .support import LegConfig, ServerHandle, count_queries, migrate, own_database, spawn_servers, wait_until

pytestmark = pytest.mark.usefixtures("admin")

SUSPEND = 'mutation($id: ID!) { suspendUser(input: {id: $id, reason: "review"}) { __typename } }'
PROFILE = "mutation($n: String!) { updateProfile(input: {name: $n}) { __typename } }"


@pytest.fixture
def long_lived_cache() -> Iterator[None]:
    """Entries that never expire during the test: whatever is forgotten was forgotten by an event."""
    ttl = SESSIONS.ttl
    SESSIONS.ttl = 3600
    SESSIONS.clear()
    try:
        yield
    finally:
        SESSIONS.ttl = ttl


def _session_reads(statements: list[str]) -> int:
    return sum('FROM "sessions"' in s for s in statements)


@pytest.mark.usefixtures("long_lived_cache")
async def test_requests_of_one_session_read_it_once(api: GraphQLClient) -> None:
    trader = await register(api)
    async with as_user(api.base_url, trader) as client:
        with count_queries() as counted:
            for _ in range(5):
                assert (await client.query(ME))["me"]["email"] == trader.email
    assert _session_reads(counted.statements) == 1, counted.statements


@pytest.mark.usefixtures("long_lived_cache")
async def test_logout_and_suspension_are_refused_at_once(api: GraphQLClient, admin: Account) -> None:
    leaving, suspended = await register(api), await register(api)
    async with as_user(api.base_url, leaving) as client:
        assert (await client.query(ME))["me"]["email"] == leaving.email
        assert (await client.query("mutation { logout }"))["logout"] is True
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"
    async with as_user(api.base_url, suspended) as client, as_user(api.base_url, admin) as boss:
        assert (await client.query(ME))["me"]["status"] == "ACTIVE"
        assert (await boss.query(SUSPEND, {"id": suspended.user_id}))["suspendUser"]["__typename"] == "UserUpdated"
        body = await client.execute(ME)
        assert error_code(body) == "UNAUTHENTICATED" and "suspended" in body["errors"][0]["message"]


@pytest.mark.usefixtures("long_lived_cache")
async def test_a_profile_change_shows_in_the_next_read(api: GraphQLClient) -> None:
    trader = await register(api)
    async with as_user(api.base_url, trader) as client:
        assert (await client.query(ME))["me"]["name"] == "Test User"
        assert (await client.query(PROFILE, {"n": "Renamed"}))["updateProfile"]["__typename"] == "UserUpdated"
        assert (await client.query(ME))["me"]["name"] == "Renamed"


@pytest.mark.legs("postgres")
async def test_a_session_ended_in_one_process_is_refused_by_another(
    leg: LegConfig, tmp_path: Path, server: ServerHandle
) -> None:
    # A cache that keeps entries for an hour: the other process can only learn of the logout by the event.
    env = leg.env(
        APP_ENV="production",
        DATABASE_URL=await own_database(leg, tmp_path, "cluster"),
        BROADCAST_NAMESPACE="test-session-cache",
        DATA_DIR=str(tmp_path),
        SESSION_CACHE_TTL="3600",
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as (first, second):
        await first.wait_ready()
        await second.wait_ready()
        async with GraphQLClient(first.url) as api:
            trader = await register(api, "cache-trader@example.com")
        async with as_user(first.url, trader) as on_first, as_user(second.url, trader) as on_second:
            assert (await on_second.query(ME))["me"]["email"] == trader.email  # now cached by the second
            assert (await on_first.query("mutation { logout }"))["logout"] is True

            async def refused() -> bool:
                body = await on_second.execute(ME)
                if not body.get("errors"):  # the event has not reached the second process yet
                    assert body["data"]["me"]["email"] == trader.email
                    return False
                return error_code(body) == "UNAUTHENTICATED"

            await wait_until(refused, timeout=10, interval=0.05)
