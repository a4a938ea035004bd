"""priceTicks over a real graphql-transport-ws connection."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from graphql_api.client import GraphQLClient, GraphQLWSClient, SubscriptionError

from .support import ServerHandle

TICKS = "subscription($s: [String!]!) { priceTicks(symbols: $s) { symbol price timestamp sequence snapshot } }"


async def test_snapshot_then_live_ticks_with_increasing_sequence(ws: GraphQLWSClient, api: GraphQLClient) -> None:
    sub = await ws.subscribe(TICKS, {"s": ["btc", "ETH"]})
    snapshot = [(await sub.data())["priceTicks"] for _ in range(2)]
    assert [t["symbol"] for t in snapshot] == ["BTC", "ETH"]
    assert [t["sequence"] for t in snapshot] == [1, 2]
    assert all(t["snapshot"] for t in snapshot)

    live = [(await sub.data())["priceTicks"] for _ in range(10)]
    assert [t["sequence"] for t in live] == list(range(3, 13))
    assert not any(t["snapshot"] for t in live)
    assert {t["symbol"] for t in live} == {"BTC", "ETH"}
    tick_sizes = {"BTC": Decimal("0.1"), "ETH": Decimal("0.01")}
    for tick in live:
        assert Decimal(tick["price"]) % tick_sizes[tick["symbol"]] == 0
    # Each symbol's timestamps only move forward.
    for symbol in ("BTC", "ETH"):
        stamps = [t["timestamp"] for t in snapshot + live if t["symbol"] == symbol]
        assert stamps == sorted(stamps)
    await sub.stop()


async def test_delivered_tick_is_what_the_price_query_answers(ws: GraphQLWSClient, api: GraphQLClient) -> None:
    sub = await ws.subscribe(TICKS, {"s": ["SOL"]})
    await sub.data()  # snapshot
    tick = (await sub.data())["priceTicks"]
    delivered = {tick["timestamp"]: tick["price"]}
    price = (await api.query('{ price(symbol: "SOL") { price timestamp } }'))["price"]
    # The feed may have moved on since; read the stream up to the tick the query answered with.
    while max(delivered) < price["timestamp"]:
        tick = (await sub.data())["priceTicks"]
        delivered[tick["timestamp"]] = tick["price"]
    # A tick is stored before it is published, so the query never answers with one the stream has not sent:
    # what it answers is exactly a delivered tick.
    assert delivered.get(price["timestamp"]) == price["price"]


async def test_two_subscriptions_on_one_socket_are_independent(ws: GraphQLWSClient) -> None:
    first = await ws.subscribe(TICKS, {"s": ["BTC"]})
    second = await ws.subscribe(TICKS, {"s": ["XRP"]})
    a = [(await first.data())["priceTicks"] for _ in range(3)]
    b = [(await second.data())["priceTicks"] for _ in range(3)]
    assert [t["sequence"] for t in a] == [1, 2, 3] == [t["sequence"] for t in b]
    assert {t["symbol"] for t in a} == {"BTC"} and {t["symbol"] for t in b} == {"XRP"}


async def test_unknown_symbol_is_a_clear_error_not_an_empty_stream(ws: GraphQLWSClient) -> None:
    sub = await ws.subscribe(TICKS, {"s": ["BTC", "NOTACOIN"]})
    with pytest.raises(SubscriptionError) as caught:
        await sub.next(timeout=5)
    (error,) = caught.value.errors
    assert "NOTACOIN" in error["message"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbols"}


async def test_too_many_symbols_is_refused(ws: GraphQLWSClient, server: ServerHandle) -> None:
    limit = server.settings.max_symbols_per_subscription
    sub = await ws.subscribe(TICKS, {"s": [f"S{i}" for i in range(limit + 1)]})
    with pytest.raises(SubscriptionError) as caught:
        await sub.next(timeout=5)
    assert f"at most {limit}" in caught.value.errors[0]["message"]


async def test_legacy_graphql_ws_subprotocol_is_refused(server: ServerHandle) -> None:
    with pytest.raises(ConnectionClosed) as caught:
        async with connect(server.ws_url, subprotocols=[Subprotocol("graphql-ws")]) as socket:
            await socket.send('{"type": "connection_init"}')
            await socket.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4406


async def test_socket_without_connection_init_is_closed_quickly(server: ServerHandle) -> None:
    client = GraphQLWSClient(server.ws_url)
    await client.connect(init=False)
    code = await client.wait_closed(timeout=server.settings.ws_connection_init_timeout + 5)
    assert code == 4408


async def test_many_subscribers_all_receive_the_same_ticks(server: ServerHandle) -> None:
    clients = [GraphQLWSClient(server.ws_url) for _ in range(20)]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        subs = await asyncio.gather(*(c.subscribe(TICKS, {"s": ["DOGE"]}) for c in clients))
        await asyncio.gather(*(s.data() for s in subs))  # snapshots
        firsts = await asyncio.gather(*(s.data() for s in subs))
        seconds = await asyncio.gather(*(s.data() for s in subs))
        # Everyone is at sequence 2 and 3; the feed is shared, so most saw the very same tick.
        assert {f["priceTicks"]["sequence"] for f in firsts} == {2}
        assert {s["priceTicks"]["sequence"] for s in seconds} == {3}
        stamps = [s["priceTicks"]["timestamp"] for s in seconds]
        assert max(stamps.count(x) for x in set(stamps)) >= len(clients) // 2
    finally:
        await asyncio.gather(*(c.close() for c in clients))
