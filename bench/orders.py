"""Order placement: throughput and latency of the ``placeOrder`` mutation at fixed concurrency levels.

Each worker is its own trader (a registered user with one funded paper account) on its own keep-alive
connection (the lean client of ``http_load``), placing its next order as soon as the previous one is
answered. One account per worker because orders on one account serialise on its row lock: the figures are
the server's, not one account's lock queue. Every order carries a unique ``clientOrderId``, as a careful
client's would, so the idempotency lookup is part of what is measured.

Two kinds of order, each a small BTC buy:

``market``: MARKET, fills at once against the paper book (order, fill, balance and position written).
``resting``: LIMIT GTC far below the market; it rests (order and cash reservation written). Resting orders
accumulate over the levels and stay working for the rest of the leg; the engine looks for crossed working
orders on every feed tick, so the run also notes the feed's cadence beside each level.

A good answer is ``OrderPlaced``, not replayed, with the status the kind should have (FILLED, OPEN); any
other answer counts as an error, by kind.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from .console import progress
from .http_load import CONNECTION_FAILURES, KeepAliveConnection, Send, load
from .meter import Window
from .server import ServerProcess
from .stats import percentiles
from .ticks import FeedWatch
from .traders import Trader, TraderPool

SYMBOL = "BTC"
QUANTITY = "0.001"
RESTING_PRICE = "1000"  # BTC starts near 96,000 and walks a little: this never fills
PLACE = """
mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename
    ... on OrderPlaced { replayed order { status } }
    ... on UserError { code message }
  }
}"""


@dataclass(frozen=True)
class OrderKind:
    name: str
    description: str
    fields: dict[str, str]
    status: str  # what a placed order of this kind should be at once

    def body(self, account_id: str, client_order_id: str) -> bytes:
        order = {
            "venueAccountId": account_id,
            "symbol": SYMBOL,
            "side": "BUY",
            "quantity": QUANTITY,
            "clientOrderId": client_order_id,
            **self.fields,
        }
        return orjson.dumps({"query": PLACE, "variables": {"input": order}})


MARKET = OrderKind("market", f"MARKET BUY {QUANTITY} {SYMBOL}", {"type": "MARKET"}, "FILLED")
RESTING = OrderKind(
    "resting",
    f"LIMIT GTC BUY {QUANTITY} {SYMBOL} @ {RESTING_PRICE}",
    {"type": "LIMIT", "timeInForce": "GTC", "price": RESTING_PRICE},
    "OPEN",
)


@dataclass
class OrderLevelResult:
    kind: str
    order: str
    concurrency: int
    accounts: int
    orders: int
    ok: int
    errors: int
    seconds: float
    orders_per_second: float  # placed (good answers) per second
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    server_cpu_percent: float | None
    client_cpu_percent: float
    host_cpu_percent: float | None  # every process on the machine
    # The bench's resting orders still working once the level is done, warm-up included.
    working_orders: int
    # The feed's tick interval while the level ran (it should stay near FEED_INTERVAL).
    mean_tick_interval_ms: float | None
    longest_without_tick_ms: float
    error_kinds: dict[str, int] = field(default_factory=dict)


def judge_placement(status: int, content: bytes, expected: str) -> str | None:
    """None for ``OrderPlaced`` (new, in status ``expected``), else a short name for the answer."""
    if status != 200:
        return f"HTTP {status}"
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return "invalid JSON"
    errors = body.get("errors")
    if errors:
        first = errors[0]
        return f"GraphQL error {(first.get('extensions') or {}).get('code') or str(first.get('message'))[:60]}"
    result = (body.get("data") or {}).get("placeOrder") or {}
    kind = result.get("__typename")
    if kind != "OrderPlaced":
        return f"{kind} {result.get('code')}" if result.get("code") else str(kind)
    if result["replayed"]:
        return "OrderPlaced, replayed"
    if result["order"]["status"] != expected:
        return f"OrderPlaced, {result['order']['status']}"
    return None


class _Worker:
    """One trader placing orders of one kind over its own connection, each with a new clientOrderId."""

    def __init__(self, server: ServerProcess, trader: Trader, kind: OrderKind, prefix: str) -> None:
        self._connection = KeepAliveConnection("127.0.0.1", server.port, trader.headers)
        self._account = trader.account_id
        self._kind = kind
        self._prefix = prefix
        self._ids = itertools.count(1)
        self.placed = 0

    async def send(self) -> str | None:
        body = self._kind.body(self._account, f"{self._prefix}-{next(self._ids)}")
        try:
            status, content = await self._connection.post(body)
        except CONNECTION_FAILURES as exc:
            return type(exc).__name__
        failure = judge_placement(status, content, self._kind.status)
        if failure is None:
            self.placed += 1
        return failure

    def close(self) -> None:
        self._connection.close()


async def run_order_level(
    server: ServerProcess, traders: list[Trader], kind: OrderKind, concurrency: int, orders: int, warmup: int
) -> tuple[OrderLevelResult, int]:
    """The level's figures, and how many orders it placed (warm-up included)."""
    workers = [_Worker(server, t, kind, f"{kind.name}-c{concurrency}-w{i}") for i, t in enumerate(traders)]
    senders: list[Send] = [w.send for w in workers]
    try:
        async with FeedWatch(server.ws_url) as feed:
            # Warm-up also opens every connection, so connection setup stays out of the figures.
            await load(senders, max(warmup, 2 * concurrency), [], Counter())
            latencies: list[float] = []
            errors: Counter[str] = Counter()
            since = time.time()
            with Window(server) as window:
                await load(senders, orders, latencies, errors)
            mean_tick, max_tick = await feed.cadence(since, time.time())
    finally:
        for w in workers:
            w.close()
    pct = percentiles(latencies, (50, 95, 99))
    result = OrderLevelResult(
        kind=kind.name,
        order=kind.description,
        concurrency=concurrency,
        accounts=len(traders),
        orders=orders,
        ok=len(latencies),
        errors=sum(errors.values()),
        seconds=window.seconds,
        orders_per_second=len(latencies) / window.seconds,
        p50_ms=pct["p50"],
        p95_ms=pct["p95"],
        p99_ms=pct["p99"],
        server_cpu_percent=window.server_cpu_percent,
        client_cpu_percent=window.client_cpu_percent,
        host_cpu_percent=window.host_cpu_percent,
        working_orders=0,
        mean_tick_interval_ms=mean_tick,
        longest_without_tick_ms=max_tick,
        error_kinds=dict(errors),
    )
    return result, sum(w.placed for w in workers)


async def run_orders(
    server: ServerProcess,
    pool: TraderPool,
    kinds: tuple[OrderKind, ...],
    levels: tuple[int, ...],
    orders: int,
    warmup: int,
) -> list[OrderLevelResult]:
    """Each kind at every level, in the order given (resting orders stay: run them last)."""
    results = []
    working = 0
    for kind in kinds:
        for concurrency in levels:
            traders = await pool.take(concurrency)
            progress(f"  orders ({kind.name}): concurrency {concurrency} on {concurrency} accounts, {orders} orders")
            result, placed = await run_order_level(server, traders, kind, concurrency, orders, warmup)
            if kind.status == "OPEN":
                working += placed
            result.working_orders = working
            results.append(result)
    return results
