"""Fill-to-stream latency: from sending ``placeOrder`` to the owner's ``positionUpdates`` showing the fill.

N traders, each its own user with its own paper account, each subscribed on its own websocket (signed in by
the connection_init payload). Each trader first holds a small BTC position (one setup order, not timed), so
its stream opens with a snapshot and is known to be live. Then one MARKET BUY per trader is sent over HTTP,
one after another on one keep-alive connection (each sent once the previous one is answered, with the
trader's token); the latency runs from just before the request is written to the subscriber's receipt of the
first update whose quantity includes the new fill. That is usually the fill's own event, but the stream also
re-sends every open position on each feed tick (its mark moved), and a tick's update that happens to be
read after the fill committed shows the new quantity too: either way it is when the owner first sees it.

On the postgres leg the fill's event crosses Redis. The latency includes the order's own placement (its
HTTP round trip is reported beside it as "ack"), the stream's coalescing window (50 ms in the server), its
re-read of the owner's positions, and the bench's event loop waking the subscriber.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from graphql_api.client import GraphQLWSClient

from .console import progress
from .http_load import CONNECTION_FAILURES, KeepAliveConnection
from .meter import Window
from .orders import MARKET, QUANTITY, SYMBOL, judge_placement
from .server import FEED_INTERVAL, ServerProcess
from .stats import percentiles
from .ticks import CONNECT_BATCH, OPEN_TIMEOUT, STREAM_FAILURES, FeedWatch, close_all
from .traders import Trader, TraderPool

SUBSCRIPTION = "subscription { positionUpdates { sequence snapshot position { symbol quantity updatedAt } } }"
# How long after the last order is sent its update may still arrive and count.
DELIVERY_TIMEOUT = 30.0


@dataclass
class PositionResult:
    subscribers: int
    connected: int
    orders_sent: int
    placement_errors: int
    deliveries: int
    expected: int  # orders placed whose update the owner should see
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    connect_seconds: float
    collect_seconds: float
    # Every update the subscribers received while the orders went out, per subscriber per second: mostly
    # the mark-price re-sends of each open position on every feed tick.
    updates_per_subscriber_per_second: float | None
    sequence_gaps: int
    server_cpu_percent: float | None
    client_cpu_percent: float
    host_cpu_percent: float | None  # every process on the machine
    mean_tick_interval_ms: float | None
    longest_without_tick_ms: float
    connect_failures: dict[str, int] = field(default_factory=dict)
    stream_failures: dict[str, int] = field(default_factory=dict)
    placement_error_kinds: dict[str, int] = field(default_factory=dict)


class _Owner:
    """One trader's position stream, waiting for the quantity its next fill will bring."""

    def __init__(self, ws_url: str, trader: Trader) -> None:
        self.trader = trader
        self.client = GraphQLWSClient(
            ws_url, connection_params={"authorization": trader.authorization}, ack_timeout=OPEN_TIMEOUT
        )
        self.quantity = Decimal(0)
        self.updates = 0
        self.gaps = 0
        self._sequence = 0
        self.sent_at: float | None = None
        self.target: Decimal | None = None
        self.latency_ms: float | None = None

    async def open(self) -> None:
        """Connected, subscribed, and the snapshot of the trader's BTC position received."""
        await self.client.connect()
        self.subscription = await self.client.subscribe(SUBSCRIPTION)
        while True:
            update = (await self.subscription.data(OPEN_TIMEOUT))["positionUpdates"]
            self._note(update)
            if update["snapshot"] and update["position"]["symbol"] == SYMBOL:
                return

    def _note(self, update: dict[str, Any]) -> None:
        sequence = int(update["sequence"])
        if sequence != self._sequence + 1:
            self.gaps += 1
        self._sequence = sequence
        if update["position"]["symbol"] == SYMBOL:
            self.quantity = Decimal(update["position"]["quantity"])

    def expect_fill(self) -> None:
        """Called just before the order is written: from now on, its fill is what counts."""
        self.target = self.quantity + Decimal(QUANTITY)
        self.sent_at = time.perf_counter()

    async def watch(self) -> None:
        """Every update until one shows the expected fill (or the task is cancelled)."""
        while True:
            update = (await self.subscription.data(None))["positionUpdates"]
            received = time.perf_counter()
            self.updates += 1
            self._note(update)
            if self.target is not None and self.sent_at is not None and self.quantity >= self.target:
                self.latency_ms = (received - self.sent_at) * 1000
                return

    async def close(self) -> None:
        await self.client.close()


async def _setup_positions(connection: KeepAliveConnection, traders: list[Trader], label: str) -> None:
    """One small market buy each, so every trader's stream opens with a BTC position (not timed)."""
    failures: Counter[str] = Counter()
    for index, trader in enumerate(traders):
        body = MARKET.body(trader.account_id, f"{label}-setup-{index}")
        try:
            status, content = await connection.post(body, trader.headers)
        except CONNECTION_FAILURES as exc:
            failures[type(exc).__name__] += 1
            continue
        failure = judge_placement(status, content, MARKET.status)
        if failure is not None:
            failures[failure] += 1
    if failures:
        raise RuntimeError(f"setup orders failed: {dict(failures)}")


async def _open_all(ws_url: str, traders: list[Trader], failures: Counter[str]) -> list[_Owner]:
    """Open a stream per trader, CONNECT_BATCH at a time."""
    attempted: list[_Owner] = []
    opened: list[_Owner] = []
    try:
        for start in range(0, len(traders), CONNECT_BATCH):
            batch = [_Owner(ws_url, t) for t in traders[start : start + CONNECT_BATCH]]
            attempted.extend(batch)
            outcomes = await asyncio.gather(*(o.open() for o in batch), return_exceptions=True)
            for owner, outcome in zip(batch, outcomes, strict=True):
                if outcome is None:
                    opened.append(owner)
                elif isinstance(outcome, STREAM_FAILURES):
                    failures[type(outcome).__name__] += 1
                    await close_all([owner])
                else:
                    raise outcome
            progress(f"    {len(opened)}/{len(traders)} position streams open")
    except BaseException:
        await close_all(attempted)
        raise
    return opened


async def run_positions(server: ServerProcess, pool: TraderPool, count: int) -> PositionResult:
    progress(f"  positions: {count} subscribers, one market order each")
    traders = await pool.take(count)
    label = f"pos{count}-{int(time.time())}"
    connection = KeepAliveConnection("127.0.0.1", server.port)
    connect_failures: Counter[str] = Counter()
    stream_failures: Counter[str] = Counter()
    placement_errors: Counter[str] = Counter()
    acks: list[float] = []
    sent = 0
    owners: list[_Owner] = []
    tasks: dict[_Owner, asyncio.Task[None]] = {}
    try:
        await _setup_positions(connection, traders, label)
        started = time.perf_counter()
        owners = await _open_all(server.ws_url, traders, connect_failures)
        connect_seconds = time.perf_counter() - started
        tasks = {o: asyncio.create_task(o.watch()) for o in owners}
        # A few ticks' worth of mark updates first, so the streams are in their steady state.
        await asyncio.sleep(4 * FEED_INTERVAL)
        async with FeedWatch(server.ws_url) as feed:
            since = time.time()
            updates_before = sum(o.updates for o in owners)
            with Window(server) as window:
                for index, owner in enumerate(owners):
                    if tasks[owner].done():
                        continue  # its stream already failed; counted below
                    body = MARKET.body(owner.trader.account_id, f"{label}-{index}")
                    owner.expect_fill()
                    assert owner.sent_at is not None
                    sent += 1
                    try:
                        status, content = await connection.post(body, owner.trader.headers)
                    except CONNECTION_FAILURES as exc:
                        failure: str | None = type(exc).__name__
                    else:
                        failure = judge_placement(status, content, MARKET.status)
                        acks.append((time.perf_counter() - owner.sent_at) * 1000)
                    if failure is not None:
                        placement_errors[failure] += 1
                        owner.target = None
                        tasks[owner].cancel()
                waiting = [tasks[o] for o in owners if o.target is not None]
                _, pending = await asyncio.wait(waiting, timeout=DELIVERY_TIMEOUT) if waiting else (set(), set())
            mean_tick, max_tick = await feed.cadence(since, time.time())
            updates = sum(o.updates for o in owners) - updates_before
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        connection.close()
        progress("    closing position streams")
        await close_all(owners)
    if pending:
        stream_failures["timed out"] += len(pending)
    for task in tasks.values():
        # Cancelled: its order failed (counted as a placement error) or it timed out (counted above).
        if task.cancelled():
            continue
        problem = task.exception()
        if problem is None:
            continue
        if not isinstance(problem, STREAM_FAILURES):
            raise problem
        stream_failures[type(problem).__name__] += 1
    latencies = [o.latency_ms for o in owners if o.latency_ms is not None]
    pct = percentiles(latencies, (50, 99, 100))
    ack_pct = percentiles(acks, (50, 99))
    return PositionResult(
        subscribers=count,
        connected=len(owners),
        orders_sent=sent,
        placement_errors=sum(placement_errors.values()),
        deliveries=len(latencies),
        expected=sum(1 for o in owners if o.target is not None),
        ack_p50_ms=ack_pct["p50"],
        ack_p99_ms=ack_pct["p99"],
        p50_ms=pct["p50"],
        p99_ms=pct["p99"],
        max_ms=pct["p100"],
        connect_seconds=connect_seconds,
        collect_seconds=window.seconds,
        updates_per_subscriber_per_second=updates / len(owners) / window.seconds if owners else None,
        sequence_gaps=sum(o.gaps for o in owners),
        server_cpu_percent=window.server_cpu_percent,
        client_cpu_percent=window.client_cpu_percent,
        host_cpu_percent=window.host_cpu_percent,
        mean_tick_interval_ms=mean_tick,
        longest_without_tick_ms=max_tick,
        connect_failures=dict(connect_failures),
        stream_failures=dict(stream_failures),
        placement_error_kinds=dict(placement_errors),
    )
