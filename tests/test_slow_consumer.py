"""The send-queue policy of graphql_api/fanout.py, on a socket whose reader stops reading: its price ticks coalesce
to the latest of each symbol (each stream's sequence still gapless), every order event is kept and arrives in
order, and a socket still behind when its queue is full is closed with 4499 ``slow consumer``.

The client's receive buffer is small, its websocket library stops reading from the connection as soon as one
message waits, and it runs the tick stream on the socket as many times as a socket may (one group, many members),
uncompressed, so the kernel's buffers on loopback (megabytes) fill within seconds and the server's sends block. That the server is blocked is read from its own coalescing counter, never
assumed from time passing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from graphql_api.client import GraphQLClient

from .accounts import Account, as_user
from .support import ServerHandle, metric_value, scrape_metrics, wait_until
from .trading import market, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

# Large tick frames (every alias of price and timestamp), so that a few ticks fill the connection's buffers.
_FIELDS = " ".join(f"p{i}: price t{i}: timestamp" for i in range(14))
TICKS = f"subscription SlowTicks($s: [String!]!) {{ priceTicks(symbols: $s) {{ symbol sequence {_FIELDS} }} }}"
ORDERS = "subscription SlowOrders { orderUpdates { sequence snapshot order { id status } } }"


@contextlib.asynccontextmanager
async def slow_socket(server: ServerHandle, token: str) -> AsyncIterator[ClientConnection]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    sock.setblocking(False)
    async with connect(
        server.ws_url,
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=1,
        compression=None,
    ) as ws:
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}).decode()
        )
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        yield ws


async def _subscribe(ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
    message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
    await ws.send(orjson.dumps(message).decode())


async def _coalesced(server: ServerHandle) -> float:
    return metric_value(await scrape_metrics(server.url), "subscription_frames_coalesced_total")


async def _blocked_since(server: ServerHandle, seen: float) -> None:
    """Until the server has coalesced more ticks for the socket than ``seen``: its sends are blocked."""

    async def more() -> bool:
        return await _coalesced(server) > seen + 5

    await wait_until(more, timeout=30)


class Reader:
    """Everything the socket was sent, by operation, read once the test lets the client read again."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.by_op: dict[str, list[dict[str, Any]]] = {}

    async def until_orders(self, count: int) -> None:
        while len(self.by_op.get("o", [])) < count:
            self._take(await asyncio.wait_for(self.ws.recv(), 10))

    def _take(self, raw: str | bytes) -> None:
        message = orjson.loads(raw)
        assert message["type"] == "next", message
        data = message["payload"]["data"]
        self.by_op.setdefault(message["id"], []).append(data.get("priceTicks") or data["orderUpdates"])

    async def until_closed(self) -> tuple[int | None, str | None]:
        with contextlib.suppress(ConnectionClosed):
            while True:
                self._take(await asyncio.wait_for(self.ws.recv(), 10))
        return self.ws.close_code, self.ws.close_reason


async def _metric(server: ServerHandle, name: str) -> float:
    return metric_value(await scrape_metrics(server.url), name)


async def test_a_slow_reader_gets_the_latest_ticks_every_order_event_and_is_closed_when_it_stays_behind(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    limit = server.settings.stream_send_queue
    streams = server.settings.max_subscriptions_per_socket - 1
    symbols = [row["symbol"] for row in (await api.query("{ instruments { symbol } }"))["instruments"]]
    # Waiting ticks (one per stream and symbol at most) and the first orders fit in the queue.
    assert streams * len(symbols) + 10 < limit
    slow_before = await _metric(server, "subscription_slow_consumers_total")
    async with as_user(api.base_url, trader) as client, slow_socket(server, trader.access_token) as ws:
        account = await paper_account(client)
        price, tick_size, _ = await market(client, "BTC")
        resting = str((price / 2 // tick_size) * tick_size)
        await _subscribe(ws, "o", ORDERS)
        for number in range(streams):
            await _subscribe(ws, f"t{number}", TICKS, {"s": symbols})
        reader = Reader(ws)

        # Stop reading until the server's sends to this socket block: ticks then coalesce in its queue.
        await _blocked_since(server, await _coalesced(server))
        first = [await placed(client, account, type="LIMIT", price=resting, quantity="0.001") for _ in range(10)]
        await _blocked_since(server, await _coalesced(server))
        await reader.until_orders(10)
        # Every order event, in order, none dropped; the ticks fewer than the feed made, numbered without gaps.
        assert [(u["sequence"], u["order"]["id"], u["order"]["status"]) for u in reader.by_op["o"]] == [
            (n, order["id"], "OPEN") for n, order in enumerate(first, 1)
        ]
        for number in range(streams):
            ticks = reader.by_op[f"t{number}"]
            assert [t["sequence"] for t in ticks] == list(range(1, len(ticks) + 1))
            assert {t["symbol"] for t in ticks[: len(symbols)]} == set(symbols)

        # Behind again, and order events until the queue is full: the socket is closed.
        await _blocked_since(server, await _coalesced(server))
        placed_after = 0
        while await _metric(server, "subscription_slow_consumers_total") == slow_before:
            assert placed_after <= limit, "the queue never filled"
            await placed(client, account, type="LIMIT", price=resting, quantity="0.001")
            placed_after += 1
        code, reason = await reader.until_closed()
        assert (code, reason) == (4499, f"slow consumer: more than {limit} events waiting")
        orders = reader.by_op["o"]
        # What did arrive is every event from the first on, without a gap; the rest went with the socket.
        assert [u["sequence"] for u in orders] == list(range(1, len(orders) + 1))
        assert len(orders) < 10 + placed_after
