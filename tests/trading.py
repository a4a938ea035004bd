"""Helpers for trading tests: documents, a funded paper account, and placing orders through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from graphql_api.client import GraphQLClient

ORDER_FIELDS = """
  id venueAccountId symbol side type timeInForce quantity price stopPrice filledQuantity remainingQuantity
  averagePrice fees status clientOrderId reason createdAt
  fills { id price quantity fee liquidity createdAt }
"""
PLACE = f"""
mutation($input: PlaceOrderInput!) {{
  placeOrder(input: $input) {{
    __typename
    ... on OrderPlaced {{ replayed order {{ {ORDER_FIELDS} }} }}
    ... on InsufficientFunds {{ asset required available }}
    ... on KillSwitchActive {{ scope }}
    ... on UserError {{ message code field }}
  }}
}}"""
CONNECT = """
mutation($input: ConnectVenueInput!) {
  connectVenue(input: $input) {
    __typename
    ... on VenueAccountChanged { account { id venueId environment status label hasCredentials } }
    ... on UserError { message code field }
  }
}"""
BALANCES = "query($a: ID!) { balances(venueAccountId: $a) { asset total reserved available } }"
POSITIONS = """
query($f: PositionFilter) { positions(filter: $f) {
  id venueAccountId symbol quantity availableQuantity averageEntryPrice markPrice marketValue costBasis
  unrealizedPnl unrealizedPnlPercent realizedPnl fees
} }"""
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
INSTRUMENT = "query($s: String!) { instrument(symbol: $s) { tickSize lotSize } price(symbol: $s) { price } }"


async def paper_account(client: GraphQLClient, balance: str = "100000", venue: str = "binance") -> str:
    data = await client.query(
        CONNECT, {"input": {"venueId": venue, "environment": "PAPER", "startingBalance": balance}}
    )
    result = data["connectVenue"]
    assert result["__typename"] == "VenueAccountChanged", result
    account_id: str = result["account"]["id"]
    return account_id


async def place(client: GraphQLClient, account: str, **order: Any) -> dict[str, Any]:
    order = {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", **order}
    order = {k: str(v) if isinstance(v, Decimal) else v for k, v in order.items()}
    data = await client.query(PLACE, {"input": order})
    result: dict[str, Any] = data["placeOrder"]
    return result


async def placed(client: GraphQLClient, account: str, **order: Any) -> dict[str, Any]:
    result = await place(client, account, **order)
    assert result["__typename"] == "OrderPlaced", result
    placed_order: dict[str, Any] = result["order"]
    return placed_order


async def cash(client: GraphQLClient, account: str) -> dict[str, Decimal]:
    (row,) = (await client.query(BALANCES, {"a": account}))["balances"]
    return {k: Decimal(row[k]) for k in ("total", "reserved", "available")}


async def market(client: GraphQLClient, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
    """(mark, tick size, lot size) now."""
    data = await client.query(INSTRUMENT, {"s": symbol})
    return (
        Decimal(data["price"]["price"]),
        Decimal(data["instrument"]["tickSize"]),
        Decimal(data["instrument"]["lotSize"]),
    )


async def position(client: GraphQLClient, account: str, symbol: str) -> dict[str, Any] | None:
    rows = await client.query(POSITIONS, {"f": {"venueAccountId": account, "symbol": symbol, "includeClosed": True}})
    found = rows["positions"]
    return found[0] if found else None


async def future_marks(symbol: str, seed: int, steps: int) -> list[Decimal]:
    """The feed's next ``steps`` marks of ``symbol``: the walk is reproducible, so tests can know when a price
    will be crossed instead of hoping it will be."""
    from graphql_api.engine.feed import next_price
    from models.market import Instrument, LastPrice

    instrument = await Instrument.get(symbol=symbol)
    last = await LastPrice.get(instrument_id=instrument.id)
    marks, price = [], last.price
    for step in range(last.step + 1, last.step + steps + 1):
        price = next_price(seed, symbol, step, price, instrument.tick_size, instrument.volatility)
        marks.append(price)
    return marks


async def price_reached_later(symbol: str, seed: int, below: bool, margin: Decimal) -> Decimal:
    """A price the mark will reach within the next few hundred steps, at least ``margin`` (a fraction) away
    from where it is now: below it (``below``) or above it."""
    from models.market import Instrument, LastPrice

    instrument = await Instrument.get(symbol=symbol)
    now = (await LastPrice.get(instrument_id=instrument.id)).price
    for mark in (await future_marks(symbol, seed, 600))[3:]:
        if (below and mark <= now * (1 - margin)) or (not below and mark >= now * (1 + margin)):
            return mark
    raise AssertionError(f"{symbol} does not move {margin} within 600 steps; pick another symbol")
