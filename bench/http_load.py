"""HTTP throughput and latency of one GraphQL query at fixed concurrency levels.

Two load clients, each worker sending its next request as soon as the previous one is answered:

``streams`` (default): one keep-alive HTTP/1.1 connection per worker on asyncio streams, sending a body
encoded once. On this 2-core machine the bench shares the CPUs with the server, and the client must cost
as little as possible: httpx spends milliseconds of CPU per request, and more as its pool grows (at 50
connections it topped out near 110 req/s even on /health, where this client reached ~4000 req/s).

``httpx``: one shared ``httpx.AsyncClient`` with a pool sized to the concurrency, as a typical Python
consumer would call the API; kept for comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx
import orjson

from graphql_api.client import GraphQLClient

from .console import progress
from .server import ServerProcess
from .stats import percentiles

QUERY = "{ instruments { symbol name assetIndex base quote tickSize lotSize } }"
# Encoded once: the client's cost per request should be the request, not JSON-encoding the same body.
_BODY = orjson.dumps({"query": QUERY, "variables": {}})
REQUEST_TIMEOUT = 30.0

LoadClient = Literal["streams", "httpx"]
# One worker's way to send the query: None for a good answer, else a short name for what went wrong.
Send = Callable[[], Awaitable[str | None]]
# What one keep-alive request can fail of: the connection, the deadline, or a malformed answer.
CONNECTION_FAILURES = (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError)


@dataclass
class HttpLevelResult:
    concurrency: int
    client: str
    requests: int
    ok: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    server_cpu_percent: float | None
    client_cpu_percent: float
    error_kinds: dict[str, int] = field(default_factory=dict)


def judge_field(name: str) -> Callable[[int, bytes], str | None]:
    """A judge of one answer: None when it is a 200 without errors whose ``data.<name>`` is not empty, else a
    short name for what went wrong."""

    def judge(status: int, content: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            return "invalid JSON"
        if body.get("errors"):
            return "GraphQL errors"
        if not (body.get("data") or {}).get(name):
            return f"no {name}"
        return None

    return judge


_judge = judge_field("instruments")


class KeepAliveConnection:
    """POSTs to /graphql over one HTTP/1.1 connection, reconnecting when the server closes it.

    ``headers`` go with every request (an ``Authorization`` for a signed-in worker); ``post`` may add more.
    """

    def __init__(self, host: str, port: int, headers: Mapping[str, str] | None = None) -> None:
        self._host = host
        self._port = port
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._head = f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
        # The instruments query, encoded once with its headers.
        self._query_request = self._request(_BODY)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def _request(self, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        return f"{self._head}{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def send(self) -> str | None:
        """The instruments query: None for a good answer, else what went wrong."""
        try:
            status, content = await self._round_trip(self._query_request)
        except CONNECTION_FAILURES as exc:
            return type(exc).__name__
        return _judge(status, content)

    async def post(self, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """Status and body of one POST of ``body``; raises one of CONNECTION_FAILURES (and closes) on failure."""
        return await self._round_trip(self._request(body, headers))

    async def _round_trip(self, request: bytes) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if self._writer is None:
                    await self.open()
                return await self._exchange(request)
        except CONNECTION_FAILURES:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        reader = self._reader
        self._writer.write(request)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed by the server")
        parts = status_line.split(maxsplit=2)
        if len(parts) < 2:
            raise ValueError(f"malformed status line {status_line!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep_alive = True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                keep_alive = value != b"close"
        if chunked:
            content = await self._read_chunked(reader)
        elif length is not None:
            content = await reader.readexactly(length)
        else:
            raise ValueError("response without Content-Length or chunked framing")
        if not keep_alive:
            self.close()
        return status, content

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks = []
        while size := int((await reader.readline()).split(b";", 1)[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readline() not in (b"\r\n", b""):
            pass  # trailers
        return b"".join(chunks)


@contextlib.asynccontextmanager
async def _senders(kind: LoadClient, server: ServerProcess, concurrency: int) -> AsyncIterator[list[Send]]:
    if kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=REQUEST_TIMEOUT) as http:

            async def send() -> str | None:
                try:
                    response = await http.post("/graphql", content=_BODY, headers=headers)
                except httpx.HTTPError as exc:
                    return type(exc).__name__
                return _judge(response.status_code, response.content)

            yield [send] * concurrency
    else:
        connections = [KeepAliveConnection("127.0.0.1", server.port) for _ in range(concurrency)]
        try:
            yield [c.send for c in connections]
        finally:
            for c in connections:
                c.close()


async def load(senders: list[Send], total: int, latencies: list[float], errors: Counter[str]) -> None:
    """``total`` requests spread over the senders, each sending its next as soon as one is answered."""
    remaining = total

    async def worker(send: Send) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            failure = await send()
            elapsed = time.perf_counter() - started
            if failure is None:
                latencies.append(elapsed * 1000)
            else:
                errors[failure] += 1

    await asyncio.gather(*(worker(send) for send in senders))


async def check_query(server: ServerProcess) -> int:
    """Run the query once through the project's client; the number of instruments it returns."""
    async with GraphQLClient(server.url) as client:
        body = await client.execute(QUERY)
    if body.get("errors"):
        raise RuntimeError(f"instruments query failed: {body['errors']}")
    instruments: list[object] = body["data"]["instruments"]
    return len(instruments)


async def run_level(
    server: ServerProcess, kind: LoadClient, concurrency: int, requests: int, warmup: int
) -> HttpLevelResult:
    async with _senders(kind, server, concurrency) as senders:
        # Warm-up also opens every connection, so connection setup stays out of the figures.
        await load(senders, max(warmup, 2 * concurrency), [], Counter())
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        server_cpu_before = server.cpu_seconds()
        client_cpu_before = time.process_time()
        started = time.perf_counter()
        await load(senders, requests, latencies, errors)
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu_before
        server_cpu_after = server.cpu_seconds()
    server_cpu = None if server_cpu_before is None or server_cpu_after is None else server_cpu_after - server_cpu_before
    pct = percentiles(latencies, (50, 95, 99))
    return HttpLevelResult(
        concurrency=concurrency,
        client=kind,
        requests=requests,
        ok=len(latencies),
        errors=sum(errors.values()),
        seconds=seconds,
        requests_per_second=requests / seconds,
        p50_ms=pct["p50"],
        p95_ms=pct["p95"],
        p99_ms=pct["p99"],
        server_cpu_percent=None if server_cpu is None else 100 * server_cpu / seconds,
        client_cpu_percent=100 * client_cpu / seconds,
        error_kinds=dict(errors),
    )


async def run_http(
    server: ServerProcess, kind: LoadClient, levels: tuple[int, ...], requests: int, warmup: int
) -> tuple[int, list[HttpLevelResult]]:
    instruments = await check_query(server)
    results = []
    for concurrency in levels:
        progress(f"  http ({kind}): concurrency {concurrency}, {requests} requests")
        results.append(await run_level(server, kind, concurrency, requests, warmup))
    return instruments, results
