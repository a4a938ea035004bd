"""Venues, orders on the paper engine, positions and portfolio, checked against independent arithmetic."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.engine.adapters import AdapterError, Credentials
from models.orders import Order as OrderRow
from models.venues import VenueAccount

from .accounts import Account, as_user, error_code, register
from .support import ServerHandle, count_queries, wait_until
from .trading import (
    CONNECT,
    ORDER,
    PLACE,
    POSITIONS,
    cash,
    market,
    paper_account,
    place,
    placed,
    position,
    price_reached_later,
)

pytestmark = pytest.mark.usefixtures("admin")


@pytest.fixture
async def client(api: GraphQLClient, trader: Account) -> Any:
    async with as_user(api.base_url, trader) as c:
        yield c


async def test_venue_catalog(api: GraphQLClient) -> None:
    venues = (await api.query("{ venues { id name type category protocols dropCopy t0Settlement symbols } }"))["venues"]
    names = {v["name"] for v in venues}
    assert {"Binance", "Coinbase", "Kraken", "KuCoin", "OKX", "Bitfinex", "Bybit", "Gate.io", "Hyperliquid"} <= names
    assert {"BX Digital", "SDX", "Taurus TDX", "Securitize", "Franklin Templeton"} <= names
    assert {v["type"] for v in venues} == {"CRYPTO", "TOKENIZED"}
    binance = next(v for v in venues if v["id"] == "binance")
    assert "FIX" in binance["protocols"] and binance["dropCopy"] is True
    instruments = await api.query('{ venueInstruments(venueId: "binance") { symbol } }')
    assert {i["symbol"] for i in instruments["venueInstruments"]} == set(binance["symbols"])


async def test_connect_paper_account_validates_and_funds(client: GraphQLClient) -> None:
    account = await paper_account(client, "25000")
    assert await cash(client, account) == {
        "total": Decimal(25000),
        "reserved": Decimal(0),
        "available": Decimal(25000),
    }
    for bad, field in (({"startingBalance": "0"}, "startingBalance"), ({"startingBalance": "1e9"}, "startingBalance")):
        result = await client.query(CONNECT, {"input": {"venueId": "binance", "environment": "PAPER", **bad}})
        assert result["connectVenue"]["field"] == field
    missing = await client.query(CONNECT, {"input": {"venueId": "nowhere", "environment": "PAPER"}})
    assert missing["connectVenue"]["code"] == "NOT_FOUND"


async def test_live_account_without_adapter_is_a_clear_error(client: GraphQLClient) -> None:
    before = await VenueAccount.all().count()
    no_key = (await client.query(CONNECT, {"input": {"venueId": "kraken", "environment": "LIVE"}}))["connectVenue"]
    assert (no_key["__typename"], no_key["field"]) == ("InvalidInput", "apiKey")
    live = {"venueId": "kraken", "environment": "LIVE", "apiKey": "k-123", "apiSecret": "s-secret-456"}
    result = (await client.query(CONNECT, {"input": live}))["connectVenue"]
    assert (result["__typename"], result["code"]) == ("VenueUnavailable", "VENUE_UNAVAILABLE")
    assert await VenueAccount.all().count() == before  # nothing half-created


class _FakeExchange:
    """Stands in for a live exchange (the one thing truly outside): accepts one key pair."""

    async def verify(self, credentials: Credentials) -> None:
        if credentials.api_secret != "s-secret-456":
            raise AdapterError("the exchange rejected the API key")

    async def balances(self, credentials: Credentials) -> dict[str, Decimal]:
        return {"USDC": Decimal("1234.5")}


async def test_live_credentials_are_encrypted_and_never_returned(client: GraphQLClient, server: ServerHandle) -> None:
    assert server.resources is not None
    server.resources.adapters.register("okx", _FakeExchange())
    try:
        live = {"venueId": "okx", "environment": "LIVE", "apiKey": "k-123", "apiSecret": "wrong"}
        refused = (await client.query(CONNECT, {"input": live}))["connectVenue"]
        assert refused["code"] == "VENUE_REFUSED"
        live["apiSecret"] = "s-secret-456"
        body = await client.execute(CONNECT, {"input": live})
        account = body["data"]["connectVenue"]["account"]
        assert account["hasCredentials"] is True and "s-secret-456" not in str(body)
        stored = await VenueAccount.get(environment="LIVE", venue_id="okx", label="OKX")
        assert (
            stored.credentials is not None
            and "s-secret-456" not in stored.credentials
            and "k-123" not in stored.credentials
        )
        assert (await cash(client, account["id"]))["total"] == Decimal("1234.5")
        synced = await client.query(
            "mutation($id: ID!) { syncVenue(id: $id) { __typename ... on VenueAccountChanged { account { status } } } }",
            {"id": account["id"]},
        )
        assert synced["syncVenue"]["account"]["status"] == "CONNECTED"
        order = await place(client, account["id"], quantity="0.001")
        assert order["field"] == "venueAccountId"  # no live order routing from here
    finally:
        server.resources.adapters.unregister("okx")


async def test_limit_orders_rest_reserve_and_release(client: GraphQLClient) -> None:
    account = await paper_account(client, "50000")
    # ETH opens at 3420.50 and moves about 0.08% a step: 2000 stays far below the asks for the whole run.
    order = await placed(client, account, symbol="ETH", type="LIMIT", quantity="2", price="2000")
    assert order["status"] == "OPEN" and order["fills"] == []
    # A resting buy reserves remaining × limit × (1 + taker fee): 2 × 2000 × 1.001 = 4004
    assert await cash(client, account) == {
        "total": Decimal(50000),
        "reserved": Decimal(4004),
        "available": Decimal(45996),
    }
    cancelled = await client.query(
        "mutation($id: ID!) { cancelOrder(id: $id) { __typename ... on OrderCancelled { order { status } } } }",
        {"id": order["id"]},
    )
    assert cancelled["cancelOrder"]["order"]["status"] == "CANCELED"
    assert (await cash(client, account))["reserved"] == 0
    again = await client.query(
        "mutation($id: ID!) { cancelOrder(id: $id) { __typename ... on UserError { code } } }", {"id": order["id"]}
    )
    assert again["cancelOrder"]["code"] == "ORDER_NOT_WORKING"


async def test_resting_limit_fills_as_maker_when_the_feed_crosses_it(
    client: GraphQLClient, server: ServerHandle
) -> None:
    account = await paper_account(client)
    # The walk is reproducible: pick a level the mark will fall to soon, so the wait is certain.
    limit = await price_reached_later("SOL", server.settings.feed_seed, below=True, margin=Decimal("0.002"))
    order = await placed(client, account, symbol="SOL", type="LIMIT", quantity="5", price=str(limit))
    assert order["status"] == "OPEN" and order["fills"] == []

    async def filled() -> bool:
        current = (await client.query(ORDER, {"id": order["id"]}))["order"]
        return current["status"] == "FILLED"

    await wait_until(filled, timeout=90, interval=0.2)
    final = (await client.query(ORDER, {"id": order["id"]}))["order"]
    # The best ask of a SOL book holds at least 10000 × 0.5 / ~200 ≈ 25 SOL: 5 SOL fill in one go, at that ask.
    (fill,) = final["fills"]
    price = Decimal(fill["price"])
    assert (fill["quantity"], fill["liquidity"]) == ("5", "MAKER") and price <= limit
    # Maker fee 5 × price × 0.0002 = price / 1000; SOL prices have 3 decimals, so no rounding is involved.
    assert Decimal(fill["fee"]) == price / 1000
    # Spent: 5 × price + price / 1000 = 5.001 × price.
    left = Decimal(100000) - Decimal("5.001") * price
    assert await cash(client, account) == {"total": left, "reserved": Decimal(0), "available": left}


async def test_stops_trigger_on_the_mark(client: GraphQLClient, server: ServerHandle) -> None:
    account = await paper_account(client)
    await placed(client, account, symbol="DOGE", quantity="1000")
    mark, tick, _ = await market(client, "DOGE")
    above = ((mark * Decimal("1.02")) / tick).to_integral_value() * tick
    crossed = await place(
        client, account, symbol="DOGE", side="SELL", type="STOP", quantity="400", stopPrice=str(above)
    )
    assert (crossed["__typename"], crossed["field"]) == ("InvalidInput", "stopPrice")
    below = await price_reached_later("DOGE", server.settings.feed_seed, below=True, margin=Decimal("0.003"))
    stop = await placed(client, account, symbol="DOGE", side="SELL", type="STOP", quantity="400", stopPrice=str(below))
    assert stop["status"] == "PENDING"
    held = await position(client, account, "DOGE")
    assert held is not None and Decimal(held["availableQuantity"]) == Decimal(600)  # 400 reserved by the stop

    async def triggered() -> bool:
        return (await client.query(ORDER, {"id": stop["id"]}))["order"]["status"] != "PENDING"

    await wait_until(triggered, timeout=60, interval=0.2)
    final = (await client.query(ORDER, {"id": stop["id"]}))["order"]
    # Triggered, it is a market sell; the best bid of a DOGE book holds over 10000 × 0.5 / ~0.33 ≈ 15000 DOGE,
    # so the 400 fill at once, as taker, at a bid at or below the stop.
    assert final["status"] == "FILLED"
    (fill,) = final["fills"]
    price = Decimal(fill["price"])
    assert (fill["quantity"], fill["liquidity"]) == ("400", "TAKER") and price <= below
    # Taker fee 400 × price × 0.001 = 0.4 × price; DOGE prices have 5 decimals, so no rounding is involved.
    assert Decimal(fill["fee"]) == Decimal("0.4") * price
    held = await position(client, account, "DOGE")
    assert held is not None and (held["quantity"], held["availableQuantity"]) == ("600", "600")


async def test_unaffordable_orders_are_refused_and_leave_nothing(client: GraphQLClient) -> None:
    account = await paper_account(client, "1000")
    before = await OrderRow.all().count()
    result = await place(client, account, quantity="1")
    assert result["__typename"] == "InsufficientFunds" and result["asset"] == "USDC"
    assert Decimal(result["required"]) > Decimal(result["available"]) == Decimal(1000)
    sell = await place(client, account, side="SELL", quantity="0.01")
    assert (sell["__typename"], sell["asset"]) == ("InsufficientFunds", "BTC")
    assert await OrderRow.all().count() == before
    assert await cash(client, account) == {"total": Decimal(1000), "reserved": Decimal(0), "available": Decimal(1000)}


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({"quantity": "0.000001"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "0.1", "price": "100"}, "price"),
        ({"type": "LIMIT", "quantity": "0.1"}, "price"),
        ({"type": "LIMIT", "quantity": "0.1", "price": "100.05"}, "price"),
        ({"type": "STOP", "quantity": "0.1"}, "stopPrice"),
        ({"symbol": "NOPE", "quantity": "1"}, "symbol"),
        ({"quantity": "0.1", "clientOrderId": "has spaces"}, "clientOrderId"),
    ],
)
async def test_order_input_is_validated_naming_the_field(
    client: GraphQLClient, order: dict[str, str], field: str
) -> None:
    account = await paper_account(client)
    result = await place(client, account, **order)
    assert (result["__typename"], result["field"]) == ("InvalidInput", field), result


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        (0.1, 'a Decimal is sent as a string (or an integer), e.g. "0.25"'),
        ("abc", "'abc' is not a decimal number"),
        ("NaN", "a Decimal must be finite"),
    ],
)
async def test_decimal_inputs_reject_floats_and_garbage(client: GraphQLClient, quantity: object, reason: str) -> None:
    account = await paper_account(client)
    order = {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", "quantity": quantity}
    before = await OrderRow.all().count()
    body = await client.execute(PLACE, {"input": order})
    # Refused while the variables are coerced, before anything runs: no data, one error naming the field.
    assert body["data"] is None
    (error,) = body["errors"]
    assert (error["message"], error["extensions"]) == (
        f"input.quantity: {reason}",
        {"code": "BAD_USER_INPUT", "field": "input.quantity"},
    )
    assert await OrderRow.all().count() == before


async def test_retried_place_order_is_idempotent_even_when_racing(client: GraphQLClient) -> None:
    account = await paper_account(client)
    first = await place(client, account, quantity="0.01", clientOrderId="retry-1")
    again = await place(client, account, quantity="0.01", clientOrderId="retry-1")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["order"]["id"] == first["order"]["id"]
    changed = await place(client, account, quantity="0.02", clientOrderId="retry-1")
    assert (changed["__typename"], changed["code"], changed["field"]) == (
        "InvalidInput",
        "IDEMPOTENCY_KEY_REUSED",
        "clientOrderId",
    )

    results = await asyncio.gather(
        *(
            place(client, account, type="LIMIT", quantity="0.01", price="1000", clientOrderId="race-50")
            for _ in range(50)
        )
    )
    assert {r["__typename"] for r in results} == {"OrderPlaced"}
    assert len({r["order"]["id"] for r in results}) == 1
    assert sum(not r["replayed"] for r in results) == 1
    assert await OrderRow.filter(client_order_id="race-50").count() == 1
    # One resting order's reservation: 0.01 × 1000 × 1.001 = 10.01
    assert (await cash(client, account))["reserved"] == Decimal("10.01")


async def test_close_position_and_close_all(client: GraphQLClient) -> None:
    account = await paper_account(client)
    for symbol, quantity in (("BTC", "0.1"), ("XRP", "500"), ("AVAX", "3")):
        await placed(client, account, symbol=symbol, quantity=quantity)
    held = await position(client, account, "BTC")
    assert held is not None
    closed = await client.query(
        "mutation($id: ID!) { closePosition(id: $id) { __typename ... on OrderPlaced { order { side status quantity } } } }",
        {"id": held["id"]},
    )
    assert closed["closePosition"]["order"] == {"side": "SELL", "status": "FILLED", "quantity": "0.1"}
    flat = await client.query(
        "mutation($id: ID!) { closePosition(id: $id) { __typename ... on UserError { code } } }", {"id": held["id"]}
    )
    assert flat["closePosition"]["code"] == "POSITION_FLAT"
    everything = await client.query(
        "mutation($a: ID!) { closeAllPositions(venueAccountId: $a) { ... on PositionsClosed { orders { symbol status } } } }",
        {"a": account},
    )
    assert sorted(o["symbol"] for o in everything["closeAllPositions"]["orders"]) == ["AVAX", "XRP"]
    open_positions = (await client.query(POSITIONS, {"f": {"venueAccountId": account}}))["positions"]
    assert open_positions == []


async def test_portfolio_values_cash_positions_and_history(client: GraphQLClient) -> None:
    account = await paper_account(client)
    await placed(client, account, quantity="0.2")
    await placed(client, account, symbol="ETH", quantity="3")
    query = """{ portfolio { totalValue cash positionsValue unrealizedPnl dailyPnl dailyPnlPercent
      allocation { asset value percent } performanceHistory(period: DAY) { timestamp equity }
      riskMetrics(period: DAY) { observations valueAtRisk95 sharpeRatio beta maxDrawdown volatility } } }"""
    # One request reads both; they agree exactly unless a feed tick (every 100 ms here) falls in between.
    both = "{ portfolio { totalValue cash allocation { asset value } } positions { marketValue } }"
    for _ in range(50):
        snapshot = await client.query(both)
        data, positions = snapshot["portfolio"], snapshot["positions"]
        total, cash_total = Decimal(data["totalValue"]), Decimal(data["cash"])
        if cash_total + sum(Decimal(p["marketValue"]) for p in positions) == total:
            break
    else:
        raise AssertionError(f"portfolio total never matched cash + positions at mark: {data} {positions}")
    assert sum(Decimal(a["value"]) for a in data["allocation"]) == total
    assert {a["asset"] for a in data["allocation"]} == {"USDC", "BTC", "ETH"}

    async def history() -> bool:
        points = (await client.query(query))["portfolio"]["performanceHistory"]
        return len(points) >= 3

    await wait_until(history, timeout=30, interval=0.5)
    data = (await client.query(query))["portfolio"]
    equity = [Decimal(p["equity"]) for p in data["performanceHistory"]]
    peak, worst = equity[0], Decimal(0)
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak)
    assert Decimal(data["riskMetrics"]["maxDrawdown"]) == worst
    assert data["riskMetrics"]["observations"] == len(equity) - 1


async def test_orders_list_filters_and_pages_in_constant_queries(client: GraphQLClient) -> None:
    account = await paper_account(client, "1000000")
    document = """query($f: OrderFilter, $first: Int, $after: String) {
      orders(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { id symbol side status fills { price quantity } } } } }"""
    for _ in range(3):
        await placed(client, account, symbol="LINK", quantity="1")
    with count_queries() as few:
        small = (await client.query(document, {"f": {"venueAccountId": account}, "first": 50}))["orders"]
    for _ in range(12):
        await placed(client, account, symbol="LINK", quantity="1")
    await placed(client, account, symbol="LINK", side="SELL", quantity="2")
    with count_queries() as many:
        large = (await client.query(document, {"f": {"venueAccountId": account}, "first": 50}))["orders"]
    assert (small["totalCount"], large["totalCount"]) == (3, 16)
    # The count, the page, and every order's fills at once — whatever the page holds. (Reading the caller's
    # session is authentication's, cached for a second: it may or may not fall in either request.)
    page_reads = [[s for s in c.statements if 'FROM "sessions"' not in s] for c in (few, many)]
    assert len(page_reads[0]) == len(page_reads[1]) == 3, page_reads
    sells = (await client.query(document, {"f": {"venueAccountId": account, "side": "SELL"}}))["orders"]
    assert sells["totalCount"] == 1
    page = (await client.query(document, {"f": {"venueAccountId": account}, "first": 10}))["orders"]
    rest = await client.query(
        document, {"f": {"venueAccountId": account}, "first": 10, "after": page["pageInfo"]["endCursor"]}
    )
    ids = [e["node"]["id"] for e in page["edges"]] + [e["node"]["id"] for e in rest["orders"]["edges"]]
    assert len(ids) == len(set(ids)) == 16


async def test_trading_data_is_private_and_viewers_cannot_trade(
    api: GraphQLClient, client: GraphQLClient, admin: Account
) -> None:
    account = await paper_account(client)
    order = await placed(client, account, quantity="0.01")
    other = await register(api)
    async with as_user(api.base_url, other) as stranger:
        # Another user's data answers exactly like data that does not exist.
        assert (await stranger.query(ORDER, {"id": order["id"]}))["order"] is None
        body = await stranger.query("query($id: ID!) { node(id: $id) { id } }", {"id": account})
        assert body["node"] is None
        intrusion = await stranger.query(
            "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { __typename } }",
            {"i": {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", "quantity": "0.01"}},
        )
        assert intrusion["placeOrder"]["__typename"] == "NotFound"
        assert (await stranger.query(POSITIONS, {"f": {}}))["positions"] == []
    async with as_user(api.base_url, admin) as boss:
        seen = (await boss.query(ORDER, {"id": order["id"]}))["order"]
        assert seen["id"] == order["id"]
        await boss.query(
            "mutation($id: ID!) { setUserRole(input: {id: $id, role: VIEWER}) { __typename } }", {"id": other.user_id}
        )
    async with as_user(api.base_url, other) as viewer:
        refused = await viewer.execute(CONNECT, {"input": {"venueId": "binance", "environment": "PAPER"}})
        assert error_code(refused) == "FORBIDDEN"
        assert (await viewer.query("{ portfolio { totalValue } }"))["portfolio"]["totalValue"] == "0"
