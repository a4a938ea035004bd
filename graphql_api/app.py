"""The application factory: Starlette routes, the GraphQL view, and the lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from cross_web import HTTPException
from redis import asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from schema import build_schema

from . import db, sessions
from .auth import SESSIONS, AuthenticationFailed
from .cachecontrol import NO_STORE, PRIVATE_NO_STORE, etag_matches, etag_of
from .context import Context
from .deadline import NOT_EXECUTED, Deadline, DeadlineExceeded, current_deadline
from .engine.adapters import AdapterRegistry
from .engine.bots import BotRunner
from .engine.copying import CopyDispatcher
from .engine.equity import snapshot_equity
from .engine.feed import MarketFeed
from .engine.lease import FileLease, Lease, PostgresLease
from .engine.matching import PaperEngine
from .engine.ticks import Marks, TickConsumers
from .engine.trading_sessions import SessionRunner
from .errors import RETRY_AFTER, ServiceUnavailable, database_unavailable, error_response, unavailable_response
from .exports import audit_log_export
from .fanout import Fanout
from .graphiql import graphiql_assets, graphiql_page
from .headers import SecurityHeaders, security_headers
from .httpstreams import HTTPStreams, StreamSupport
from .loaders import Loaders
from .metrics import metrics_endpoint
from .observability import RequestId
from .persisted import PERSISTED_CACHE_CONTROL, PersistedQueries, PersistedQueryError
from .pubsub import Bus
from .ratelimit import WindowCounters
from .services import alerts, compliance, deadman, vaults
from .services.alerts import delivery, prices
from .services.indicators import SignalRecorder
from .settings import Settings, redact_url
from .socketlimits import USER_SCOPE_KEY, SocketLimits, SocketRegistry
from .tracing import Tracing
from .wshandler import GroupedTransportWS

log = logging.getLogger(__name__)
# How long start-up waits for the credentials listener to subscribe before failing loudly.
LISTENER_READY_TIMEOUT = 10.0
# How often the feed leader looks for vaults whose fee period ended.
VAULT_FEE_CHECK_SECONDS = 5.0


class Resources:
    """What the lifespan opens and closes; handed to every request through ``app.state``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = Bus(settings.broadcast_url, settings.broadcast_namespace)
        # Rate-limit counters live in Redis when the bus does, so every process sees the same counts.
        self.redis = (
            aioredis.Redis.from_url(settings.broadcast_url, socket_connect_timeout=2, socket_timeout=2)
            if self.bus.kind == "redis"
            else None
        )
        self.counters = WindowCounters(self.redis, prefix=f"{settings.broadcast_namespace}:rl")
        self.engine = PaperEngine(settings, self.bus)
        self.adapters = AdapterRegistry()
        self.sockets = SocketRegistry()
        self.fanout = Fanout(settings.stream_send_queue)
        self._next_snapshot = 0.0
        self.after_tick = TickConsumers()
        self.after_tick.register("matching", self._match)
        self.after_tick.register("equity_snapshots", self._snapshot_equity)
        self.after_tick.register("signals", SignalRecorder(self.bus, settings.feed_seed))
        self.after_tick.register("compliance_violations", self._publish_violations)
        self.after_tick.register("dead_mans_switch", self._sweep_dead_mans_switches)
        self.after_tick.register("liquidations", self.engine.perps.liquidate)
        self.after_tick.register("funding", self.engine.perps.fund)
        self.after_tick.register("price_alerts", self._evaluate_price_alerts)
        self.after_tick.register("alerts", self._publish_alerts)
        self.after_tick.register("vault_fees", self._crystallize_vault_fees)
        self._next_vault_check = 0.0
        self.feed: MarketFeed | None = None
        self.bots: BotRunner | None = None
        self.sessions: SessionRunner | None = None
        self.copying: CopyDispatcher | None = None
        self.database_ping: asyncio.Future[None] | None = None
        self.dispatcher: asyncio.Task[None] | None = None

    async def _match(self, marks: Marks) -> None:
        """Fill resting orders and trigger stops the new prices reach."""
        await self.engine.publish(await self.engine.on_tick(marks))

    async def _snapshot_equity(self, marks: Marks) -> None:
        """Record every account's equity when the snapshot interval has passed."""
        now = time.monotonic()
        if now >= self._next_snapshot:
            self._next_snapshot = now + self.settings.equity_snapshot_interval
            await snapshot_equity(datetime.now(UTC))

    async def _publish_violations(self, marks: Marks) -> None:
        """Publish the compliance violations that committed order transactions raised (their outbox)."""
        await compliance.publish_raised(self.bus)

    async def _sweep_dead_mans_switches(self, marks: Marks) -> None:
        """Fire the dead-man switches whose deadline passed without a heartbeat."""
        await deadman.sweep(self.engine, self.bus)

    async def _evaluate_price_alerts(self, marks: Marks) -> None:
        """Fire the price alerts the new marks meet."""
        await prices.evaluate(self.bus, marks)

    async def _publish_alerts(self, marks: Marks) -> None:
        """Publish the alerts committed transactions raised that no producer announced (their outbox)."""
        await alerts.publish_pending(self.bus)

    async def _crystallize_vault_fees(self, marks: Marks) -> None:
        """Charge the performance fee of every vault whose fee period ended (checked every few seconds)."""
        now = time.monotonic()
        if now >= self._next_vault_check:
            self._next_vault_check = now + VAULT_FEE_CHECK_SECONDS
            await vaults.crystallize_due(datetime.now(UTC))

    def lease(self) -> Lease:
        if self.settings.is_sqlite:
            return FileLease(self.settings.data_dir / "market_feed.lock")
        return PostgresLease(self.settings.libpq_db_url, "mktfeed")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's view, answering every refusal as a GraphQL error with a code (never plain text); it runs
    persisted queries (persisted.py) and batches (a JSON array of operations, at most MAX_BATCH_SIZE)."""

    persisted: PersistedQueries

    graphql_transport_ws_handler_class = GroupedTransportWS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        resources: Resources = scope["app"].state.resources
        response = await self._within_deadline(Request(scope, receive), resources.settings)
        await response(scope, receive, send)

    async def _within_deadline(self, request: Request, settings: Settings) -> Response:
        """The response, or DEADLINE_EXCEEDED once the request's deadline passes with nothing committed
        (the request then goes on in the background, where a commit is refused: see deadline.py).
        PostgreSQL only: there every commit clears the deadline first (pgengine); an embedded SQLite file
        has no network to go quiet, and its commits are not guarded, so it is never told "not executed"."""
        if settings.is_sqlite:
            return await self._respond(request)
        deadline = Deadline(settings.request_deadline)
        token = current_deadline.set(deadline)
        try:
            task = asyncio.ensure_future(self._respond(request))  # runs in a copy of the context: the deadline
        finally:
            current_deadline.reset(token)
        await asyncio.wait({task}, timeout=deadline.remaining())
        if not task.done() and deadline.close():
            task.add_done_callback(_collect_late)
            log.warning("request past its %ss deadline answered as not executed", settings.request_deadline)
            return error_response(NOT_EXECUTED, DeadlineExceeded.code, 504)
        return await task  # done, or a commit has begun: its outcome is the answer

    async def _respond(self, request: Request) -> Response:
        try:
            return _cache_headers(request, await self.run(request))
        except HTTPException as exc:
            return _transport_error(exc)
        except ServiceUnavailable:
            return unavailable_response()

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that names its query by hash (persisted queries) is an operation, not a visit to the IDE.
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses bytes that are not UTF-8 with a JSONDecodeError, which the view answers with 400.
        value = orjson.loads(data)
        # The body (bytes) must be a request object (or a batch); query-string parts (str) may be any JSON.
        if isinstance(data, bytes) and not isinstance(value, dict | list):
            raise HTTPException(400, "the request body must be a JSON object with a query")
        if isinstance(data, bytes) and isinstance(value, list):
            cap = self.schema.config.batching_config["max_operations"]  # type: ignore[index]
            if not value or len(value) > cap:
                raise HTTPException(
                    400, f"a batch carries 1 to {cap} operations (MAX_BATCH_SIZE); this one has {len(value)}"
                )
            if not all(isinstance(item, dict) for item in value):
                raise HTTPException(400, "every operation of a batch must be a JSON object with a query")
        return value

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """A batch runs its operations one after another, in order, each charged to the rate limits as a request
        of its own and its cost added to the batch's (one budget, MAX_QUERY_COST, for the whole batch)."""
        if not isinstance(request_data, list):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        context.batch_cost = 0
        return [
            await self.execute_single(request, request_adapter, sub_response, context, root_value, data)
            for data in request_data
        ]

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            request_data = await self.persisted.resolve(request_data)
        except PersistedQueryError as exc:
            if context.batch_cost is None:  # the whole response: its status is the refusal's (a batch's is 200)
                sub_response.status_code = exc.status
                sub_response.headers["Cache-Control"] = PERSISTED_CACHE_CONTROL
            return ExecutionResult(data=None, errors=[exc])
        return await super().execute_single(request, request_adapter, sub_response, context, root_value, request_data)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        results = response_data if isinstance(response_data, list) else [response_data]
        errors = [cast(dict[str, Any], e) for r in results for e in r.get("errors") or ()]
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if ServiceUnavailable.code in codes:
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER)
        elif DeadlineExceeded.code in codes:
            response.status_code = 504
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        resources: Resources = request.app.state.resources
        context = Context(
            request=request,
            response=response,
            settings=resources.settings,
            bus=resources.bus,
            feed=resources.feed,
            counters=resources.counters,
            engine=resources.engine,
            adapters=resources.adapters,
            loaders=Loaders(cache=isinstance(request, Request)),
            fanout=resources.fanout,
        )
        if isinstance(request, Request):
            request.state.graphql_context = context  # read by _cache_headers once the response is made
            try:
                await sessions.authenticate_http(context)
            except Exception as exc:
                if database_unavailable(exc):
                    log.warning("database unavailable while checking a session: %r", exc)
                    raise ServiceUnavailable("the database is unavailable") from exc
                raise
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a socket from connection_init (or its cookie); a bad credential closes it with 4403."""
        try:
            await sessions.authenticate_websocket(context)
        except AuthenticationFailed as exc:
            log.info("websocket refused: %s", exc)
            raise ConnectionRejectionError({"message": str(exc)}) from None
        if context.principal is not None:
            context.request.scope[USER_SCOPE_KEY] = context.principal.user_id  # counted per user by SocketLimits
            sessions.watch_socket(context)
        return UNSET


def _cache_headers(request: Request, response: Response) -> Response:
    """Cache-Control (and ETag, 304) of a GraphQL response, as graphql_api/cachecontrol.py sets out."""
    context: Context | None = getattr(request.state, "graphql_context", None)
    if context is None or "cache-control" in response.headers or response.media_type != "application/json":
        return response
    policy = context.cache_policy
    if context.principal is not None or (policy is not None and policy.private):
        response.headers["Cache-Control"] = PRIVATE_NO_STORE
        return response
    public = (
        request.method == "GET"
        and response.status_code == 200
        and policy is not None
        and policy.cacheable
        and "errors" not in orjson.loads(response.body)
    )
    if not public:
        response.headers["Cache-Control"] = NO_STORE
        return response
    assert policy is not None
    etag = etag_of(bytes(response.body))
    headers = {"Cache-Control": f"public, max-age={policy.max_age}", "ETag": etag, "Vary": "Accept"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        kept = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        return Response(status_code=304, headers={**kept, **headers})
    response.headers.update(headers)
    return response


def _collect_late(task: asyncio.Future[Response]) -> None:
    # The client was answered at the deadline; what the request did afterwards is only logged.
    if not task.cancelled() and task.exception() is not None:
        log.info("request finished after its deadline: %r", task.exception())


class BodySizeLimit:
    """Refuses request bodies over ``limit`` bytes with 413, whether or not Content-Length is declared."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    return error_response(f"request body exceeds {limit} bytes", "PAYLOAD_TOO_LARGE", 413)


_TRANSPORT_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


def _transport_error(exc: HTTPException) -> Response:
    if isinstance(exc.__cause__, InvalidOperationTypeError):
        # A mutation sent by GET: the method is what is wrong (GraphQL over HTTP), and POST is the one allowed.
        return error_response(exc.reason, "METHOD_NOT_ALLOWED", 405, headers={"Allow": "POST"})
    return error_response(exc.reason, _TRANSPORT_CODES.get(exc.status_code, "BAD_REQUEST"), exc.status_code)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    """Routing refusals (unknown path, wrong method) in the same format as the API's own."""
    assert isinstance(exc, StarletteHTTPException)
    headers = {"Allow": exc.headers["Allow"]} if exc.headers and "Allow" in exc.headers else None
    return error_response(exc.detail, _TRANSPORT_CODES.get(exc.status_code, "BAD_REQUEST"), exc.status_code, headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette's ServerErrorMiddleware logs the exception and then sends this.
    resources: Resources = request.app.state.resources
    headers = security_headers(resources.settings)
    return error_response("Internal server error.", "INTERNAL_SERVER_ERROR", 500, headers=headers)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """Ready when the database and the bus answer; the body says which does not."""
    resources: Resources = request.app.state.resources
    checks: dict[str, Any] = {}
    # One ping in flight at a time, never cancelled (statements finish before a cancellation lands, see
    # pgengine): a probe that times out reports it and leaves the ping for the next probe to read.
    ping = resources.database_ping
    if ping is None or ping.done():
        ping = resources.database_ping = asyncio.ensure_future(db.ping_database())
        ping.add_done_callback(lambda done: done.cancelled() or done.exception())  # read even if no probe does
    await asyncio.wait({ping}, timeout=2)
    if not ping.done():
        checks["database"] = {"ok": False, "error": "TimeoutError"}
    elif ping.exception() is not None:  # any failure to answer means not ready; reported, not raised
        checks["database"] = {"ok": False, "error": type(ping.exception()).__name__}
    else:
        checks["database"] = {"ok": True}
    checks["bus"] = {"ok": resources.bus.healthy, "kind": resources.bus.kind}
    feed = resources.feed
    if feed is not None:
        checks["feed"] = {
            "ok": True,
            "role": feed.role,
            "lastTickAt": feed.last_tick_at.isoformat() if feed.last_tick_at else None,
        }
    ok = checks["database"]["ok"] and checks["bus"]["ok"]
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    resources = Resources(settings)
    tracing = Tracing(os.environ) if settings.tracing else None
    SESSIONS.ttl = settings.session_cache_ttl

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "starting (%s): database %s, bus %s",
            settings.app_env,
            redact_url(settings.database_url),
            redact_url(settings.broadcast_url),
        )
        await db.open_database(settings)
        try:
            await resources.bus.connect()
            listening = asyncio.Event()
            credentials = asyncio.create_task(
                sessions.forget_changed_credentials(resources.bus, listening), name="credentials-cache"
            )
            try:
                # Serving before the listener is subscribed would cache sessions whose end this process
                # could miss (a logout on another process in that window), for the whole cache ttl.
                await asyncio.wait_for(listening.wait(), timeout=LISTENER_READY_TIMEOUT)
                if settings.feed_enabled:
                    resources.feed = MarketFeed(
                        resources.bus,
                        resources.lease(),
                        seed=settings.feed_seed,
                        interval=settings.feed_interval,
                        standby_poll=settings.feed_leader_poll,
                        after_tick=resources.after_tick,
                    )
                    resources.feed.start()
                if settings.bots_enabled:
                    resources.bots = BotRunner(
                        resources,
                        ttl=timedelta(seconds=settings.bot_lease_ttl),
                        renew=timedelta(seconds=settings.bot_lease_renew),
                    )
                    resources.bots.start()
                if settings.session_engine_enabled:
                    resources.sessions = SessionRunner(
                        resources,
                        ttl=timedelta(seconds=settings.session_lease_ttl),
                        renew=timedelta(seconds=settings.session_lease_renew),
                        interval=timedelta(seconds=settings.session_engine_interval),
                    )
                    resources.sessions.start()
                if settings.copying_enabled:
                    resources.copying = CopyDispatcher(
                        resources,
                        interval=timedelta(seconds=settings.copy_dispatch_interval),
                        ttl=timedelta(seconds=settings.copy_claim_ttl),
                        concurrency=settings.copy_concurrency,
                    )
                    resources.copying.start()
                if settings.delivery_interval > 0:
                    resources.dispatcher = asyncio.create_task(
                        delivery.Dispatcher(settings).run_forever(), name="alert-delivery"
                    )
                yield
            finally:
                if resources.dispatcher is not None:
                    resources.dispatcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await resources.dispatcher
                if resources.copying is not None:
                    await resources.copying.stop()
                if resources.bots is not None:
                    await resources.bots.stop()
                if resources.sessions is not None:
                    await resources.sessions.stop()
                credentials.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await credentials
                if resources.feed is not None:
                    await resources.feed.stop()
                await resources.bus.disconnect()
                if resources.redis is not None:
                    await resources.redis.aclose()
        finally:
            await db.close_database()
            if tracing is not None:
                tracing.shutdown()

    graphql = GraphQLApp(
        build_schema(settings),
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=True,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout),
        allowed_origins=settings.cors_origins,
    )
    graphql.persisted = persisted = PersistedQueries(settings, resources.redis)
    middleware = [
        Middleware(RequestId),
        *([Middleware(tracing.wrap)] if tracing is not None else []),
        Middleware(SecurityHeaders, settings=settings),
        Middleware(BodySizeLimit, limit=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_credentials=True,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Apollo-Require-Preflight",
                    "X-CSRF-Token",
                    "X-Request-ID",
                    # Apollo Client's client awareness, and W3C trace context from an instrumented browser.
                    "apollographql-client-name",
                    "apollographql-client-version",
                    "traceparent",
                    "tracestate",
                ],
                expose_headers=["ETag", "X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"],
            )
        )
    resources.fanout.use(graphql.schema)
    streams = HTTPStreams(StreamSupport(graphql, settings, resources.sockets, persisted))
    app = Starlette(
        routes=[
            Route("/graphql", streams, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", sessions.closing_watchers(SocketLimits(graphql, settings, resources.sockets))),
            Route("/exports/audit-log", audit_log_export(graphql.get_context), methods=["GET"]),
            Route("/health", health),
            Route("/ready", ready),
            *([Route("/metrics", metrics_endpoint)] if settings.metrics else []),
            *([graphiql_assets()] if settings.graphiql else []),
        ],
        middleware=middleware,
        exception_handlers={StarletteHTTPException: _starlette_error, 500: _server_error},
        lifespan=lifespan,
    )
    app.state.resources = resources
    return app
