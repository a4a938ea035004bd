"""A server stopped while it is busy exits promptly and cleanly.

SIGTERM reaches ``python -m graphql_api`` while orders are being placed, the feed is matching and
publishing, and sockets stream positions and prices. Shutdown must not hang on work in flight (a feed
step cancelled mid-statement once left an asyncpg connection waiting for ever, and shutdown with it),
and must end without errors in the log.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx

from graphql_api.client import GraphQLClient, GraphQLWSClient

from .accounts import as_user, register
from .support import LegConfig, own_database, spawn_servers, wait_until
from .trading import paper_account, place

ROUNDS = 3


async def _orders(url: str, token: str, account: str, stop: asyncio.Event, landed: list[int]) -> int:
    placed = 0
    async with as_user(url, token) as api:
        while not stop.is_set():
            try:
                result = await place(api, account, quantity="0.001")
            except httpx.TransportError:  # the server going away mid-request is the point of this test
                return placed
            assert result["__typename"] == "OrderPlaced", result
            placed += 1
            landed[0] += 1
    return placed


async def test_sigterm_under_load_exits_cleanly(leg: LegConfig, tmp_path: Path) -> None:
    database = await own_database(leg, tmp_path, "shutdown")
    env = leg.env(DATABASE_URL=database, BROADCAST_NAMESPACE="test-shutdown", DATA_DIR=str(tmp_path))
    for round_ in range(ROUNDS):
        logs = tmp_path / f"round-{round_}"
        logs.mkdir()
        async with spawn_servers([env], logs) as (proc,):
            await proc.wait_ready()
            async with GraphQLClient(proc.url) as api:
                user = await register(api)
            async with as_user(proc.url, user) as me:
                account = await paper_account(me)
            stop = asyncio.Event()
            async with GraphQLWSClient(
                proc.ws_url, connection_params={"authorization": f"Bearer {user.access_token}"}
            ) as ws:
                await ws.subscribe("subscription { positionUpdates { sequence } }")
                ticks = await ws.subscribe(
                    "subscription($s: [String!]!) { priceTicks(symbols: $s) { sequence } }", {"s": ["BTC", "ETH"]}
                )
                await ticks.data()
                landed = [0]
                traders = [
                    asyncio.create_task(_orders(proc.url, user.access_token, account, stop, landed)) for _ in range(4)
                ]
                # Barrier: the server is really busy (more so each round) before it is told to stop.
                wanted = 10 * (round_ + 1)
                await wait_until(lambda: landed[0] >= wanted, timeout=30)  # noqa: B023 (awaited here, in this round)

                assert proc.proc is not None
                proc.proc.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.to_thread(proc.proc.wait, 20)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"server still running 20 s after SIGTERM:\n{proc.log()[-4000:]}") from None
                stop.set()
                placed = await asyncio.gather(*traders)

            log = proc.log()
            # uvicorn finishes its shutdown, then re-raises the signal so the parent sees how it ended.
            assert code == -signal.SIGTERM, log[-4000:]
            assert sum(placed) > 0  # the server really was busy when it was stopped
            assert "Traceback" not in log and "ERROR" not in log, log[-4000:]
            assert "Application shutdown complete" in log
