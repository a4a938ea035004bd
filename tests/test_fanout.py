"""Grouped fan-out (graphql_api/fanout.py): one execution per event for every socket or HTTP stream running the same
(document, variables, visibility scope), the same serialised payload to each of them, groups per user for the
trading streams.

Executions are counted by the server's own metric (subscription_group_executions_total, by operation name). Ticks
the test publishes itself on the bus carry feed steps far beyond the feed's, so once a group has one of them, the
feed's own ticks are older and dropped: from then on the test's events are the only ones the group executes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from graphql_api.events import publish
from graphql_api.events.market import PriceTicked

from .accounts import Account, as_user, register
from .streams import sse
from .support import ServerHandle, metric_value, scrape_metrics, wait_until
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

FAR_STEP = 10**12
_steps = itertools.count(FAR_STEP)


def _ticks(name: str, symbols: str = '["BTC"]') -> str:
    return f"subscription {name} {{ priceTicks(symbols: {symbols}) {{ symbol price timestamp snapshot }} }}"


class RawSocket:
    """A graphql-transport-ws client that keeps every message as the text the server sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def subscribe(self, op_id: str, query: str, variables: Mapping[str, Any] | None = None) -> None:
        message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": dict(variables or {})}}
        await self.ws.send(orjson.dumps(message).decode())

    async def text(self, timeout: float = 10) -> str:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str)
        return raw

    async def next_payload(self, timeout: float = 10) -> str:
        """The raw text of the next ``next`` message's payload (the message with its id taken out)."""
        message = await self.text(timeout)
        parsed = orjson.loads(message)
        assert parsed["type"] == "next", message
        return message.replace(orjson.dumps(parsed["id"]).decode(), '"ID"', 1)

    async def until_price(self, price: str, timeout: float = 10) -> str:
        """Read messages up to the one carrying ``price``; its text (id taken out)."""
        while True:
            text = await self.next_payload(timeout)
            if orjson.loads(text)["payload"]["data"]["priceTicks"]["price"] == price:
                return text

    async def tick_at(self, price: str) -> dict[str, Any]:
        tick: dict[str, Any] = orjson.loads(await self.until_price(price))["payload"]["data"]["priceTicks"]
        return tick


@contextlib.asynccontextmanager
async def raw_socket(server: ServerHandle, account: Account | None = None) -> AsyncIterator[RawSocket]:
    async with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        params = {"authorization": f"Bearer {account.access_token}"} if account else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": params}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        yield RawSocket(ws)


async def _executions(server: ServerHandle, operation: str) -> float:
    return metric_value(await scrape_metrics(server.url), "subscription_group_executions_total", operation=operation)


async def _groups(server: ServerHandle, operation: str) -> float:
    return metric_value(await scrape_metrics(server.url), "subscription_groups", operation=operation)


async def _tick(server: ServerHandle, symbol: str, price: str) -> None:
    assert server.resources is not None
    event = PriceTicked(symbol=symbol, price=Decimal(price), step=next(_steps), ts=datetime.now(UTC), volume=Decimal(1))
    assert await publish(server.resources.bus, event)


def _name() -> str:
    return "Fan" + uuid.uuid4().hex[:12]


async def test_one_execution_per_event_and_the_same_frame_to_every_socket(server: ServerHandle) -> None:
    name = _name()
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(raw_socket(server)) for _ in range(6)]
        for number, socket in enumerate(sockets):
            await socket.subscribe(f"op-{number}", _ticks(name))
        snapshots = [orjson.loads(await s.next_payload())["payload"]["data"]["priceTicks"] for s in sockets]
        assert {(t["symbol"], t["snapshot"]) for t in snapshots} == {("BTC", True)}
        assert await _groups(server, name) == 1

        await _tick(server, "BTC", "12345.5")
        firsts = [await s.until_price("12345.5") for s in sockets]
        assert len(set(firsts)) == 1
        before = await _executions(server, name)

        await _tick(server, "BTC", "12345.75")
        seconds = [await s.next_payload() for s in sockets]
        # Byte for byte the same message but for the operation id, and one execution for all six sockets.
        assert len(set(seconds)) == 1
        tick = {"symbol": "BTC", "price": "12345.75", "timestamp": _ts(seconds[0]), "snapshot": False}
        assert orjson.loads(seconds[0])["payload"]["data"] == {"priceTicks": tick}
        assert await _executions(server, name) == before + 1
    await wait_until(lambda: _no_groups(server, name), timeout=10)


def _ts(message: str) -> str:
    value: str = orjson.loads(message)["payload"]["data"]["priceTicks"]["timestamp"]
    return value


async def _no_groups(server: ServerHandle, name: str) -> bool:
    return await _groups(server, name) == 0


async def test_each_socket_keeps_its_own_gapless_sequence_in_a_shared_group(server: ServerHandle) -> None:
    name = _name()
    query = f'subscription {name} {{ priceTicks(symbols: ["BTC"]) {{ price sequence }} }}'
    async with raw_socket(server) as early, raw_socket(server) as late:
        await early.subscribe("a", query)
        assert orjson.loads(await early.next_payload())["payload"]["data"]["priceTicks"]["sequence"] == 1
        await _tick(server, "BTC", "23456.5")
        reached = (await early.tick_at("23456.5"))["sequence"]
        await late.subscribe("b", query)
        assert orjson.loads(await late.next_payload())["payload"]["data"]["priceTicks"]["sequence"] == 1
        assert await _groups(server, name) == 1
        before = await _executions(server, name)
        await _tick(server, "BTC", "23456.75")
        assert await early.tick_at("23456.75") == {"price": "23456.75", "sequence": reached + 1}
        assert await late.tick_at("23456.75") == {"price": "23456.75", "sequence": 2}
        assert await _executions(server, name) == before + 1


async def test_different_variables_are_different_groups(server: ServerHandle) -> None:
    name = _name()
    query = f"subscription {name}($s: [String!]!) {{ priceTicks(symbols: $s) {{ symbol price }} }}"
    async with contextlib.AsyncExitStack() as stack:
        upper = [await stack.enter_async_context(raw_socket(server)) for _ in range(3)]
        lower = [await stack.enter_async_context(raw_socket(server)) for _ in range(2)]
        for number, socket in enumerate(upper):
            await socket.subscribe(f"u{number}", query, {"s": ["BTC"]})
        for number, socket in enumerate(lower):
            await socket.subscribe(f"l{number}", query, {"s": ["btc"]})
        for socket in upper + lower:
            await socket.next_payload()
        assert await _groups(server, name) == 2
        await _tick(server, "BTC", "34567.5")
        for socket in upper + lower:
            await socket.until_price("34567.5")
        before = await _executions(server, name)
        await _tick(server, "BTC", "34567.75")
        frames = {await socket.next_payload() for socket in upper + lower}
        assert len(frames) == 1
        # One execution per group, not per socket.
        assert await _executions(server, name) == before + 2


async def test_sockets_and_event_streams_share_a_group(server: ServerHandle) -> None:
    name = _name()
    query = _ticks(name)
    async with raw_socket(server) as socket, sse(server, query) as stream:
        await socket.subscribe("w", query)
        await socket.next_payload()
        await stream.next_data()
        assert await _groups(server, name) == 1
        await _tick(server, "BTC", "45678.5")
        await socket.until_price("45678.5")
        while (await stream.next_data())["data"]["priceTicks"]["price"] != "45678.5":
            pass
        before = await _executions(server, name)
        await _tick(server, "BTC", "45678.75")
        over_ws = orjson.loads(await socket.next_payload())
        event = await stream.next_event()
        assert event.event == "next"
        # The event's data is the very payload text the socket's message carries.
        assert event.data == orjson.dumps(over_ws["payload"]).decode()
        assert await _executions(server, name) == before + 1


async def test_position_streams_group_per_user_and_never_cross(server: ServerHandle, api: Any, trader: Account) -> None:
    other = await register(api)
    name = _name()
    # Without the mark, every frame of one user's stream is the same text: its position, as it stands.
    query = f"subscription {name} {{ positionUpdates {{ position {{ symbol quantity }} }} }}"
    async with as_user(api.base_url, trader) as mine, as_user(api.base_url, other) as theirs:
        await placed(mine, await paper_account(mine), symbol="SOL", quantity="2")
        await placed(theirs, await paper_account(theirs), symbol="XRP", quantity="30")
    async with contextlib.AsyncExitStack() as stack:
        trader_sockets = [await stack.enter_async_context(raw_socket(server, trader)) for _ in range(2)]
        other_sockets = [await stack.enter_async_context(raw_socket(server, other)) for _ in range(2)]
        for number, socket in enumerate(trader_sockets + other_sockets):
            await socket.subscribe(f"p{number}", query)
        assert await _groups(server, name) == 2
        for sockets, symbol, quantity in ((trader_sockets, "SOL", "2"), (other_sockets, "XRP", "30")):
            frames = {await s.next_payload() for s in sockets for _ in range(4)}
            expected = {"positionUpdates": {"position": {"symbol": symbol, "quantity": quantity}}}
            assert [orjson.loads(f)["payload"]["data"] for f in frames] == [expected]
