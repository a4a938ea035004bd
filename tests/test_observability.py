"""Observability: /metrics in Prometheus's format with counters that move, request ids in responses, logs
and audit rows, JSON log lines, and OpenTelemetry spans that continue a caller's trace."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from models.audit import AuditEntry

from .accounts import Account, as_user, register
from .support import LegConfig, ServerHandle, metric_value, own_database, scrape_metrics, spawn_servers, wait_until
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")


async def test_operation_counters_and_error_codes_move_by_exactly_what_was_sent(
    server: ServerHandle, api: GraphQLClient
) -> None:
    before = await scrape_metrics(server.url)
    for _ in range(3):
        await api.query("query MetricsProbe { instruments { symbol } }")
    bad = await api.execute('query MetricsBadInput { instrument(symbol: "NOPE") { symbol } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    after = await scrape_metrics(server.url)

    ok = {"operation_type": "query", "operation": "MetricsProbe", "outcome": "ok"}
    assert (
        metric_value(after, "graphql_operations_total", **ok) - metric_value(before, "graphql_operations_total", **ok)
        == 3
    )
    failed = {"operation_type": "query", "operation": "MetricsBadInput", "outcome": "error"}
    assert (
        metric_value(after, "graphql_operations_total", **failed)
        == metric_value(before, "graphql_operations_total", **failed) + 1
    )
    code = {"code": "BAD_USER_INPUT"}
    assert (
        metric_value(after, "graphql_errors_total", **code) == metric_value(before, "graphql_errors_total", **code) + 1
    )
    timed = {"operation_type": "query", "operation": "MetricsProbe"}
    count = "graphql_operation_duration_seconds_count"
    assert metric_value(after, count, **timed) - metric_value(before, count, **timed) == 3


async def test_client_chosen_operation_names_cannot_grow_the_series(server: ServerHandle, api: GraphQLClient) -> None:
    weird = "query " + "x" * 80 + " { instruments { symbol } }"  # over 64 characters: counted as "other"
    before = await scrape_metrics(server.url)
    await api.query(weird)
    after = await scrape_metrics(server.url)
    other = {"operation_type": "query", "operation": "other", "outcome": "ok"}
    assert (
        metric_value(after, "graphql_operations_total", **other)
        == metric_value(before, "graphql_operations_total", **other) + 1
    )
    assert not any("x" * 80 in dict(labels).get("operation", "") for _, labels in after)


async def test_orders_sockets_bus_and_feed_figures(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    before = await scrape_metrics(server.url)
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        order = await placed(client, account, quantity="0.01")
    assert order["status"] == "FILLED"
    after = await scrape_metrics(server.url)
    assert metric_value(after, "orders", status="FILLED") == metric_value(before, "orders", status="FILLED") + 1
    assert metric_value(after, "bus_published_total", kind="orders") > metric_value(
        before, "bus_published_total", kind="orders"
    )
    assert metric_value(after, "feed_ticks_total") > 0  # the in-process server leads the feed
    assert ("feed_lag_seconds", frozenset()) in after

    sockets = metric_value(after, "live_connections", transport="websocket")
    async with GraphQLWSClient(
        server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
    ) as ws:
        stream = await ws.subscribe('subscription { priceTicks(symbols: ["BTC"]) { sequence snapshot } }')
        assert (await stream.data())["priceTicks"]["snapshot"] is True
        assert (await stream.data())["priceTicks"]["snapshot"] is False  # a tick delivered by the bus
        live = await scrape_metrics(server.url)
        assert metric_value(live, "live_connections", transport="websocket") == sockets + 1
        assert metric_value(live, "live_subscriptions") >= 1
        delivered = {"kind": "price"}
        assert metric_value(live, "bus_delivered_total", **delivered) > metric_value(
            before, "bus_delivered_total", **delivered
        )

    async def socket_counted_out() -> bool:
        return metric_value(await scrape_metrics(server.url), "live_connections", transport="websocket") == sockets

    await wait_until(socket_counted_out, timeout=10)


@pytest.mark.legs("postgres")
async def test_pool_use_is_reported_on_postgresql(server: ServerHandle, leg: LegConfig) -> None:
    samples = await scrape_metrics(server.url)
    assert metric_value(samples, "database_pool_connections", state="max") == leg.settings().database_pool_size
    assert metric_value(samples, "database_pool_connections", state="in_use") >= 0


async def test_request_id_is_echoed_generated_or_replaced(server: ServerHandle) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        echoed = await http.get("/health", headers={"X-Request-ID": "edge-7f3a.1_b"})
        generated = await http.get("/health")
        refused = await http.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert echoed.headers["x-request-id"] == "edge-7f3a.1_b"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])


async def test_audit_rows_carry_the_request_id_that_wrote_them(server: ServerHandle) -> None:
    request_id = f"audit-{secrets.token_hex(8)}"
    async with GraphQLClient(server.url, headers={"X-Request-ID": request_id}) as client:
        await register(client)  # registers, then signs in: two requests with the same id
    rows = await AuditEntry.filter(request_id=request_id).order_by("id").values_list("action", flat=True)
    assert rows == ["auth.register", "auth.login"]


def _json_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


async def test_json_logs_carry_the_request_id(leg: LegConfig, tmp_path: Path) -> None:
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "logs"),
        DATA_DIR=str(tmp_path),
        LOG_FORMAT="json",
        BROADCAST_NAMESPACE="test-logs",
    )
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready()
        async with httpx.AsyncClient(base_url=proc.url) as http:
            response = await http.post(
                "/graphql",
                json={"query": "query LoggedProbe { instruments { symbol } }"},
                headers={"X-Request-ID": "log-probe-42"},
            )
        assert response.status_code == 200
        proc.stop()
    lines = [line for line in proc.log().splitlines() if line.strip()]
    entries = _json_lines(proc.log())
    assert len(entries) == len(lines), "every log line is one JSON object"
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    access = [e for e in entries if e["logger"] == "uvicorn.access" and e.get("request_id") == "log-probe-42"]
    assert len(access) == 1
    assert "POST /graphql" in access[0]["message"]


async def test_tracing_continues_the_callers_trace(leg: LegConfig, tmp_path: Path) -> None:
    trace_id = secrets.token_hex(16)
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "traces"),
        DATA_DIR=str(tmp_path),
        LOG_FORMAT="json",
        BROADCAST_NAMESPACE="test-traces",
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="trading-api-test",
        FEED_ENABLED="false",
    )
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready()
        async with httpx.AsyncClient(base_url=proc.url) as http:
            response = await http.post(
                "/graphql",
                json={"query": "query TracedProbe { instruments { symbol } }"},
                headers={"traceparent": f"00-{trace_id}-{'ab' * 8}-01"},
            )
        assert response.status_code == 200
        proc.stop()  # shutting down flushes the spans still batched
    spans = [e for e in _json_lines(proc.log()) if "context" in e and "trace_id" in e.get("context", {})]
    ours = [s for s in spans if s["context"]["trace_id"] == f"0x{trace_id}"]
    names = {s["name"] for s in ours}
    assert "POST /graphql" in names, names  # the ASGI request span, a child of the caller's span
    assert any("TracedProbe" in n for n in names), names  # strawberry's operation span
    assert all(s["resource"]["attributes"]["service.name"] == "trading-api-test" for s in ours)
    if leg.is_postgres:
        assert any(s["attributes"].get("db.system") == "postgresql" for s in ours), names
