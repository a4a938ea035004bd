"""Grouped fan-out: a subscription's live events executed once per group, one frame sent to every member.

A group is every running operation with the same document, operation name, variables and visibility scope
(``PUBLIC`` for market data; the owner and the caller's role for a user's trading streams), whatever its
transport (graphql-transport-ws, graphql-sse, multipart). The group holds the one bus subscription and the
stream's state (a ``Shared``), executes the document's selection once per event through ``schema.stream`` (so
masking, limits and metrics apply as for any operation), serialises the result once, and offers that frame to
every member. This is the way Hasura multiplexes live queries and Apollo Router deduplicates subscriptions.

A member's stream starts with a snapshot of the group's state (executed for it alone, numbered from 1), taken
under the group's lock between two events, so it neither misses nor repeats one; from then on it gets the
group's frames. ``sequence`` stays per stream, from 1 and gapless: the group executes deltas with a marker in
place of the number and each frame is split at the marker once, so a member's number is spliced in as the
frame is written (an int's digits; the rest of the frame is the same bytes for every member).

Every connection (a socket, an HTTP event stream) sends through one bounded ``Outbox``. Its policy:

- a frame with a coalescing key (a price tick: its operation and symbol) replaces the one of that key still
  waiting, so a slow reader gets the latest price, never a backlog;
- every other frame (orders, positions, portfolio, candles) is kept, in order, never dropped;
- a connection with ``limit`` frames waiting is behind for good: it is closed (a socket with 4499
  ``slow consumer``, an HTTP stream with a SLOW_CONSUMER error) and its groups go on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from strawberry.http import process_result
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from . import metrics
from .pubsub import Bus, BusEvent, batches

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema

    from .context import Context, Info

log = logging.getLogger(__name__)

T = TypeVar("T")
PUBLIC = "public"
# What a group's items carry as their ``sequence`` (a valid GraphQL Int no stream reaches), and what it
# becomes in the serialised frame, where each member's own number is spliced in.
SEQUENCE_MARK = 2_147_400_001
_PLACEHOLDER = "\x00sequence\x00"
_SPLIT = orjson.dumps(_PLACEHOLDER).decode()
SLOW_CONSUMER_CODE = 4499
Payload = dict[str, Any]


def result_payload(result: object) -> Payload:
    """One execution result as every transport carries it. Incremental delivery (``@defer``) has no form here."""
    if isinstance(result, ExecutionResult):
        return dict(process_result(result))
    return {"errors": [{"message": "incremental delivery is not supported over this transport"}]}


class Shared(ABC, Generic[T]):
    """A stream's state and logic, run once per group: ``start`` reads the state (the bus subscription is
    already open), ``snapshot`` gives it as items, ``update`` folds a batch of events in and gives the
    items to deliver. Items are the stream's update type, with ``sequence`` and ``snapshot`` fields."""

    channels: Sequence[str] = ()
    # Events arriving within this many seconds of the first are handled as one batch (0: one at a time).
    window: float = 0.0

    async def prepare(self) -> None:
        """Work out ``channels`` when they depend on the database (before the bus subscription opens)."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def snapshot(self) -> list[T]: ...

    @abstractmethod
    async def update(self, batch: list[BusEvent]) -> list[T]: ...

    def coalesce(self, item: T) -> Hashable | None:
        """A key under which a newer item replaces an older one a slow reader has not been sent; None: never."""
        return None


def user_scope(info: Info, owner: str) -> str:
    """The visibility scope of a stream of ``owner``'s data, as seen by the caller's role."""
    principal = info.context.principal
    return f"user:{owner}:{principal.user.role if principal is not None else ''}"


@dataclasses.dataclass(slots=True)
class Frame:
    """One execution result serialised once, split where the member's sequence number goes."""

    parts: list[str]
    key: Hashable | None

    def render(self, sequence: int) -> str:
        return self.parts[0] if len(self.parts) == 1 else str(sequence).join(self.parts)


def serialise(result: object, key: Hashable | None = None) -> Frame:
    payload = result_payload(result)
    data = payload.get("data")
    if isinstance(data, dict):
        for root in data.values():
            if isinstance(root, dict):
                for name, value in root.items():
                    if type(value) is int and value == SEQUENCE_MARK:
                        root[name] = _PLACEHOLDER
    return Frame(orjson.dumps(payload).decode().split(_SPLIT), key)


class _Entry:
    __slots__ = ("frame", "key", "member", "sent", "text")

    def __init__(
        self,
        member: Member | None,
        frame: Frame | None,
        text: str | None,
        sent: asyncio.Future[None] | None = None,
        key: Hashable | None = None,
    ) -> None:
        self.member, self.frame, self.text, self.sent, self.key = member, frame, text, sent, key

    def render(self) -> str:
        if self.member is None:
            assert self.text is not None
            return self.text
        assert self.frame is not None
        self.member.sequence += 1
        return self.member.wrap(self.frame.render(self.member.sequence))


class Outbox:
    """One connection's bounded send queue, written by one writer (``write``); see the module's policy."""

    def __init__(self, limit: int, on_overflow: Callable[[str], None]) -> None:
        self.limit = limit
        self._on_overflow = on_overflow
        self._entries: deque[_Entry] = deque()
        self._latest: dict[Hashable, _Entry] = {}
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.overflowed: str | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def offer(self, member: Member, frame: Frame) -> None:
        """Queue a group's frame for ``member`` without waiting: coalesced, kept, or the connection is behind."""
        if self.overflowed is not None:
            return
        key = None if frame.key is None else (id(member), frame.key)
        if key is not None:
            waiting = self._latest.get(key)
            if waiting is not None:
                waiting.frame = frame
                metrics.FANOUT_COALESCED.inc()
                return
        if len(self._entries) >= self.limit:
            self.overflowed = f"slow consumer: more than {self.limit} events waiting"
            metrics.FANOUT_SLOW_CONSUMERS.inc()
            self._on_overflow(self.overflowed)
            return
        entry = _Entry(member, frame, None, key=key)
        self._entries.append(entry)
        if key is not None:
            self._latest[key] = entry
        self._ready.set()

    async def put(self, text: str | None, *, sent: bool = False) -> None:
        """Queue a text of the connection's own (an operation's own results, a completion; None ends the
        writer), waiting for room first; with ``sent``, until the writer has sent it."""
        while len(self._entries) >= self.limit and self.overflowed is None:
            self._room.clear()
            await self._room.wait()
        done = asyncio.get_running_loop().create_future() if sent else None
        self._entries.append(_Entry(None, None, text, done))
        self._ready.set()
        if done is not None:
            await done

    async def write(self, send: Callable[[str], Awaitable[None]], heartbeat: tuple[float, str] | None = None) -> None:
        """Send every entry in order until a None text; a heartbeat whenever nothing came for its interval."""
        while True:
            while not self._entries:
                self._ready.clear()
                if heartbeat is None:
                    await self._ready.wait()
                    continue
                try:
                    # Not wait_for: on Python 3.11 it drops a cancellation that lands as the wait completes.
                    async with asyncio.timeout(heartbeat[0]):
                        await self._ready.wait()
                except TimeoutError:
                    await send(heartbeat[1])
            entry = self._entries.popleft()
            if entry.key is not None and self._latest.get(entry.key) is entry:
                del self._latest[entry.key]
            if len(self._entries) < self.limit:
                self._room.set()
            if entry.member is None and entry.text is None:
                if entry.sent is not None:
                    entry.sent.set_result(None)
                return
            if entry.member is not None and entry.member.left:
                continue
            await send(entry.render())
            if entry.sent is not None and not entry.sent.done():
                entry.sent.set_result(None)


class Member:
    """One operation in a group: its connection's outbox, its own sequence, how its transport wraps a payload."""

    def __init__(self, outbox: Outbox, wrap: Callable[[str], str]) -> None:
        self.outbox = outbox
        self.wrap = wrap
        self.sequence = 0
        self.left = False
        # Frames of the group that arrive while the member's snapshot is still being sent.
        self._held: list[Frame] | None = []
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def offer(self, frame: Frame) -> None:
        if self._held is None:
            self.outbox.offer(self, frame)
            return
        if frame.key is not None:
            for index, held in enumerate(self._held):
                if held.key == frame.key:
                    self._held[index] = frame
                    return
        self._held.append(frame)

    def release(self, snapshot_length: int) -> None:
        """The snapshot is queued: the group's frames follow it, numbered on from ``snapshot_length``."""
        self.sequence = snapshot_length
        held, self._held = self._held or [], None
        for frame in held:
            self.outbox.offer(self, frame)

    def end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


@dataclasses.dataclass(slots=True)
class Operation:
    """What a transport is running, visible to the resolver through ``_ROLE`` while the operation starts."""

    hub: Fanout
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    outbox: Outbox
    wrap: Callable[[str], str]
    member: Member | None = None
    group: Group | None = None
    snapshot_length: int = 0


class Group:
    """The operations sharing one (document, operation, variables, scope): one execution per event."""

    def __init__(
        self, hub: Fanout, key: tuple[str, ...], operation: Operation, context: Context, name: str | None
    ) -> None:
        self.hub = hub
        self.key = key
        self.label = metrics.operation_label(name)
        self.query = operation.query
        self.variables = operation.variables
        self.operation_name = operation.operation_name
        # The founder's context, with loaders of its own that never cache (events change what they read).
        self.context = dataclasses.replace(context, loaders=type(context.loaders)(cache=False))
        self.members: set[Member] = set()
        self.joining = 0
        self.lock = asyncio.Lock()
        self.shared: Shared[Any] | None = None
        self.started: asyncio.Future[object | None] = asyncio.get_running_loop().create_future()
        self._key_of_item: Hashable | None = None
        self.task = asyncio.create_task(self._drive(), name=f"fanout-{self.label}")

    async def live(self, shared: Shared[T]) -> AsyncGenerator[T, None]:
        """The group's own source: the bus subscription, the state, then the items of every batch. The lock
        is held from a batch's update until its last item is fanned out, so a snapshot falls between events."""
        self.shared = shared
        await shared.prepare()
        async with self.context.bus.subscribe(shared.channels) as events:
            await shared.start()
            if not self.started.done():
                self.started.set_result(None)
            async for batch in batches(events, shared.window):
                async with self.lock:
                    for item in await shared.update(batch):
                        self._key_of_item = shared.coalesce(item)
                        yield item

    async def _drive(self) -> None:
        _ROLE.set(self)
        executions = metrics.FANOUT_EXECUTIONS.labels(self.label)
        failure: object | None = None
        try:
            source = await self.hub.schema.stream(
                self.query,
                variable_values=self.variables,
                context_value=self.context,
                operation_name=self.operation_name,
                allowed_operation_types=(OperationType.SUBSCRIPTION,),
            )
            async with contextlib.aclosing(source):
                async for result in source:
                    if not self.started.done():
                        failure = result  # refused or failed before its live part began
                        break
                    executions.inc()
                    frame = serialise(result, self._key_of_item)
                    for member in list(self.members):
                        member.offer(frame)
                    if isinstance(result, ExecutionResult) and result.data is None:
                        break  # the stream failed: its error went out, the members end
        except Exception as exc:
            log.exception("subscription group %s failed", self.label)
            failure = exc
        finally:
            if not self.started.done():
                self.started.set_result(failure if failure is not None else RuntimeError("the stream ended"))
            self.hub._forget(self)
            for member in list(self.members):
                member.end()


class StreamNotStarted(RuntimeError):
    """The group's execution was refused or failed before its live part began."""


class Fanout:
    """Every subscription group of this process; owned by the app's resources."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.groups: dict[tuple[str, ...], Group] = {}
        self._schema: BaseSchema | None = None

    @property
    def schema(self) -> BaseSchema:
        assert self._schema is not None, "the fan-out needs the schema"
        return self._schema

    def use(self, schema: BaseSchema) -> None:
        self._schema = schema

    async def join(self, operation: Operation, scope: str, info: Info) -> list[Any]:
        """Make the operation a member of its group (started if it is the first) and return its snapshot."""
        variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS).decode()
        key = (operation.query, operation.operation_name or "", variables, scope)
        group = self.groups.get(key)
        if group is None or group.task.done():
            node = info.operation.name
            group = self.groups[key] = Group(self, key, operation, info.context, node.value if node else None)
            metrics.FANOUT_GROUPS.labels(group.label).inc()
        group.joining += 1
        member = Member(operation.outbox, operation.wrap)
        try:
            failure = await asyncio.shield(group.started)
            if failure is not None:
                raise StreamNotStarted("the stream could not start") from (
                    failure if isinstance(failure, BaseException) else None
                )
            async with group.lock:
                assert group.shared is not None
                items = await group.shared.snapshot()
                if group.task.done():
                    raise StreamNotStarted("the stream ended")
                group.members.add(member)
        finally:
            group.joining -= 1
            if member not in group.members and not group.members and not group.joining:
                group.task.cancel()  # this joiner was the group's only reason to run
        operation.member, operation.group = member, group
        operation.snapshot_length = len(items)
        return [dataclasses.replace(item, sequence=number) for number, item in enumerate(items, 1)]

    def leave(self, operation: Operation) -> None:
        member, group = operation.member, operation.group
        if member is None or group is None:
            return
        member.left = True
        member.end()
        group.members.discard(member)
        if not group.members and not group.joining and not group.task.done():
            group.task.cancel()
            self._forget(group)

    def _forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]
            metrics.FANOUT_GROUPS.labels(group.label).dec()


# The role the current task plays: a transport's operation starting (``Operation``), or a group's execution.
_ROLE: ContextVar[Operation | Group | None] = ContextVar("fanout_role", default=None)


def current_operation() -> Operation | None:
    role = _ROLE.get()
    return role if isinstance(role, Operation) else None


def set_operation(operation: Operation) -> None:
    """Called by a transport in the task that runs the operation, before the operation starts."""
    _ROLE.set(operation)


async def stream(info: Info, scope: str, make: Callable[[], Shared[T]]) -> AsyncGenerator[T, None]:
    """What a grouped subscription resolver returns, after validating its arguments: for a transport's
    operation, its snapshot (it is then a member of its group); for the group's own execution, the live items."""
    role = _ROLE.get()
    if isinstance(role, Group):
        return role.live(make())
    if isinstance(role, Operation):
        return _items(await role.hub.join(role, scope, info))
    return _alone(info.context.bus, make())


async def _items(items: list[T]) -> AsyncGenerator[T, None]:
    for item in items:
        yield item


async def _alone(bus: Bus, shared: Shared[T]) -> AsyncGenerator[T, None]:
    """The stream run for one caller with no transport around it (nothing to group with)."""
    sequence = 0
    await shared.prepare()
    async with bus.subscribe(shared.channels) as events:
        await shared.start()
        for item in await shared.snapshot():
            sequence += 1
            yield dataclasses.replace(item, sequence=sequence)  # type: ignore[type-var]
        async for batch in batches(events, shared.window):
            for item in await shared.update(batch):
                sequence += 1
                yield dataclasses.replace(item, sequence=sequence)  # type: ignore[type-var]


async def run_grouped(
    operation: Operation, source: AsyncGenerator[object, None], emit: Callable[[object], Awaitable[None]]
) -> bool:
    """Run one operation on a transport: its own results (the whole stream of an ungrouped operation, the
    snapshot of a grouped one) go through ``emit``; a grouped one then follows its group until the group ends.
    True when the operation ran to its end (the transport then completes it)."""
    async with contextlib.aclosing(source):
        async for result in source:
            await emit(result)
            if not isinstance(result, ExecutionResult):
                return True
    member = operation.member
    if member is None:
        return True
    member.release(operation.snapshot_length)
    await member.ended
    return not member.left
