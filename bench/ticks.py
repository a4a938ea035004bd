"""Price-tick delivery latency to many websocket subscribers, each on its own connection.

Latency is the subscriber's wall clock on receipt minus the tick's ``timestamp``, which the feed takes just
before it stores and publishes the tick; server and bench share the machine, hence the clock. It therefore
covers the feed's database write, the bus, the server's fan-out and the bench's own event loop waking the
subscriber (client and server share 2 cores, so a loaded client inflates the figure too).

``FeedWatch`` is one such subscriber kept beside another measurement, to tell whether that load stretches
the feed's cadence.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from websockets.exceptions import WebSocketException

from graphql_api.client import GraphQLResponseError, GraphQLWSClient, Subscription, SubscriptionError

from .console import progress
from .server import FEED_INTERVAL, ChildProcess
from .stats import percentiles

SUBSCRIPTION = 'subscription { priceTicks(symbols: ["BTC"]) { symbol price timestamp sequence snapshot } }'
CONNECT_BATCH = 100
OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 30.0
FD_SETTLE_SECONDS = 10.0
# How long FeedWatch.cadence waits for the tick that closes its window.
CADENCE_WAIT = 5.0

# What a subscriber can die of; anything else is a bug in the bench and should surface as such.
STREAM_FAILURES = (
    OSError,
    TimeoutError,
    ConnectionError,
    WebSocketException,
    GraphQLResponseError,
    SubscriptionError,
    AssertionError,
    KeyError,
    ValueError,
)


@dataclass
class TickResult:
    subscribers: int
    connected: int
    ticks_per_subscriber: int
    deliveries: int
    expected: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    # Medians over ticks of the fastest and the slowest subscriber's latency for that tick: the first is
    # roughly the feed's write plus the bus, the gap between them the server's fan-out to every socket.
    first_subscriber_p50_ms: float | None
    last_subscriber_p50_ms: float | None
    connect_seconds: float
    collect_seconds: float
    distinct_ticks: int
    mean_tick_interval_ms: float | None
    sequence_gaps: int
    server_cpu_percent: float | None
    client_cpu_percent: float
    # Before the wave and once its sockets are closed: a server that leaks subscriptions keeps their sockets.
    server_fds_before: int | None
    server_fds_after: int | None
    connect_failures: dict[str, int] = field(default_factory=dict)
    stream_failures: dict[str, int] = field(default_factory=dict)


def _produced_at(tick: dict[str, object]) -> float:
    return datetime.fromisoformat(str(tick["timestamp"])).timestamp()


class _Subscriber:
    def __init__(self, ws_url: str) -> None:
        self.client = GraphQLWSClient(ws_url, ack_timeout=OPEN_TIMEOUT)
        self.latencies_ms: list[float] = []
        # Tick (its production time) -> latency to this subscriber, to tell feed/bus time from fan-out time.
        self.by_tick: dict[float, float] = {}
        self.gaps = 0
        self._sequence = 0

    async def open(self) -> None:
        """Connected, subscribed, and the opening snapshot received: the stream is live."""
        await self.client.connect()
        self.subscription = await self.client.subscribe(SUBSCRIPTION)
        tick = (await self.subscription.data(OPEN_TIMEOUT))["priceTicks"]
        if not tick["snapshot"]:
            raise AssertionError("first delivery is not a snapshot")
        self._sequence = int(tick["sequence"])

    async def close(self) -> None:
        await self.client.close()

    async def collect(self, window_start: float, count: int) -> None:
        """The first ``count`` live ticks produced after ``window_start``; earlier ones queued while the other
        subscribers connected are skipped, since their receive time says nothing about delivery."""
        while len(self.latencies_ms) < count:
            tick = (await self.subscription.data(None))["priceTicks"]
            received = time.time()
            sequence = int(tick["sequence"])
            if sequence != self._sequence + 1:
                self.gaps += 1
            self._sequence = sequence
            if tick["snapshot"]:
                continue
            produced = _produced_at(tick)
            if produced < window_start:
                continue
            latency = (received - produced) * 1000
            self.latencies_ms.append(latency)
            self.by_tick[produced] = latency


async def _open_all(ws_url: str, count: int, failures: Counter[str]) -> list[_Subscriber]:
    """Open ``count`` subscribers, CONNECT_BATCH at a time so the handshakes do not swamp two cores."""
    attempted: list[_Subscriber] = []
    opened: list[_Subscriber] = []
    try:
        for start in range(0, count, CONNECT_BATCH):
            batch = [_Subscriber(ws_url) for _ in range(min(CONNECT_BATCH, count - start))]
            attempted.extend(batch)
            outcomes = await asyncio.gather(*(s.open() for s in batch), return_exceptions=True)
            for subscriber, outcome in zip(batch, outcomes, strict=True):
                if outcome is None:
                    opened.append(subscriber)
                elif isinstance(outcome, STREAM_FAILURES):
                    failures[type(outcome).__name__] += 1
                    await close_all([subscriber])
                else:
                    raise outcome
            progress(f"    {len(opened)}/{count} subscribers open")
    except BaseException:
        await close_all(attempted)
        raise
    return opened


class Closable(Protocol):
    async def close(self) -> None: ...


async def close_all(subscribers: Sequence[Closable]) -> None:
    for start in range(0, len(subscribers), CONNECT_BATCH):
        batch = subscribers[start : start + CONNECT_BATCH]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.close() for s in batch), return_exceptions=True), CLOSE_TIMEOUT)


async def _settled_fds(server: ChildProcess, baseline: int | None) -> int | None:
    """The server's descriptor count once it is back to ``baseline``, or after FD_SETTLE_SECONDS anyway."""
    deadline = time.monotonic() + FD_SETTLE_SECONDS
    while True:
        count = server.open_fds()
        if count is None or baseline is None or count <= baseline or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.2)


async def run_ticks(server: ChildProcess, count: int, ticks_per_subscriber: int) -> TickResult:
    progress(f"  ticks: {count} subscribers x {ticks_per_subscriber} ticks")
    connect_failures: Counter[str] = Counter()
    fds_before = server.open_fds()
    started = time.perf_counter()
    subscribers = await _open_all(server.ws_url, count, connect_failures)
    connect_seconds = time.perf_counter() - started
    stream_failures: Counter[str] = Counter()
    tasks: list[asyncio.Task[None]] = []
    try:
        window_start = time.time()
        server_cpu_before = server.cpu_seconds()
        client_cpu_before = time.process_time()
        started = time.perf_counter()
        tasks = [asyncio.create_task(s.collect(window_start, ticks_per_subscriber)) for s in subscribers]
        # Generous: a saturated server also slows its own feed, which shares its event loop.
        deadline = ticks_per_subscriber * FEED_INTERVAL * 4 + 30
        _, pending = await asyncio.wait(tasks, timeout=deadline) if tasks else (set(), set())
        collect_seconds = time.perf_counter() - started
        server_cpu_after = server.cpu_seconds()
        client_cpu = time.process_time() - client_cpu_before
    finally:
        # Also on cancellation (Ctrl-C), so no collector outlives the sockets closed below.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        progress("    closing subscribers")
        await close_all(subscribers)
    if pending:
        stream_failures["timed out"] += len(pending)
    for task in tasks:
        exc = None if task.cancelled() else task.exception()
        if exc is None:
            continue
        if not isinstance(exc, STREAM_FAILURES):
            raise exc
        stream_failures[type(exc).__name__] += 1
    fds_after = await _settled_fds(server, fds_before)

    latencies = [ms for s in subscribers for ms in s.latencies_ms]
    per_tick: dict[float, list[float]] = {}
    for s in subscribers:
        for tick, ms in s.by_tick.items():
            per_tick.setdefault(tick, []).append(ms)
    produced = sorted(per_tick)
    pct = percentiles(latencies, (50, 99, 100))
    server_cpu = None if server_cpu_before is None or server_cpu_after is None else server_cpu_after - server_cpu_before
    return TickResult(
        subscribers=count,
        connected=len(subscribers),
        ticks_per_subscriber=ticks_per_subscriber,
        deliveries=len(latencies),
        expected=len(subscribers) * ticks_per_subscriber,
        p50_ms=pct["p50"],
        p99_ms=pct["p99"],
        max_ms=pct["p100"],
        first_subscriber_p50_ms=percentiles((min(v) for v in per_tick.values()), (50,))["p50"],
        last_subscriber_p50_ms=percentiles((max(v) for v in per_tick.values()), (50,))["p50"],
        connect_seconds=connect_seconds,
        collect_seconds=collect_seconds,
        distinct_ticks=len(produced),
        mean_tick_interval_ms=(produced[-1] - produced[0]) * 1000 / (len(produced) - 1) if len(produced) > 1 else None,
        sequence_gaps=sum(s.gaps for s in subscribers),
        server_cpu_percent=None if server_cpu is None else 100 * server_cpu / collect_seconds,
        client_cpu_percent=100 * client_cpu / collect_seconds,
        server_fds_before=fds_before,
        server_fds_after=fds_after,
        connect_failures=dict(connect_failures),
        stream_failures=dict(stream_failures),
    )


class FeedWatch:
    """One priceTicks subscriber beside a measurement, noting when each tick was produced: whether the load
    on the server (which runs the feed on the same event loop) stretches the feed's cadence."""

    def __init__(self, ws_url: str) -> None:
        self._client = GraphQLWSClient(ws_url, ack_timeout=OPEN_TIMEOUT)
        self._task: asyncio.Task[None] | None = None
        self.produced: list[float] = []

    async def __aenter__(self) -> FeedWatch:
        await self._client.connect()
        subscription = await self._client.subscribe(SUBSCRIPTION)
        await subscription.data(OPEN_TIMEOUT)  # the snapshot
        self._task = asyncio.create_task(self._collect(subscription))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.close()

    async def _collect(self, subscription: Subscription) -> None:
        # A watch that dies only leaves fewer ticks to judge by; the measurement beside it goes on.
        with contextlib.suppress(*STREAM_FAILURES):
            while True:
                tick = (await subscription.data(None))["priceTicks"]
                if not tick["snapshot"]:
                    self.produced.append(_produced_at(tick))

    async def cadence(self, since: float, until: float) -> tuple[float | None, float]:
        """The feed's cadence over the wall-clock window [since, until], in ms: the mean interval between
        consecutive ticks produced in it (None with fewer than two) and the longest stretch of the window
        without a tick (the whole window when the feed stalled). First waits (up to CADENCE_WAIT) for a tick
        produced after ``until``, so ticks still on their way do not count as missing."""
        deadline = time.monotonic() + CADENCE_WAIT
        while not (self.produced and self.produced[-1] > until) and time.monotonic() < deadline:
            if self._task is None or self._task.done():
                break
            await asyncio.sleep(0.05)
        inside = sorted(t for t in self.produced if since <= t <= until)
        mean = (inside[-1] - inside[0]) * 1000 / (len(inside) - 1) if len(inside) > 1 else None
        longest = max((b - a) * 1000 for a, b in itertools.pairwise([since, *inside, until]))
        return mean, longest
