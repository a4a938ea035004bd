"""The event bus: JSON events published once to a channel and fanned out by broadcaster.

Channel names are built in one place (``channel``), payloads are encoded and decoded in one place
(``encode``/``decode``), so the memory leg of the tests exercises exactly what the Redis leg carries.

broadcaster 0.3.1's own Redis backend is not used: with redis-py 8 its listener starts reading before
SUBSCRIBE completes, finds nothing subscribed, exits and never restarts, and it never reconnects after
Redis drops. ``RedisBackend`` below owns one pub/sub connection in a supervised loop that re-subscribes
every channel after a reconnect and then tells each channel's subscribers to resynchronise
(``BusEvent.resync``), because whatever was published while Redis was away is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Subscriber
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError, RedisError

from . import metrics
from .settings import redact_url
from .units import Seconds

log = logging.getLogger(__name__)

# Sent by the backend itself (never over Redis) to the subscribers of a channel after a reconnect.
_RESYNC = "\x00resync"


def channel(kind: str, key: str | int) -> str:
    """The one place channel names are made: ``<kind>:<key>``, e.g. ``price:BTC``."""
    return f"{kind}:{key}"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as an event field")


def encode(payload: dict[str, Any]) -> str:
    """Events travel as JSON text; Decimals as strings so no precision is lost, datetimes as ISO-8601."""
    return orjson.dumps(payload, default=_default).decode()


def decode(message: str) -> dict[str, Any]:
    value = orjson.loads(message)
    if not isinstance(value, dict):
        raise ValueError("an event must be a JSON object")
    return value


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One delivery: a decoded event on ``channel``, or a resync notice (``payload`` None)."""

    channel: str
    payload: dict[str, Any] | None

    @property
    def resync(self) -> bool:
        return self.payload is None


class RedisBackend(BroadcastBackend):
    """A broadcaster backend that survives Redis restarts.

    One supervised task holds the pub/sub connection: it subscribes to every wanted channel before it
    starts reading (so nothing published after ``subscribe`` returns is missed), reads with a timeout,
    and on any connection error marks itself down, backs off and reconnects. ``connected`` is what the
    readiness probe reports.
    """

    def __init__(self, url: str, *, name: str = "", retry_min: Seconds = 0.2, retry_max: Seconds = 2.0) -> None:
        self._url = url
        # Shown by CLIENT LIST, so an operator (or a test) can find this process's subscriber connection.
        self._name = name
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._pubsub: Any = None
        self._publisher: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.connected = False

    async def connect(self) -> None:
        self._publisher = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=5
        )
        self._task = asyncio.create_task(self._supervise(), name="redis-bus")
        # Give the first connection a moment so a healthy start delivers from the first request.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5)
        if not self.connected:
            log.error("broadcast bus %s unreachable at start; retrying in the background", redact_url(self._url))

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._publisher is not None:
            await self._publisher.aclose()
        self.connected = False

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is not None and self.connected:
            try:
                await pubsub.subscribe(channel)
            except (RedisError, OSError):
                # The supervisor notices the broken connection and re-subscribes everything.
                log.warning("subscribe %s failed; will retry after reconnect", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None and self.connected:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._publisher is not None, "publish before connect"
        if not self.connected:
            # Fail fast while the supervisor reconnects: a publisher (the feed) must not stall for the
            # client's connect timeouts and retries on every event of an outage.
            raise ConnectionError("broadcast bus is reconnecting")
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._events.get()

    async def _supervise(self) -> None:
        delay = self._retry_min
        first = True
        while True:
            client = aioredis.Redis.from_url(
                self._url,
                socket_connect_timeout=2,
                health_check_interval=5,
                socket_keepalive=True,
                client_name=self._name or None,
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await client.ping()
                # A private channel stays subscribed for the connection's life: redis-py needs a
                # subscription before it reads, and while a PubSub has none it health-checks the
                # connection with a PING it reads itself on the next SUBSCRIBE, a second reader beside
                # the loop below. Always subscribed, the connection never switches modes.
                await pubsub.subscribe(channel("bus", "keepalive"), *self._channels)
                self._pubsub = pubsub
                self.connected = True
                # A channel wanted while the subscription above was in flight would otherwise be missed.
                late = self._channels - {_text(name) for name in pubsub.channels}
                if late:
                    await pubsub.subscribe(*late)
                self._ready.set()
                delay = self._retry_min
                if not first:
                    log.warning("broadcast bus reconnected to %s", redact_url(self._url))
                    for name in list(self._channels):
                        self._events.put_nowait(Event(name, _RESYNC))
                first = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] in ("message", "pmessage"):
                        self._events.put_nowait(Event(_text(message["channel"]), _text(message["data"])))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected or first:
                    log.error("broadcast bus lost (%s: %s); reconnecting", type(exc).__name__, exc)
                self.connected = False
                self._pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Broadcast(Broadcast):
    """broadcaster's Broadcast with a subscribe that is safe under concurrency.

    In 0.3.1, two subscribers joining a channel at once each see it empty, both subscribe the backend,
    and the second replaces the first's queue set, so the first never receives anything (seen with 20
    sockets subscribing to one symbol together). A lock makes join and leave atomic per process.
    """

    def __init__(self, *, backend: BroadcastBackend) -> None:
        super().__init__(backend=backend)
        self._membership = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        async with self._membership:
            members = self._subscribers.setdefault(channel, set())
            members.add(queue)
            if len(members) == 1:
                try:
                    await self._backend.subscribe(channel)
                except BaseException:
                    del self._subscribers[channel]
                    raise
        try:
            yield Subscriber(queue)
        finally:
            async with self._membership:
                members = self._subscribers.get(channel, set())
                members.discard(queue)
                if not members:
                    self._subscribers.pop(channel, None)
                    await self._backend.unsubscribe(channel)
            await queue.put(None)


class Bus:
    """Publishes events and hands out subscriptions; owned by the app's lifespan."""

    def __init__(self, url: str, namespace: str = "") -> None:
        # Deployments sharing one Redis keep apart by namespace: every channel on the wire starts with it.
        self._prefix = f"{namespace}:" if namespace else ""
        self._backend: BroadcastBackend
        if url.startswith(("redis://", "rediss://")):
            self._backend = RedisBackend(url, name=f"{namespace or 'bus'}-subscriber")
        else:
            self._backend = MemoryBackend(url)
        self._broadcast = _Broadcast(backend=self._backend)

    @property
    def kind(self) -> str:
        return "redis" if isinstance(self._backend, RedisBackend) else "memory"

    @property
    def healthy(self) -> bool:
        if isinstance(self._backend, RedisBackend):
            return self._backend.connected
        return True

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, name: str, payload: dict[str, Any]) -> bool:
        """Publish one event. A bus outage drops the notification (state lives in the database)."""
        try:
            await self._broadcast.publish(self._prefix + name, encode(payload))
        except (RedisError, OSError) as exc:
            log.warning("event on %s not published: bus unavailable (%s)", name, type(exc).__name__)
            return False
        metrics.BUS_PUBLISHED.labels(metrics.kind_of(name)).inc()
        return True

    @contextlib.asynccontextmanager
    async def subscribe(self, names: Iterable[str]) -> AsyncIterator[AsyncIterator[BusEvent]]:
        """Subscribe to several channels at once; the events arrive merged, each channel in order.

        Subscriptions are in place when the context is entered, so a snapshot read afterwards cannot
        miss an event published in between (callers de-duplicate by their own step numbers).
        """
        queue: asyncio.Queue[BusEvent] = asyncio.Queue()
        async with contextlib.AsyncExitStack() as stack:
            tasks: list[asyncio.Task[None]] = []
            for name in dict.fromkeys(names):
                subscriber = await stack.enter_async_context(self._broadcast.subscribe(self._prefix + name))
                tasks.append(asyncio.create_task(_pump(subscriber, name, queue.put_nowait)))
            try:
                with metrics.LIVE_SUBSCRIPTIONS.track_inprogress():
                    yield _drain(queue)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(subscriber: Any, name: str, put: Callable[[BusEvent], None]) -> None:
    """Feed one channel's events into a merged queue, under the channel's name without the namespace."""
    delivered = metrics.BUS_DELIVERED.labels(metrics.kind_of(name))
    async for event in subscriber:
        delivered.inc()
        if event.message == _RESYNC:
            put(BusEvent(name, None))
            continue
        try:
            put(BusEvent(name, decode(event.message)))
        except ValueError:
            log.error("undecodable event on %s dropped", name)


async def _drain(queue: asyncio.Queue[BusEvent]) -> AsyncIterator[BusEvent]:
    while True:
        yield await queue.get()


async def batches(events: AsyncIterator[BusEvent], window: Seconds) -> AsyncIterator[list[BusEvent]]:
    """Group events that arrive within ``window`` seconds of the first, so a burst (one feed tick
    publishes every symbol at once) becomes one recomputation instead of many.

    At most one read of ``events`` is in flight at a time; one still pending when a window closes opens
    the next batch.
    """
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[BusEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            batch = [await pending]
            pending = None
            deadline = loop.time() + window
            while (remaining := deadline - loop.time()) > 0:
                pending = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({pending}, timeout=remaining)
                if not done:
                    break
                batch.append(pending.result())
                pending = None
            yield batch
    finally:
        if pending is not None:
            pending.cancel()
