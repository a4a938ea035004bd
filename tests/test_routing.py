"""Several venues at once, on a market that stands still (feed off, every instrument at its seeded price and
step 0: BTC 96250.0, tick 0.1, lot 0.00001; taker fee 0.001).

What is documented and checked here, with numbers worked out in the test:
- each spot paper venue quotes the feed with a basis of offset ± 3 bp (binance 0 exactly, coinbase +4,
  kraken −3, …; engine/basis.py), on the tick grid, and its book has the documented shape around that mark
  (best ask = mark + ceil_tick(mark × 0.00005));
- an order on a venue account fills at that venue's levels, exactly as aggregatedOrderBook shows them;
- a routed order takes the merged levels best price after fees first, each account within its cash, and
  each child fills exactly the levels planned for it;
- arbitrage pairs with their net spread after the fee on both legs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient

from .accounts import as_user, register
from .trading import paper_account, placed

FEED = Decimal("96250.0")
TICK = Decimal("0.1")
FEE = Decimal("0.001")
BOOK = """query($s: String!, $a: [ID!]!, $d: Int!) { aggregatedOrderBook(symbol: $s, venueAccountIds: $a, depth: $d) {
  symbol step feedPrice venues { venue markPrice }
  bids { venue venueAccountId price quantity effectivePrice } asks { venue venueAccountId price quantity effectivePrice } } }"""
ROUTE = """mutation($i: PlaceRoutedOrderInput!) { placeRoutedOrder(input: $i) { __typename
  ... on UserError { code field message }
  ... on RoutedOrderPlaced { quantity children { venue venueAccountId plannedQuantity limitPrice plannedNotional
    refusalCode order { id status type timeInForce price filledQuantity fills { price quantity fee } } } } } }"""
ARBITRAGE = """query($s: String!, $m: Decimal!) { arbitrageOpportunities(symbol: $s, minNetSpreadBps: $m) {
  buyVenue sellVenue buyPrice sellPrice quantity grossSpread netProfitPerUnit netProfit netSpreadBps } }"""
ORDERS = "query($a: ID!) { orders(filter: {venueAccountId: $a}) { totalCount } }"
SPOT = {"binance": 0, "coinbase": 4, "kraken": -3, "kucoin": 2, "okx": -2, "bybit": 1}


@pytest.fixture
async def client(frozen: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(frozen) as api:
        user = await register(api)
    async with as_user(frozen, user) as c:
        yield c


def _ceil_tick(value: Decimal) -> Decimal:
    return (value / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK


async def _book(client: GraphQLClient, accounts: list[str], depth: int = 50) -> dict[str, Any]:
    book: dict[str, Any] = (await client.query(BOOK, {"s": "BTC", "a": accounts, "d": depth}))["aggregatedOrderBook"]
    return book


async def test_each_venue_quotes_the_feed_within_its_documented_basis(client: GraphQLClient) -> None:
    accounts = [await paper_account(client, venue=v) for v in SPOT]
    book = await _book(client, accounts, depth=5)
    assert (book["symbol"], book["step"], Decimal(book["feedPrice"])) == ("BTC", 0, FEED)
    marks = {m["venue"]: Decimal(m["markPrice"]) for m in book["venues"]}
    assert list(marks) == list(SPOT)
    assert marks["binance"] == FEED
    for venue, offset in SPOT.items():
        if venue == "binance":
            continue
        low = FEED * (1 + Decimal(offset - 3) / 10_000) - TICK / 2
        high = FEED * (1 + Decimal(offset + 3) / 10_000) + TICK / 2
        assert low <= marks[venue] <= high, venue
        assert marks[venue] % TICK == 0
    # Each venue's best ask and bid around its own mark, as book.py documents (half spread = ceil_tick(mark × 0.00005)).
    for venue, mark in marks.items():
        half = _ceil_tick(mark * Decimal("0.00005"))
        asks = [Decimal(a["price"]) for a in book["asks"] if a["venue"] == venue]
        bids = [Decimal(b["price"]) for b in book["bids"] if b["venue"] == venue]
        if asks:
            assert asks[0] == mark + half, venue
        if bids:
            assert bids[0] == mark - half, venue
    # Merged best effective price first: asks ascending, bids descending, each effective = price × (1 ± fee).
    for level in book["asks"]:
        assert Decimal(level["effectivePrice"]) == Decimal(level["price"]) * (1 + FEE)
    for level in book["bids"]:
        assert Decimal(level["effectivePrice"]) == Decimal(level["price"]) * (1 - FEE)
    asks = [Decimal(a["effectivePrice"]) for a in book["asks"]]
    bids = [Decimal(b["effectivePrice"]) for b in book["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)


async def test_an_order_on_a_venue_account_fills_at_that_venues_own_book(client: GraphQLClient) -> None:
    coinbase = await paper_account(client, venue="coinbase")
    kraken = await paper_account(client, venue="kraken")
    book = await _book(client, [coinbase, kraken])
    for account, venue in ((coinbase, "coinbase"), (kraken, "kraken")):
        best_ask = next(a for a in book["asks"] if a["venue"] == venue)
        order = await placed(client, account, quantity="0.001")
        assert [f["price"] for f in order["fills"]] == [best_ask["price"]], venue


async def test_a_routed_buy_takes_the_best_levels_across_venues_within_each_accounts_cash(
    client: GraphQLClient,
) -> None:
    # kraken quotes below coinbase; binance in between. The kraken account can pay for about 0.05 BTC only.
    kraken = await paper_account(client, "5000", venue="kraken")
    binance = await paper_account(client, "100000", venue="binance")
    coinbase = await paper_account(client, "100000", venue="coinbase")
    accounts = [kraken, binance, coinbase]
    book = await _book(client, accounts)
    quantity = Decimal("0.4")

    # The plan worked out here from the book the API shows: levels by effective price (ties: account order),
    # each account's cash covering Σ price × quantity × (1 + fee), in whole lots.
    lot = Decimal("0.00001")
    room = {kraken: Decimal(5000), binance: Decimal(100000), coinbase: Decimal(100000)}
    rank = {a: i for i, a in enumerate(accounts)}
    levels = sorted(book["asks"], key=lambda lv: (Decimal(lv["effectivePrice"]), rank[lv["venueAccountId"]]))
    planned: dict[str, list[tuple[Decimal, Decimal]]] = {a: [] for a in accounts}
    left = quantity
    for level in levels:
        if left <= 0:
            break
        account, price = level["venueAccountId"], Decimal(level["price"])
        unit = price * (1 + FEE)
        affordable = (room[account] / unit / lot).to_integral_value(rounding="ROUND_DOWN") * lot
        take = min(left, Decimal(level["quantity"]), affordable)
        if take <= 0:
            continue
        room[account] -= take * unit
        planned[account].append((price, take))
        left -= take
    assert left == 0

    routed = (
        await client.query(
            ROUTE, {"i": {"symbol": "BTC", "side": "BUY", "quantity": "0.4", "venueAccountIds": accounts}}
        )
    )["placeRoutedOrder"]
    assert routed["__typename"] == "RoutedOrderPlaced", routed
    expected_children = [a for a in accounts if planned[a]]
    assert [c["venueAccountId"] for c in routed["children"]] == expected_children
    assert len(expected_children) >= 2  # the split really spans venues
    for child in routed["children"]:
        mine = planned[child["venueAccountId"]]
        assert Decimal(child["plannedQuantity"]) == sum(q for _, q in mine)
        assert Decimal(child["limitPrice"]) == max(p for p, _ in mine)
        assert Decimal(child["plannedNotional"]) == sum(p * q for p, q in mine)
        order = child["order"]
        assert (order["type"], order["timeInForce"], order["status"]) == ("LIMIT", "IOC", "FILLED")
        fills = [(Decimal(f["price"]), Decimal(f["quantity"])) for f in order["fills"]]
        # The venue's levels in price order, merged where the plan took one level at a time.
        assert fills == sorted(mine)
        assert child["refusalCode"] is None


async def test_a_routed_order_the_accounts_cannot_fill_places_nothing(client: GraphQLClient) -> None:
    small = await paper_account(client, "100", venue="okx")
    other = await paper_account(client, "100", venue="bybit")
    refused = (
        await client.query(
            ROUTE, {"i": {"symbol": "BTC", "side": "BUY", "quantity": "0.01", "venueAccountIds": [small, other]}}
        )
    )["placeRoutedOrder"]
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInput",
        "INSUFFICIENT_LIQUIDITY",
        "quantity",
    )
    # 200 USDC at ~96,250 × 1.001 buys 0.00207 BTC in whole lots, not 0.01: nothing may be placed anywhere.
    for account in (small, other):
        assert (await client.query(ORDERS, {"a": account}))["orders"]["totalCount"] == 0
    # A sell of what the accounts do not hold is refused the same way.
    sell = (
        await client.query(
            ROUTE, {"i": {"symbol": "BTC", "side": "SELL", "quantity": "0.001", "venueAccountIds": [small]}}
        )
    )["placeRoutedOrder"]
    assert (sell["__typename"], sell["code"]) == ("InvalidInput", "INSUFFICIENT_LIQUIDITY")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "0.000001"}, "quantity"),
        ({"venueAccountIds": []}, "venueAccountIds"),
        ({"symbol": "NOPE"}, "symbol"),
    ],
)
async def test_routed_order_input_is_refused_naming_the_field(
    client: GraphQLClient, variables: dict[str, Any], field: str
) -> None:
    account = await paper_account(client)
    given = {"symbol": "BTC", "side": "BUY", "quantity": "0.001", "venueAccountIds": [account], **variables}
    refused = (await client.query(ROUTE, {"i": given}))["placeRoutedOrder"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)


async def test_routing_takes_only_your_own_distinct_spot_accounts(client: GraphQLClient, frozen: str) -> None:
    mine = await paper_account(client)
    perp = await paper_account(client, venue="hyperliquid")
    async with GraphQLClient(frozen) as api:
        someone = await register(api)
    async with as_user(frozen, someone) as theirs:
        their_account = await paper_account(theirs)

    async def route(accounts: list[str]) -> dict[str, Any]:
        body = {"symbol": "BTC", "side": "BUY", "quantity": "0.001", "venueAccountIds": accounts}
        result: dict[str, Any] = (await client.query(ROUTE, {"i": body}))["placeRoutedOrder"]
        return result

    assert (await route([mine, mine]))["field"] == "venueAccountIds"
    assert (await route([perp]))["message"] == "hyperliquid is not a spot paper venue"
    assert (await route([their_account]))["__typename"] == "NotFound"
    assert (await client.query(ORDERS, {"a": mine}))["orders"]["totalCount"] == 0


async def test_arbitrage_pairs_carry_their_spread_after_fees(client: GraphQLClient) -> None:
    everything = (await client.query(ARBITRAGE, {"s": "BTC", "m": "-1000"}))["arbitrageOpportunities"]
    assert len(everything) == len(SPOT) * (len(SPOT) - 1)
    accounts = [await paper_account(client, venue=v) for v in SPOT]
    book = await _book(client, accounts)
    # Each venue's top level: its first in the merged lists (which are in price order).
    top_ask = {a["venue"]: a for a in reversed(book["asks"])}
    top_bid = {b["venue"]: b for b in reversed(book["bids"])}
    assert set(top_ask) == set(top_bid) == set(SPOT)
    for pair in everything:
        ask, bid = top_ask[pair["buyVenue"]], top_bid[pair["sellVenue"]]
        buy, sell = Decimal(ask["price"]), Decimal(bid["price"])
        assert (Decimal(pair["buyPrice"]), Decimal(pair["sellPrice"])) == (buy, sell)
        per_unit = sell * (1 - FEE) - buy * (1 + FEE)
        quantity = min(Decimal(ask["quantity"]), Decimal(bid["quantity"]))
        assert Decimal(pair["grossSpread"]) == sell - buy
        assert Decimal(pair["netProfitPerUnit"]) == per_unit
        assert Decimal(pair["quantity"]) == quantity
        assert Decimal(pair["netProfit"]) == per_unit * quantity
        assert Decimal(pair["netSpreadBps"]) == per_unit / buy * 10_000
    spreads = [Decimal(p["netSpreadBps"]) for p in everything]
    assert spreads == sorted(spreads, reverse=True)
    # With the fee on both legs (20 bp) above every venue's basis gap, no pair pays by default.
    paying = (await client.query(ARBITRAGE, {"s": "BTC", "m": "0"}))["arbitrageOpportunities"]
    assert paying == [p for p in everything if Decimal(p["netSpreadBps"]) >= 0]
