"""Subscriptions over plain HTTP, for users whose proxies block WebSockets.

Taken from the requests to ``/graphql`` that ask for a stream; every other request goes on to the GraphQL view:

- **graphql-sse, distinct connections mode** (https://github.com/enisdenjo/graphql-sse, PROTOCOL.md): GET or
  POST with ``Accept: text/event-stream``; the response is the operation's results as ``event: next`` (data:
  the execution result) and finally ``event: complete``. Errors before execution come as a ``next`` too, as the
  protocol asks (a 4xx would leave a browser's EventSource with nothing to show).
- **Apollo's multipart subscriptions** (``Accept: multipart/mixed;subscriptionSpec=1.0``): parts of
  ``{"payload": result}``, a ``{}`` heartbeat part every 5 s, ``{"payload": null, "errors": [...]}`` when the
  transport ends the stream.

Every operation runs through ``schema.stream``, the path graphql-transport-ws takes, so per-event
authorization, snapshot-then-delta and sequence numbers are the WebSocket's. A request authenticates as any
HTTP request does (Bearer, or the cookie under the same CSRF rule); a stream of a signed-in caller ends, with an
UNAUTHENTICATED error, as soon as its session does (``sessions.session_end``). Streams count against
MAX_SOCKETS_PER_IP and MAX_SOCKETS_PER_USER as sockets do (429 past them).

A subscription that groups (graphql_api/fanout.py) shares its group with sockets and other streams: the stream's
chunks, the group's frames included, go through the same bounded outbox as a socket's, with the same policy (a
stream left behind ends with a SLOW_CONSUMER error).

When the client goes away, the operation's task is cancelled and its result generator closed (``aclose``)
before the request returns, so its bus subscriptions are released at once rather than when the garbage
collector finds the generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from cross_web import HTTPException, StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.streaming import MultipartSubscriptionTransport, SSETransport
from strawberry.types.graphql import OperationType

from . import fanout, metrics
from .context import Context
from .errors import ServiceUnavailable, error_response, unavailable_response
from .fanout import Outbox, result_payload
from .loaders import Loaders
from .persisted import PERSISTED_CACHE_CONTROL, PersistedQueries, PersistedQueryError
from .sessions import session_end
from .settings import Settings
from .socketlimits import SocketRegistry
from .units import Seconds

log = logging.getLogger(__name__)

Payload = dict[str, Any]


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class Wire:
    """How one transport writes events; ``op_id`` is None on a stream that carries a single operation."""

    name: str
    headers: dict[str, str]
    opening: str
    heartbeat: str
    heartbeat_interval: Seconds

    def next(self, op_id: str | None, payload: Payload) -> str:
        return self.next_raw(op_id, dumps(payload))

    def next_raw(self, op_id: str | None, payload: str) -> str:
        """``next`` of a payload already serialised (a subscription group's frame)."""
        raise NotImplementedError

    def complete(self, op_id: str | None) -> str:
        raise NotImplementedError

    def failed(self, errors: list[Payload]) -> str:
        """The last words of a stream the transport ends (its session ended): the errors, then the end."""
        raise NotImplementedError


class SSEWire(Wire):
    """graphql-sse's events, written by strawberry's SSE encoder (one ``data`` line of JSON each)."""

    name = "sse"
    headers = dict(SSETransport.headers)
    # An empty comment at once: some browsers only fire ``open`` once a first chunk arrives.
    opening = ":\r\n\r\n"
    heartbeat = ":\r\n\r\n"
    heartbeat_interval = 12.0  # graphql-sse's own server pings every 12 s

    def __init__(self) -> None:
        self._encoder = SSETransport()

    def next_raw(self, op_id: str | None, payload: str) -> str:
        data = payload if op_id is None else '{"id":' + dumps(op_id) + ',"payload":' + payload + "}"
        return self._encoder.encode_event("next", data)

    def complete(self, op_id: str | None) -> str:
        return self._encoder.encode_event("complete", None if op_id is None else dumps({"id": op_id}))

    def failed(self, errors: list[Payload]) -> str:
        return self.next(None, {"errors": errors}) + self.complete(None)


class MultipartWire(Wire):
    """Apollo's multipart subscription parts, written by strawberry's multipart encoder."""

    name = "multipart"
    headers = {
        "Content-Type": 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0',
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    heartbeat_interval = 5.0  # the protocol's heartbeat

    def __init__(self) -> None:
        self._encoder = MultipartSubscriptionTransport()
        self.opening = f"--{self._encoder.separator}"
        self.heartbeat = self._part({})

    def _part(self, value: object) -> str:
        return self._encoder.encode_multipart_data(value, dumps)

    def next_raw(self, op_id: str | None, payload: str) -> str:
        return self._encoder.encode_multipart_data(None, lambda _: '{"payload":' + payload + "}")

    def complete(self, op_id: str | None) -> str:
        return "--\r\n"  # closes the last delimiter: ``--graphql--``

    def failed(self, errors: list[Payload]) -> str:
        return self._part({"payload": None, "errors": errors}) + self.complete(None)


SSE = SSEWire()
MULTIPART = MultipartWire()


def requested_wire(request: Request) -> Wire | None:
    """The stream the request's Accept asks for, if any (strawberry's own Accept parsing)."""
    accept = request.headers.get("accept", "")
    if SSETransport().accepts(accept):
        return SSE
    if MULTIPART._encoder.accepts(accept):
        return MULTIPART
    return None


def allowed_operations(method: str, wire: Wire) -> tuple[OperationType, ...]:
    """Multipart carries subscriptions only (Apollo sends the rest as plain requests); an event stream carries
    any operation but a mutation over GET (a GET must not change anything; EventSource can only GET)."""
    if wire is MULTIPART:
        return (OperationType.SUBSCRIPTION,)
    if method == "GET":
        return (OperationType.QUERY, OperationType.SUBSCRIPTION)
    return (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION)


def session_ended_errors(reason: str) -> list[Payload]:
    return [{"message": f"the stream ended: {reason}", "extensions": {"code": "UNAUTHENTICATED"}}]


def slow_consumer_errors(reason: str) -> list[Payload]:
    return [{"message": f"the stream ended: {reason}", "extensions": {"code": "SLOW_CONSUMER"}}]


class StreamEnded(Exception):
    """The client went away."""


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _write(send: Send, wire: Wire, outbox: Outbox) -> None:
    """Send what the operations put in ``outbox`` until a None, and a heartbeat whenever nothing came for an
    interval. A failed send means the client is gone."""

    async def chunk(text: str) -> None:
        try:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
        except OSError as exc:
            raise StreamEnded from exc

    await outbox.write(chunk, (wire.heartbeat_interval, wire.heartbeat))


async def _finish(*tasks: asyncio.Future[Any] | None) -> None:
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)


async def serve_stream(
    receive: Receive,
    send: Send,
    wire: Wire,
    context: Context,
    produce: Callable[[Outbox], Awaitable[None]],
    on_session_end: Callable[[str], list[str]],
    on_behind: Callable[[str], list[str]],
) -> None:
    """Answer with one event stream: ``produce`` puts the operations' chunks (and None when done) into the
    outbox, a writer sends them with heartbeats. It ends when produce is done, the client leaves, or the
    caller's session ends (``on_session_end(reason)`` gives the last chunks), or the client falls behind
    (``on_behind(reason)``); the operations are stopped and their generators closed before this returns."""
    await send({"type": "http.response.start", "status": 200, "headers": _raw_headers(wire.headers)})
    behind: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def fell_behind(reason: str) -> None:
        if not behind.done():
            behind.set_result(reason)

    outbox = Outbox(context.settings.stream_send_queue, fell_behind)
    await outbox.put(wire.opening)
    producer = asyncio.ensure_future(produce(outbox))
    writer = asyncio.ensure_future(_write(send, wire, outbox))
    gone = asyncio.ensure_future(_disconnected(receive))
    principal = context.principal
    ended = asyncio.ensure_future(session_end(context.settings, principal)) if principal else None
    try:
        with metrics.LIVE_CONNECTIONS.labels(wire.name).track_inprogress():
            watched: set[asyncio.Future[Any]] = {producer, writer, gone, behind}
            if ended is not None:
                watched.add(ended)
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if producer in done and not producer.cancelled() and producer.exception() is not None:
                log.error("%s stream failed", wire.name, exc_info=producer.exception())
            elif producer in done:
                done, _ = await asyncio.wait(watched - {producer}, return_when=asyncio.FIRST_COMPLETED)
            if behind in done and not gone.done():
                log.info("ending a %s stream: %s", wire.name, behind.result())
                await _finish(producer, writer)
                # Straight to the wire: the outbox is what is full. A client that reads again gets it.
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(5):
                        for chunk in on_behind(behind.result()):
                            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
            elif principal is not None and ended is not None and ended in done and not gone.done():
                reason = ended.result()
                log.info("ending the %s stream of session %s: %s", wire.name, principal.session_id, reason)
                await _finish(producer)
                for chunk in on_session_end(reason):
                    await outbox.put(chunk)
                await outbox.put(None)
                await asyncio.wait({writer, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _finish(producer, writer, ended, behind)
        if not gone.done():
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        await _finish(gone)


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


class StreamSupport:
    """What every HTTP stream needs from the application: the view (its schema, request parsing and context),
    the settings and the connection caps."""

    def __init__(
        self,
        view: GraphQL[Context, None],
        settings: Settings,
        registry: SocketRegistry,
        persisted: PersistedQueries | None = None,
    ) -> None:
        self.view = view
        self.settings = settings
        self.registry = registry
        self.persisted = persisted

    async def context(self, request: Request) -> Context:
        """The caller, authenticated as for any HTTP request, on a context that may run subscriptions; loaders
        that batch without caching, since the context lives as long as the stream (as a socket's does)."""
        context: Context = await self.view.get_context(request, None)  # type: ignore[arg-type]
        context.loaders = Loaders(cache=False)
        context.streaming = True
        return context

    async def operation(self, request: Request) -> GraphQLRequestData:
        data = await self.view.parse_http_body(StarletteRequestAdapter(request))
        if isinstance(data, list):
            raise HTTPException(400, "a stream carries one operation, not a batch")
        return await self.persisted.resolve(data) if self.persisted is not None else data

    def run(
        self, context: Context, data: GraphQLRequestData, allowed: tuple[OperationType, ...]
    ) -> Awaitable[AsyncGenerator[object, None]]:
        return self.view.schema.stream(
            data.query,
            variable_values=data.variables,
            context_value=context,
            operation_name=data.operation_name,
            operation_extensions=data.extensions,
            allowed_operation_types=allowed,
        )

    @contextlib.asynccontextmanager
    async def admitted(self, request: Request, context: Context) -> AsyncIterator[Response | None]:
        """Hold a connection place while the stream is open; yields the refusal (429) when there is none."""
        address = context.client.ip
        user = context.principal.user_id if context.principal else None
        refused = self.registry.admit(self.settings, address, user)
        if refused is not None:
            yield error_response(refused, "CONNECTION_LIMIT_EXCEEDED", 429)
            return
        try:
            yield None
        finally:
            self.registry.release(address, user)


class HTTPStreams:
    """The ASGI app on ``/graphql``: streams for the requests that ask for one, the GraphQL view for the rest."""

    def __init__(self, support: StreamSupport) -> None:
        self.support = support

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        wire = requested_wire(request)
        if wire is None or request.method not in ("GET", "POST"):
            await self.support.view(scope, receive, send)
            return
        try:
            response = await self._distinct(request, wire, send)
        except HTTPException as exc:
            response = error_response(exc.reason, "BAD_REQUEST", exc.status_code)
        except ServiceUnavailable:
            response = unavailable_response()
        except PersistedQueryError as exc:
            headers = {"Cache-Control": PERSISTED_CACHE_CONTROL}
            response = error_response(exc.message, exc.code, exc.status, headers=headers)
        if response is not None:
            await response(scope, receive, send)

    async def _distinct(self, request: Request, wire: Wire, send: Send) -> Response | None:
        """One operation on its own stream; None once the stream has been answered."""
        support = self.support
        data = await support.operation(request)
        context = await support.context(request)
        allowed = allowed_operations(request.method, wire)
        async with support.admitted(request, context) as refused:
            if refused is not None:
                return refused

            async def produce(outbox: Outbox) -> None:
                hub = context.fanout
                assert hub is not None
                operation = fanout.Operation(
                    hub, data.query or "", data.variables, data.operation_name, outbox, lambda p: wire.next_raw(None, p)
                )
                fanout.set_operation(operation)
                source = await support.run(context, data, allowed)

                async def emit(result: object) -> None:
                    await outbox.put(wire.next(None, result_payload(result)))

                try:
                    await fanout.run_grouped(operation, source, emit)
                finally:
                    hub.leave(operation)
                await outbox.put(wire.complete(None))
                await outbox.put(None)

            def last_words(reason: str) -> list[str]:
                return [wire.failed(session_ended_errors(reason))]

            def behind(reason: str) -> list[str]:
                return [wire.failed(slow_consumer_errors(reason))]

            await serve_stream(request.receive, send, wire, context, produce, last_words, behind)
        return None
