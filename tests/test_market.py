"""Market data over real HTTP: instruments, prices, validation, health and readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from graphql_api.client import GraphQLClient
from graphql_api.settings import Settings

from .support import ServerHandle, wait_until

INSTRUMENTS = "{ instruments { symbol name assetIndex base quote tickSize lotSize } }"


async def test_instruments_follow_hyperliquid_indices(api: GraphQLClient) -> None:
    rows = (await api.query(INSTRUMENTS))["instruments"]
    by_symbol = {row["symbol"]: row for row in rows}
    assert {s: by_symbol[s]["assetIndex"] for s in ("BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX")} == {
        "BTC": 0,
        "ETH": 1,
        "SOL": 2,
        "XRP": 3,
        "DOGE": 4,
        "AVAX": 5,
    }
    assert [row["assetIndex"] for row in rows] == sorted(row["assetIndex"] for row in rows)
    assert len({row["assetIndex"] for row in rows}) == len(rows) >= 10
    btc = by_symbol["BTC"]
    assert (btc["name"], btc["base"], btc["quote"]) == ("Bitcoin", "BTC", "USDC")
    # Decimals travel as exact strings in plain notation.
    assert btc["tickSize"] == "0.1"
    assert by_symbol["DOGE"]["lotSize"] == "1"


async def test_price_is_latest_tick_on_tick_grid(api: GraphQLClient, server: ServerHandle) -> None:
    first = (await api.query('{ price(symbol: "btc") { symbol price timestamp } }'))["price"]
    assert first["symbol"] == "BTC"
    price = Decimal(first["price"])
    assert price > 0 and price % Decimal("0.1") == 0
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert datetime.now(UTC) - stamp < timedelta(seconds=30)

    async def moved() -> bool:
        later = (await api.query('{ price(symbol: "BTC") { timestamp } }'))["price"]
        return later["timestamp"] != first["timestamp"]

    await wait_until(moved, timeout=10, interval=0.05)


async def test_prices_keep_requested_order(api: GraphQLClient) -> None:
    data = await api.query('{ prices(symbols: ["sol", "BTC", "SOL", "eth"]) { symbol price } }')
    assert [p["symbol"] for p in data["prices"]] == ["SOL", "BTC", "ETH"]
    assert all(Decimal(p["price"]) > 0 for p in data["prices"])


async def test_unknown_symbol_is_bad_user_input_naming_the_field(api: GraphQLClient) -> None:
    body = await api.execute('{ prices(symbols: ["BTC", "NOPE"]) { symbol } }')
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbols"}
    assert "NOPE" in error["message"]

    body = await api.execute('{ price(symbol: "XYZ") { symbol } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "symbol"

    body = await api.execute("{ prices(symbols: []) { symbol } }")
    assert body["errors"][0]["extensions"]["field"] == "symbols"


async def test_get_queries_are_served(server: ServerHandle) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + "/graphql", params={"query": "{ instruments { symbol } }"})
    assert response.status_code == 200
    assert response.json()["data"]["instruments"][0]["symbol"] == "BTC"


async def test_get_cannot_run_mutations_or_subscriptions(server: ServerHandle) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            server.url + "/graphql", params={"query": 'subscription { priceTicks(symbols: ["BTC"]) { price } }'}
        )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "WebSocket" in error["message"]


async def test_health_and_ready(server: ServerHandle, leg: object) -> None:
    async with httpx.AsyncClient() as client:
        health = await client.get(server.url + "/health")
        ready = await client.get(server.url + "/ready")
    assert health.json() == {"status": "ok"}
    body = ready.json()
    assert ready.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    bus_kind = "redis" if server.settings.broadcast_url.startswith("redis") else "memory"
    assert body["checks"]["bus"] == {"ok": True, "kind": bus_kind}
    assert body["checks"]["feed"]["role"] == "leader"


async def test_settings_used_by_server_hide_the_secret(server: ServerHandle) -> None:
    assert isinstance(server.settings, Settings)
    assert str(server.settings.secret_key) not in repr(server.settings)


CACHE_IDENTITY = """{
  instruments { id symbol }
  btc: price(symbol: "BTC") { id symbol } eth: price(symbol: "ETH") { id }
  ticker(symbol: "BTC") { id } orderBook(symbol: "BTC", depth: 1) { id }
  candles(symbol: "BTC", interval: ONE_MINUTE, limit: 2) { id openTime }
  hourly: candles(symbol: "BTC", interval: ONE_HOUR, limit: 1) { id }
}"""


async def test_every_refetchable_market_object_has_a_stable_id_for_client_caches(api: GraphQLClient) -> None:
    """Apollo's InMemoryCache normalises by id: the same object gets the same id on every request, and
    different objects (symbols, intervals, open times, kinds) never share one."""
    first, again = (await api.query(CACHE_IDENTITY)), (await api.query(CACHE_IDENTITY))
    assert [i["id"] for i in first["instruments"]] == [i["id"] for i in again["instruments"]]
    for key in ("btc", "eth", "ticker", "orderBook"):
        assert first[key]["id"] == again[key]["id"], key
    ids = [i["id"] for i in first["instruments"]] + [first[k]["id"] for k in ("btc", "eth", "ticker", "orderBook")]
    ids += [c["id"] for c in first["candles"]] + [first["hourly"][0]["id"]]
    assert len(ids) == len(set(ids))
    # An instrument's id is a Node id: node(id:) refetches it.
    btc = next(i for i in first["instruments"] if i["symbol"] == "BTC")
    node = await api.query("query($id: ID!) { node(id: $id) { id ... on Instrument { symbol } } }", {"id": btc["id"]})
    assert node["node"] == {"id": btc["id"], "symbol": "BTC"}
