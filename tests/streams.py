"""Clients of the HTTP streams as their users run them: graphql-sse over httpx-sse, and Apollo's multipart
subscription protocol read part by part from the raw response."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource, ServerSentEvent

from .support import ServerHandle

MULTIPART_ACCEPT = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
_DELIMITER = "\r\n--graphql"


class SSEStream:
    """One graphql-sse event stream; ``next_event`` waits for the next event with a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = EventSource(response).aiter_sse()

    async def next_event(self, timeout: float = 10) -> ServerSentEvent:
        return await asyncio.wait_for(anext(self._events), timeout)

    async def next_data(self, timeout: float = 10) -> dict[str, Any]:
        """The payload of the next ``next`` event (the protocol's ExecutionResult)."""
        event = await self.next_event(timeout)
        assert event.event == "next", event
        data: dict[str, Any] = orjson.loads(event.data)
        return data

    async def ended(self, timeout: float = 10) -> bool:
        """Whether the server ends the response (no further event) within ``timeout``."""
        with contextlib.suppress(StopAsyncIteration):
            event = await self.next_event(timeout)
            raise AssertionError(f"expected the end of the stream, got {event}")
        return True


@contextlib.asynccontextmanager
async def sse(
    server: ServerHandle,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    cookies: Mapping[str, str] | None = None,
) -> AsyncIterator[SSEStream]:
    """A distinct-connections graphql-sse stream of one operation."""
    body = {"query": query, "variables": dict(variables or {})}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, cookies=dict(cookies or {})) as http:
        request = http.build_request(
            method,
            "/graphql",
            headers={"Accept": "text/event-stream", **(headers or {})},
            **({"json": body} if method == "POST" else {"params": {"query": query}}),  # type: ignore[arg-type]
        )
        response = await http.send(request, stream=True)
        try:
            yield SSEStream(response)
        finally:
            await response.aclose()


class MultipartStream:
    """One multipart subscription: ``next_part`` is the next JSON part (a heartbeat is ``{}``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._parts = self._read()

    async def _read(self) -> AsyncIterator[dict[str, Any]]:
        buffer = ""
        async for text in self.response.aiter_text():
            buffer += text
            while (end := buffer.find(_DELIMITER, 1)) != -1:
                part, buffer = buffer[:end], buffer[end:]
                head, _, body = part.partition("\r\n\r\n")
                assert "content-type: application/json" in head.lower(), part
                yield orjson.loads(body)

    async def next_part(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(anext(self._parts), timeout)

    async def next_payload(self, timeout: float = 10) -> dict[str, Any]:
        """The next part that is not a heartbeat; its ``payload``."""
        while not (part := await self.next_part(timeout)):
            pass
        payload: dict[str, Any] = part["payload"]
        return payload


@contextlib.asynccontextmanager
async def multipart(
    server: ServerHandle, query: str, variables: Mapping[str, Any] | None = None, *, headers: Mapping[str, str]
) -> AsyncIterator[MultipartStream]:
    """Apollo Client's multipart subscription: a POST accepting ``multipart/mixed;subscriptionSpec=1.0``."""
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        http.stream(
            "POST",
            "/graphql",
            json={"query": query, "variables": dict(variables or {})},
            headers={"Accept": MULTIPART_ACCEPT, **headers},
        ) as response,
    ):
        yield MultipartStream(response)
