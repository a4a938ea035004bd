"""The anchors the project is measured against, each a server process of its own on a loopback port.

``python -m bench.anchors strawberry --port P``: bare strawberry on the same Starlette/uvicorn stack,
answering ``{ hello }`` with the parser and validation caches on — the ceiling of the framework, what a
query costs when it does nothing but be GraphQL.

``python -m bench.anchors fanout --port P --interval S``: a minimal graphql-transport-ws server that,
every ``interval`` seconds, serialises one ``priceTicks``-shaped event once and sends that same frame to
every subscribed socket — the ceiling of the wire, what fan-out costs when nothing is executed per socket.

PostGraphile v4 (``bench/postgraphile``, installed from the npm registry with its committed lock file) is
the third anchor, started by ``compare.py`` on the project's own PostgreSQL tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def strawberry_app() -> Starlette:
    schema = strawberry.Schema(query=Query, extensions=[ParserCache(maxsize=1024), ValidationCache(maxsize=1024)])
    graphql = GraphQL[None, None](schema, graphql_ide=None)
    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])])


class FanOut:
    """Sockets subscribed to the one stream, and the ticker that sends them the same serialised frame."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.subscribers: dict[WebSocket, str] = {}
        self.price = Decimal("100000.00")
        self.sequence = 0

    def _event(self, *, snapshot: bool) -> str:
        tick = {
            "symbol": "BTC",
            "price": str(self.price),
            "timestamp": datetime.now(UTC).isoformat(),
            "sequence": self.sequence,
            "snapshot": snapshot,
        }
        return orjson.dumps({"data": {"priceTicks": tick}}).decode()

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        try:
            while True:
                message = orjson.loads(await websocket.receive_text())
                kind = message.get("type")
                if kind == "connection_init":
                    await websocket.send_text('{"type":"connection_ack"}')
                elif kind == "ping":
                    await websocket.send_text('{"type":"pong"}')
                elif kind == "subscribe":
                    # Streams open with a snapshot, as the project's do (serialised per socket: once each).
                    snapshot = self._event(snapshot=True)
                    await websocket.send_text(f'{{"type":"next","id":"{message["id"]}","payload":{snapshot}}}')
                    self.subscribers[websocket] = message["id"]
                elif kind == "complete":
                    self.subscribers.pop(websocket, None)
        except WebSocketDisconnect:
            pass
        finally:
            self.subscribers.pop(websocket, None)

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sequence += 1
            self.price += Decimal("0.01")
            # Serialised once per tick; only the subscription id (a short string) is spliced in per socket.
            payload = self._event(snapshot=False)
            head, tail = '{"type":"next","id":"', '","payload":' + payload + "}"
            for websocket, op_id in list(self.subscribers.items()):
                with contextlib.suppress(Exception):  # a socket gone mid-send is simply not delivered to
                    await websocket.send_text(head + op_id + tail)


def fanout_app(interval: float) -> Starlette:
    fanout = FanOut(interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(fanout.ticker())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return Starlette(routes=[WebSocketRoute("/graphql", fanout.endpoint)], lifespan=lifespan)


async def _ready(_request: Request) -> Response:
    return JSONResponse({"status": "ready"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.anchors")
    parser.add_argument("kind", choices=("strawberry", "fanout"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args(argv)
    app = strawberry_app() if args.kind == "strawberry" else fanout_app(args.interval)
    app.router.routes.append(Route("/ready", _ready))
    # The server configuration of `python -m graphql_api` (its websocket implementation, uvloop, httptools).
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    main()
