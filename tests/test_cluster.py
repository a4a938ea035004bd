"""Several API processes on PostgreSQL + Redis: one shared feed, fan-out across processes, failover,
and a bus that comes back after Redis goes away. Each test gets its own database (advisory locks are
per database, so the session's in-process server never contends with these processes)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from redis import asyncio as aioredis

from graphql_api.client import GraphQLClient, GraphQLWSClient

from .support import (
    LegConfig,
    ServerHandle,
    TcpProxy,
    holds_for,
    migrate,
    own_database,
    spawn_servers,
    wait_until,
)

TICKS = "subscription($s: [String!]!) { priceTicks(symbols: $s) { symbol price timestamp sequence snapshot } }"

pytestmark = pytest.mark.legs("postgres")


async def _role(proc_url: str) -> str | None:
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            body = (await client.get(proc_url + "/ready")).json()
        except (httpx.HTTPError, ValueError):
            return None
    role: str | None = body["checks"].get("feed", {}).get("role")
    return role


async def test_tick_from_one_process_reaches_subscriber_of_another_and_feed_fails_over(
    leg: LegConfig, tmp_path: Path
) -> None:
    env = leg.env(
        APP_ENV="production",
        DATABASE_URL=await own_database(leg, tmp_path, "cluster"),
        BROADCAST_NAMESPACE="test-cluster",
        DATA_DIR=str(tmp_path),
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as procs:
        for proc in procs:
            await proc.wait_ready()

        async def one_leader() -> bool:
            roles = [await _role(p.url) for p in procs]
            return sorted(roles, key=str) == ["leader", "standby"]

        await wait_until(one_leader, timeout=15, interval=0.1)
        roles = [await _role(p.url) for p in procs]
        leader, follower = (procs[0], procs[1]) if roles[0] == "leader" else (procs[1], procs[0])

        async with GraphQLWSClient(follower.ws_url) as ws:
            sub = await ws.subscribe(TICKS, {"s": ["ETH"]})
            snapshot = (await sub.data())["priceTicks"]
            assert snapshot["snapshot"] is True
            # The follower runs no feed: every live tick it delivers was produced by the other process.
            live = [(await sub.data(timeout=10))["priceTicks"] for _ in range(5)]
            assert await _role(follower.url) == "standby"
            assert [t["sequence"] for t in live] == [2, 3, 4, 5, 6]

            leader.kill()
            killed_at = datetime.now(UTC).isoformat()
            await wait_until(lambda: _is_leader(follower.url), timeout=15, interval=0.1)

            # The stream on the survivor goes on, now fed by its own feed, without a gap in sequence.
            after: list[dict[str, object]] = []
            while len(after) < 5:
                tick = (await sub.data(timeout=10))["priceTicks"]
                after.append(tick)
            sequences = [t["sequence"] for t in live + after]
            assert sequences == list(range(2, 2 + len(sequences)))
            assert str(after[-1]["timestamp"]) > killed_at


async def _is_leader(url: str) -> bool:
    return await _role(url) == "leader"


async def test_subscribers_resume_after_redis_comes_back_and_ready_reports_the_outage(
    leg: LegConfig, tmp_path: Path
) -> None:
    redis = urlsplit(leg.broadcast_url)
    proxy = TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    await proxy.start()
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "cluster"),
        BROADCAST_NAMESPACE="test-cluster",
        BROADCAST_URL=f"redis://127.0.0.1:{proxy.port}/0",
        DATA_DIR=str(tmp_path),
    )
    try:
        async with spawn_servers([env], tmp_path) as (proc,):
            await proc.wait_ready()
            async with GraphQLWSClient(proc.ws_url) as ws:
                sub = await ws.subscribe(TICKS, {"s": ["BTC"]})
                await sub.data()
                before = (await sub.data())["priceTicks"]

                await proxy.cut()

                async def bus_down() -> bool:
                    body = await proc.ready()
                    return body is not None and body["status"] == "unavailable" and not body["checks"]["bus"]["ok"]

                await wait_until(bus_down, timeout=10, interval=0.1)
                await holds_for(bus_down, seconds=1)  # an outage, not a blip

                await proxy.restore()
                restored_at = time.monotonic()
                resumed = [(await sub.data(timeout=15))["priceTicks"] for _ in range(3)]
                assert time.monotonic() - restored_at < 10
                # The stream resumes on the same socket: a fresh snapshot (what was missed is gone),
                # then live ticks, with the sequence continuing without a gap.
                assert resumed[0]["snapshot"] is True
                assert resumed[0]["timestamp"] > before["timestamp"]
                assert [t["sequence"] for t in resumed] == [before["sequence"] + i for i in (1, 2, 3)]
                assert not resumed[2]["snapshot"]
                assert (await proc.ready() or {}).get("status") == "ready"
            assert "broadcast bus reconnected" in proc.log()
    finally:
        await proxy.cut()


async def test_in_process_server_survives_redis_dropping_its_connections(server: ServerHandle, leg: LegConfig) -> None:
    """Against the real Redis: kill the server's pub/sub connection; the bus reconnects and delivery goes on."""
    async with GraphQLWSClient(server.ws_url) as ws:
        sub = await ws.subscribe(TICKS, {"s": ["AVAX"]})
        await sub.data()
        await sub.data()
        # Only this server's subscriber connection: other processes share this Redis.
        name = f"{server.settings.broadcast_namespace}-subscriber"
        admin = aioredis.Redis.from_url(leg.broadcast_url)
        try:
            ours = [c for c in await admin.client_list(_type="pubsub") if c.get("name") == name]
            for connection in ours:
                await admin.client_kill_filter(_id=connection["id"])
        finally:
            await admin.aclose()
        assert ours
        ticks = [(await sub.data(timeout=15))["priceTicks"] for _ in range(3)]
        assert ticks[-1]["sequence"] >= 5
    assert server.resources is not None
    assert server.resources.bus.healthy


async def test_order_placed_through_one_process_reaches_a_subscriber_of_the_other(
    leg: LegConfig, tmp_path: Path
) -> None:
    from .accounts import register
    from .trading import paper_account, placed

    env = leg.env(
        APP_ENV="production",
        DATABASE_URL=await own_database(leg, tmp_path, "cluster"),
        BROADCAST_NAMESPACE="test-cluster",
        DATA_DIR=str(tmp_path),
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as (first, second):
        await first.wait_ready()
        await second.wait_ready()
        async with GraphQLClient(first.url) as api:
            trader = await register(api, "cluster-trader@example.com")
        async with GraphQLClient(first.url, headers=trader.headers) as client:
            account = await paper_account(client)
            async with GraphQLWSClient(
                second.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
            ) as ws:
                orders = await ws.subscribe("subscription { orderUpdates { sequence snapshot order { id status } } }")
                positions = await ws.subscribe(
                    "subscription { positionUpdates { sequence snapshot position { symbol quantity } } }"
                )
                order = await placed(client, account, quantity="0.01")
                update = (await orders.data(timeout=10))["orderUpdates"]
                assert (update["order"]["id"], update["order"]["status"], update["sequence"]) == (
                    order["id"],
                    "FILLED",
                    1,
                )
                moved = (await positions.data(timeout=10))["positionUpdates"]
                assert moved["position"] == {"symbol": "BTC", "quantity": "0.01"}


async def test_ready_reports_a_database_outage_and_the_server_recovers_when_it_returns(
    leg: LegConfig, tmp_path: Path
) -> None:
    """PostgreSQL goes away behind a proxy: /ready answers promptly that the database is down, and
    when it returns, queries succeed and the feed leads and ticks again without a restart."""
    database = urlsplit(await own_database(leg, tmp_path, "cluster"))
    proxy = TcpProxy(database.hostname or "127.0.0.1", database.port or 5432)
    await proxy.start()
    env = leg.env(
        DATABASE_URL=f"postgresql://{database.username}@127.0.0.1:{proxy.port}{database.path}",
        BROADCAST_NAMESPACE="test-cluster",
        DATA_DIR=str(tmp_path),
    )
    try:
        async with spawn_servers([env], tmp_path) as (proc,):
            await proc.wait_ready()
            await proxy.cut()

            async def database_down() -> bool:
                body = await proc.ready()  # None when /ready does not answer within 2 s
                return body is not None and body["status"] == "unavailable" and not body["checks"]["database"]["ok"]

            await wait_until(database_down, timeout=10, interval=0.2)
            await holds_for(database_down, seconds=1, interval=0.2)  # an outage, not a blip

            await proxy.restore()
            await proc.wait_ready(timeout=20)
            async with GraphQLClient(proc.url) as api:
                assert len((await api.query("{ instruments { symbol } }"))["instruments"]) >= 6
            await wait_until(lambda: _is_leader(proc.url), timeout=20, interval=0.2)
            async with GraphQLWSClient(proc.ws_url) as ws:
                sub = await ws.subscribe(TICKS, {"s": ["BTC"]})
                assert (await sub.data(timeout=15))["priceTicks"]["snapshot"] is True
                assert (await sub.data(timeout=15))["priceTicks"]["snapshot"] is False
    finally:
        await proxy.cut()
