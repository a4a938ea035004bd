"""Prometheus metrics (prometheus-client), served at ``/metrics`` in the text exposition format.

Each API process serves its own figures: a replica is one scrape target, as a pod is. When several
worker processes share one port (``uvicorn --workers``, gunicorn), set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory before they start: prometheus-client then keeps the values in files there and
``/metrics`` sums them across the processes (gauges by the mode each declares).

Operation names are the client's: a label keeps at most ``MAX_OPERATION_NAMES`` distinct sane names per
process and counts the rest as ``other``, so a client cannot grow the series without bound.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

log = logging.getLogger(__name__)
MAX_OPERATION_NAMES = 200
_SANE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_names: set[str] = set()

OPERATIONS = Counter(
    "graphql_operations_total",
    "GraphQL operations answered, by type, operation name and outcome (ok, or error when any error was returned).",
    ["operation_type", "operation", "outcome"],
)
DURATION = Histogram(
    "graphql_operation_duration_seconds",
    "Time from parsing to result of a GraphQL operation (a subscription: until its stream ends).",
    ["operation_type", "operation"],
)
ERRORS = Counter("graphql_errors_total", "GraphQL errors returned, by extensions.code.", ["code"])
LIVE_CONNECTIONS = Gauge(
    "live_connections", "Open streaming connections, by transport.", ["transport"], multiprocess_mode="livesum"
)
LIVE_SUBSCRIPTIONS = Gauge(
    "live_subscriptions", "Open subscriptions to the event bus (one per stream).", multiprocess_mode="livesum"
)
BUS_PUBLISHED = Counter("bus_published_total", "Events published to the bus, by channel kind.", ["kind"])
BUS_DELIVERED = Counter(
    "bus_delivered_total", "Events delivered from the bus to this process's streams, by channel kind.", ["kind"]
)
FANOUT_EXECUTIONS = Counter(
    "subscription_group_executions_total",
    "Executions of a subscription group's selection, one per event for every socket of the group, by operation.",
    ["operation"],
)
FANOUT_GROUPS = Gauge(
    "subscription_groups",
    "Running subscription groups (operations sharing document, variables and scope), by operation.",
    ["operation"],
    multiprocess_mode="livesum",
)
FANOUT_COALESCED = Counter(
    "subscription_frames_coalesced_total", "Frames a slow reader was not sent because a newer one replaced them."
)
FANOUT_SLOW_CONSUMERS = Counter(
    "subscription_slow_consumers_total", "Connections closed because their send queue stayed full."
)
FEED_TICKS = Counter("feed_ticks_total", "Market feed steps taken by this process as the feed's leader.")
FEED_LAG = Gauge(
    "feed_lag_seconds",
    "How late the last market feed step started against its schedule (0 when on time).",
    multiprocess_mode="max",
)
POOL = Gauge(
    "database_pool_connections",
    "Database pool connections by state (in_use, idle, max); PostgreSQL only.",
    ["state"],
    multiprocess_mode="livesum",
)
ORDERS = Gauge(
    "orders", "Orders in the database by status, read at scrape time.", ["status"], multiprocess_mode="mostrecent"
)


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not _SANE_NAME.fullmatch(name):
        return "other"
    if name not in _names:
        if len(_names) >= MAX_OPERATION_NAMES:
            return "other"
        _names.add(name)
    return name


def kind_of(channel: str) -> str:
    """A bus channel's kind (``orders:<user>`` → ``orders``): the label, never the per-user key."""
    return channel.split(":", 1)[0]


class OperationMetrics(SchemaExtension):
    """Counts and times each operation and counts its errors by code. First in the extension list, so it
    sees the errors as the client does (after masking). Operation hooks only: nothing runs per field."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # a document that did not parse or names no operation
            kind = "unknown"
        name = operation_label(context.operation_name)
        DURATION.labels(kind, name).observe(time.perf_counter() - started)
        result = context.result
        errors = list(context.pre_execution_errors or ()) if result is None else list(result.errors or ())
        OPERATIONS.labels(kind, name, "error" if errors else "ok").inc()
        for error in errors:
            ERRORS.labels(str((error.extensions or {}).get("code") or "UNKNOWN")).inc()


async def _read_database_figures() -> None:
    """The figures that live in the database or the pool, read when scraped (one GROUP BY)."""
    from tortoise import Tortoise
    from tortoise.functions import Count

    from models.orders import Order

    connection: Any = Tortoise.get_connection("default")
    pool = getattr(connection, "_pool", None)
    if pool is not None:
        size, idle = pool.get_size(), pool.get_idle_size()
        POOL.labels("in_use").set(size - idle)
        POOL.labels("idle").set(idle)
        POOL.labels("max").set(pool.get_max_size())
    counts = await Order.annotate(count=Count("id")).group_by("status").values_list("status", "count")
    ORDERS.clear()  # a status with no orders left is absent, not stuck at its last count
    for status, count in counts:
        ORDERS.labels(str(status)).set(count)


async def metrics_endpoint(request: Request) -> Response:
    try:
        await _read_database_figures()
    except Exception as exc:  # a database outage must not hide the rest: readiness reports the database
        log.info("metrics: database figures not read (%s)", type(exc).__name__)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
