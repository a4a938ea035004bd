"""A small GraphQL client for this API: queries over HTTP and subscriptions over graphql-transport-ws.

Used by the tests and the benchmarks, and usable by any Python service that consumes the streams.
It speaks the protocol as Apollo's GraphQLWsLink does: connection_init (optionally with an
``authorization`` payload), connection_ack, subscribe/next/error/complete, ping/pong.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .units import Seconds

PROTOCOL = Subprotocol("graphql-transport-ws")


class GraphQLResponseError(AssertionError):
    """A response carried GraphQL errors where data was expected."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(orjson.dumps(errors).decode())
        self.errors = errors


class SubscriptionError(Exception):
    """The server answered a subscribe with an ``error`` message (payload: a list of GraphQL errors)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(orjson.dumps(errors).decode())
        self.errors = errors


class GraphQLClient:
    """``execute``/``query`` authenticate only by the headers given (an app with a bearer token); pass
    ``keep_cookies=True`` to behave like a browser that keeps the session cookies it is sent."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: Seconds = 10,
        keep_cookies: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.keep_cookies = keep_cookies
        self.http = httpx.AsyncClient(base_url=self.base_url, headers=dict(headers or {}), timeout=timeout)

    async def __aenter__(self) -> GraphQLClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body ({data, errors}) of a POST."""
        response = await self.http.post("/graphql", json={"query": query, "variables": dict(variables or {})})
        if not self.keep_cookies:
            self.http.cookies.clear()
        body: dict[str, Any] = response.json()
        return body

    async def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``data`` of a POST that must succeed; raises GraphQLResponseError on any error."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLResponseError(body["errors"])
        data: dict[str, Any] = body["data"]
        return data


class Subscription:
    def __init__(self, socket: GraphQLWSClient, op_id: str) -> None:
        self.id = op_id
        self._socket = socket
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            payload = await self.next()
            if payload is None:
                return
            yield payload

    async def next(self, timeout: Seconds | None = None) -> dict[str, Any] | None:
        """The next ``next`` payload ({data, errors}); None once the server completed the operation."""
        message = await asyncio.wait_for(self.queue.get(), timeout)
        kind = message["type"]
        if kind == "next":
            payload: dict[str, Any] = message["payload"]
            return payload
        if kind == "error":
            raise SubscriptionError(message["payload"])
        if kind == "complete":
            return None
        raise ConnectionError(f"socket closed: {message.get('code')} {message.get('reason')}")

    async def data(self, timeout: Seconds | None = 10) -> dict[str, Any]:
        """``data`` of the next event, which must carry no errors."""
        payload = await self.next(timeout)
        if payload is None:
            raise AssertionError("subscription completed")
        if payload.get("errors"):
            raise GraphQLResponseError(payload["errors"])
        data: dict[str, Any] = payload["data"]
        return data

    async def stop(self) -> None:
        await self._socket.send({"id": self.id, "type": "complete"})
        self._socket.subscriptions.pop(self.id, None)


class GraphQLWSClient:
    """One graphql-transport-ws connection carrying any number of subscriptions."""

    def __init__(
        self,
        url: str,
        *,
        connection_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        subprotocols: list[Subprotocol] | None = None,
        ack_timeout: Seconds = 10,
    ) -> None:
        self.url = url
        self.connection_params = dict(connection_params or {})
        self.headers = dict(headers or {})
        self.subprotocols = subprotocols or [PROTOCOL]
        self.ack_timeout = ack_timeout
        self.subscriptions: dict[str, Subscription] = {}
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._acked: asyncio.Future[None] | None = None
        self.closed = asyncio.Event()

    async def __aenter__(self) -> GraphQLWSClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, *, init: bool = True) -> None:
        self._ws = await connect(
            self.url, subprotocols=self.subprotocols, additional_headers=self.headers, max_size=2**22
        )
        self._acked = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        if init:
            await self.send({"type": "connection_init", "payload": self.connection_params})
            await asyncio.wait_for(asyncio.shield(self._acked), self.ack_timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def send(self, message: Mapping[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(orjson.dumps(message).decode())

    async def subscribe(self, query: str, variables: Mapping[str, Any] | None = None) -> Subscription:
        op_id = str(next(self._ids))
        subscription = Subscription(self, op_id)
        self.subscriptions[op_id] = subscription
        await self.send(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": dict(variables or {})}}
        )
        return subscription

    async def wait_closed(self, timeout: Seconds) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def _read(self) -> None:
        assert self._ws is not None and self._acked is not None
        try:
            async for raw in self._ws:
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "connection_ack":
                    if not self._acked.done():
                        self._acked.set_result(None)
                elif kind == "ping":
                    await self.send({"type": "pong"})
                elif kind in ("next", "error", "complete"):
                    target = self.subscriptions.get(message.get("id"))
                    if target is not None:
                        target.queue.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            ws = self._ws
            if ws.close_code is not None:
                self.close_code = ws.close_code
                self.close_reason = ws.close_reason
            if not self._acked.done():
                self._acked.set_exception(
                    ConnectionError(f"closed before connection_ack: {self.close_code} {self.close_reason}")
                )
                # connect() may have stopped waiting (timeout, cancellation): mark the failure as seen so
                # asyncio does not log "Future exception was never retrieved" for every such socket.
                self._acked.exception()
            for sub in self.subscriptions.values():
                sub.queue.put_nowait({"type": "closed", "code": self.close_code, "reason": self.close_reason})
            self.closed.set()
