"""Perpetuals on the paper Hyperliquid venue: margin, PnL, liquidation price, liquidation and funding, each
checked against numbers computed here from Hyperliquid's published formulas."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from graphql_api.client import GraphQLClient

from .accounts import Account, as_user
from .perps import d, fills_of, market_order, perp_account, set_leverage, state, transactions
from .support import ServerHandle, wait_until
from .trading import future_marks, place

pytestmark = pytest.mark.usefixtures("admin")
CLOSE = Decimal("1e-9")


@pytest.fixture
async def client(api: GraphQLClient, trader: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, trader) as c:
        yield c


def hl_liquidation_price(mark: Decimal, size: Decimal, margin_available: Decimal, max_leverage: int) -> Decimal:
    """Hyperliquid's documented formula: liq = price − side × margin_available / position_size / (1 − l × side),
    l = 1 / MAINTENANCE_LEVERAGE (twice the maximum leverage), margin_available net of maintenance margin."""
    side = 1 if size > 0 else -1
    maintenance_leverage = 2 * max_leverage
    return mark - side * margin_available / abs(size) / (1 - Decimal(side) / maintenance_leverage)


async def test_a_cross_long_margin_pnl_and_liquidation_price(client: GraphQLClient) -> None:
    account = await perp_account(client, "5000")
    setting = await set_leverage(client, account, 0, 10, "CROSS")
    assert setting["__typename"] == "LeverageUpdated", setting
    assert setting["setting"] == {
        "symbol": "BTC",
        "assetIndex": 0,
        "leverage": 10,
        "maxLeverage": 40,
        "marginMode": "CROSS",
    }
    order = await market_order(client, account, "BTC", "BUY", "0.2")
    quantity, notional, fees = fills_of(order)
    assert order["status"] == "FILLED" and quantity == Decimal("0.2")
    # Taker fee 0.1 % of each fill's notional, rounded to 8 places.
    assert fees == sum(
        ((d(f["price"]) * d(f["quantity"]) * Decimal("0.001")).quantize(Decimal("1e-8")) for f in order["fills"]),
        Decimal(0),
    )

    now = await state(client, account)
    (pos,) = now["positions"]
    mark, entry = d(pos["markPrice"]), d(pos["entryPrice"])
    assert pos["side"] == "LONG" and d(pos["size"]) == Decimal("0.2")
    assert abs(entry - notional / quantity) < CLOSE
    assert d(pos["unrealizedPnl"]) == Decimal("0.2") * (mark - entry)
    assert d(pos["positionValue"]) == Decimal("0.2") * mark
    assert d(pos["initialMargin"]) == Decimal("0.2") * mark / 10
    assert d(pos["maintenanceMargin"]) == Decimal("0.2") * mark / 80  # BTC: max 40x, maintenance at 80x
    assert d(now["cash"]) == Decimal("5000") - fees
    assert d(now["accountValue"]) == d(now["cash"]) + d(pos["unrealizedPnl"])
    assert d(now["accountValue"]) == d(now["collateral"]) + d(now["unrealizedPnl"]) - d(now["fundingPaid"])
    # Cross: the margin available is the account value less the maintenance margin.
    available = d(now["accountValue"]) - d(pos["maintenanceMargin"])
    expected = hl_liquidation_price(mark, Decimal("0.2"), available, 40)
    assert abs(d(pos["liquidationPrice"]) - expected) < Decimal("1e-6")
    assert d(now["withdrawable"]) == d(now["accountValue"]) - d(pos["initialMargin"])

    # The cash is the sum of the account's ledger rows: its opening balance, then each fee.
    rows = await transactions(client, account)
    assert sum((d(r["amount"]) for r in rows), Decimal(0)) == d(now["cash"])
    assert sorted(r["kind"] for r in rows) == sorted(["OPENING"] + ["FEE"] * len(order["fills"]))


async def test_an_isolated_short_then_a_reduce_only_close(client: GraphQLClient) -> None:
    account = await perp_account(client, "50000")
    assert (await set_leverage(client, account, 1, 5, "ISOLATED"))["__typename"] == "LeverageUpdated"
    opened = await market_order(client, account, "ETH", "SELL", "2")
    quantity, notional, open_fees = fills_of(opened)
    assert quantity == 2

    now = await state(client, account)
    (pos,) = now["positions"]
    mark, entry = d(pos["markPrice"]), d(pos["entryPrice"])
    margin = notional / 5  # isolated margin: Σ fill notional / leverage
    assert pos["side"] == "SHORT" and d(pos["size"]) == -2
    assert abs(d(pos["isolatedMargin"]) - margin) < CLOSE
    assert d(now["isolatedMargin"]) == d(pos["isolatedMargin"])
    assert d(pos["unrealizedPnl"]) == -2 * (mark - entry)
    assert d(pos["maintenanceMargin"]) == 2 * mark / 50  # ETH: max 25x
    # Isolated: margin available = isolated margin + unrealized PnL − maintenance margin, at the mark.
    available = d(pos["isolatedMargin"]) + d(pos["unrealizedPnl"]) - d(pos["maintenanceMargin"])
    expected = hl_liquidation_price(mark, Decimal(-2), available, 25)
    assert abs(d(pos["liquidationPrice"]) - expected) < Decimal("1e-6")
    assert d(now["withdrawable"]) == d(now["cash"]) - d(pos["isolatedMargin"])

    # The margin mode is fixed while the position is open.
    refused = await set_leverage(client, account, 1, 5, "CROSS")
    assert (refused["__typename"], refused["code"]) == ("InvalidInput", "POSITION_OPEN")
    # A reduce-only order may not grow or flip the position.
    grow = await place(client, account, symbol="ETH", side="SELL", quantity="1", reduceOnly=True)
    assert (grow["__typename"], grow["code"]) == ("InvalidInput", "REDUCE_ONLY")
    flip = await place(client, account, symbol="ETH", side="BUY", quantity="3", reduceOnly=True)
    assert (flip["__typename"], flip["code"]) == ("InvalidInput", "REDUCE_ONLY")

    closed = await place(client, account, symbol="ETH", side="BUY", quantity="2", reduceOnly=True)
    assert closed["__typename"] == "OrderPlaced", closed
    _, buy_notional, close_fees = fills_of(closed["order"])
    realized = notional - buy_notional  # a short gains what it sold for less what it bought back for
    after = await state(client, account)
    assert after["positions"] == []
    assert d(after["isolatedMargin"]) == 0
    assert d(after["cash"]) == Decimal("50000") + realized - open_fees - close_fees
    rows = await transactions(client, account)
    assert sum((d(r["amount"]) for r in rows), Decimal(0)) == d(after["cash"])
    assert sum((d(r["amount"]) for r in rows if r["kind"] == "REALIZED_PNL"), Decimal(0)) == realized


async def test_leverage_is_bounded_and_margin_is_enforced(client: GraphQLClient) -> None:
    account = await perp_account(client, "1000")
    too_high = await set_leverage(client, account, 0, 41, "CROSS")
    assert (too_high["__typename"], too_high["field"]) == ("InvalidInput", "leverage")
    assert (await set_leverage(client, account, 0, 2, "CROSS"))["__typename"] == "LeverageUpdated"
    # 2x on 1000 USDC: about 2000 USDC of BTC at most; 0.05 BTC is several times that.
    refused = await place(client, account, symbol="BTC", side="BUY", quantity="0.05")
    assert refused["__typename"] == "InsufficientFunds", refused
    assert (await state(client, account))["positions"] == []
    spot = await place(client, await perp_account(client, "1000"), symbol="BTC", type="LIMIT", price="1", quantity="1")
    assert (spot["__typename"], spot["code"]) == ("InvalidInput", "PERP_ORDER_TYPE")


LIQUIDATIONS = """
query($a: ID!) { perpLiquidations(venueAccountId: $a) {
  symbol size entryPrice markPrice marginMode realizedPnl insuranceCovered
} }"""
# symbol, asset index, maximum leverage, quantity (about 100 USDC)
CANDIDATES = [("BTC", 0, 40, "0.001"), ("ETH", 1, 25, "0.03"), ("SOL", 2, 20, "0.5"), ("XRP", 3, 20, "50")]


async def _soonest_liquidation(seed: int) -> tuple[str, int, int, str, str]:
    """The instrument and side whose isolated position at maximum leverage the seeded walk liquidates
    soonest (a move of about 1 / (2 × max leverage) against it, with room for the spread), at least ten
    steps from now so the position is open before it comes."""
    from models.market import Instrument, LastPrice

    best: tuple[int, tuple[str, int, int, str, str]] | None = None
    for symbol, asset, leverage, quantity in CANDIDATES:
        instrument = await Instrument.get(symbol=symbol)
        now = (await LastPrice.get(instrument_id=instrument.id)).price
        move = Decimal(1) / (2 * leverage) + Decimal("0.002")
        for i, mark in enumerate(await future_marks(symbol, seed, 900)):
            side = "BUY" if mark <= now * (1 - move) else "SELL" if mark >= now * (1 + move) else None
            if side is not None:
                if i >= 10 and (best is None or i < best[0]):
                    best = (i, (symbol, asset, leverage, quantity, side))
                break
    assert best is not None, "no candidate is liquidated within 900 steps of the seeded walk"
    return best[1]


async def test_a_price_move_liquidates_at_the_first_tick_past_the_liquidation_price(
    client: GraphQLClient, server: ServerHandle
) -> None:
    symbol, asset, leverage, quantity, side = await _soonest_liquidation(server.settings.feed_seed)
    account = await perp_account(client, "10000")
    assert (await set_leverage(client, account, asset, leverage, "ISOLATED"))["__typename"] == "LeverageUpdated"
    order = await market_order(client, account, symbol, side, quantity)
    _, notional, fees = fills_of(order)
    (pos,) = (await state(client, account))["positions"]
    size, entry, liquidation = d(pos["size"]), d(pos["entryPrice"]), d(pos["liquidationPrice"])
    # Isolated: margin + size × (P − entry) = |size| × P / (2 × max leverage) at the liquidation price P.
    margin = notional / leverage
    m = Decimal(1) / (2 * leverage)
    assert abs(liquidation - (size * entry - margin) / (size - abs(size) * m)) < Decimal("1e-6")
    long = size > 0
    crossing = next(
        mark
        for mark in await future_marks(symbol, server.settings.feed_seed, 900)
        if (mark <= liquidation if long else mark >= liquidation)
    )

    async def liquidated() -> bool:
        return bool((await client.query(LIQUIDATIONS, {"a": account}))["perpLiquidations"])

    await wait_until(liquidated, timeout=150)
    (row,) = (await client.query(LIQUIDATIONS, {"a": account}))["perpLiquidations"]
    # Closed at the mark of the first tick past the liquidation price: not one tick later.
    assert d(row["markPrice"]) == crossing
    assert (d(row["size"]), d(row["entryPrice"]), row["marginMode"]) == (size, entry, "ISOLATED")
    realized = size * (crossing - entry)
    assert d(row["realizedPnl"]) == realized
    assert d(row["insuranceCovered"]) == 0  # one tick does not jump past the margin
    after = await state(client, account)
    assert after["positions"] == [] and d(after["isolatedMargin"]) == 0
    assert d(after["cash"]) == Decimal("10000") - fees + realized
    rows = await transactions(client, account)
    assert sum((d(r["amount"]) for r in rows), Decimal(0)) == d(after["cash"])


FUNDING = """
query($a: ID!) { fundingPayments(venueAccountId: $a, first: 10) {
  edges { node { symbol size oraclePrice premium rate amount fundingTime } }
} }"""


def hourly_rate(premium: Decimal) -> Decimal:
    """Hyperliquid: F = P + clamp(interest − P, −0.05 %, 0.05 %) per 8 hours with interest 0.01 %, paid hourly
    at one eighth, capped at 4 % an hour."""
    interest = Decimal("0.0001")
    clamped = min(max(interest - premium, Decimal("-0.0005")), Decimal("0.0005"))
    return min(max((premium + clamped) / 8, Decimal("-0.04")), Decimal("0.04"))


async def test_hourly_funding_longs_pay_shorts_receive_once_per_round(
    client: GraphQLClient, server: ServerHandle
) -> None:
    assert server.resources is not None
    long_account = await perp_account(client, "20000")
    short_account = await perp_account(client, "20000")
    await market_order(client, long_account, "BTC", "BUY", "0.1")
    await market_order(client, short_account, "BTC", "SELL", "0.1")
    before = {a: await state(client, a) for a in (long_account, short_account)}
    # The funding round of an hour (the scheduled tick consumer does this at each hour boundary).
    at = datetime(2031, 1, 1, 0, tzinfo=UTC) + timedelta(hours=random.randrange(1, 10_000))
    assert await server.resources.engine.perps.settle(at) >= 2
    assert await server.resources.engine.perps.settle(at) == 0  # a round is paid once

    for account, size in ((long_account, Decimal("0.1")), (short_account, Decimal("-0.1"))):
        (payment,) = [
            e["node"]
            for e in (await client.query(FUNDING, {"a": account}))["fundingPayments"]["edges"]
            if e["node"]["fundingTime"].startswith(at.isoformat()[:19])
        ]
        premium, oracle = d(payment["premium"]), d(payment["oraclePrice"])
        # The synthetic book is symmetric about the oracle: both impact prices straddle it, no premium.
        assert premium == 0
        assert d(payment["rate"]) == hourly_rate(premium) == Decimal("0.0000125")
        owed = (size * oracle * hourly_rate(premium)).quantize(Decimal("1e-8"))
        assert (d(payment["size"]), d(payment["amount"])) == (size, owed)
        assert (owed > 0) == (size > 0)  # a positive rate: longs pay, shorts receive
        now = await state(client, account)
        assert d(now["cash"]) == d(before[account]["cash"]) - owed
        assert d(now["fundingPaid"]) == owed
        (pos,) = now["positions"]
        assert d(pos["fundingPaid"]) == owed
        assert d(now["accountValue"]) == d(now["collateral"]) + d(now["unrealizedPnl"]) - d(now["fundingPaid"])
        rows = await transactions(client, account)
        assert [d(r["amount"]) for r in rows if r["kind"] == "FUNDING"] == [-owed]
        assert sum((d(r["amount"]) for r in rows), Decimal(0)) == d(now["cash"])
