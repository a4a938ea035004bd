"""Fills, fees, reservations and PnL on a market that stands still, checked against numbers worked out by hand.

The server runs with its feed off, on a fresh database: every instrument stays at its seeded opening price
(migration 0002: BTC 96250.0, tick 0.1, lot 0.00001) at feed step 0, and the paper book is a pure function
of (seed, symbol, step, mark), so every order here trades against the same known levels. The book's shape
(book.py): best ask = mark + half spread, half spread = max(tick, ceil_tick(mark × 0.00005)); each further
level is ceil_tick(mark × 0.0002) away. For BTC at 96250.0:
    half = ceil_tick(4.8125) = 4.9      gap = ceil_tick(19.25) = 19.3
    asks 96254.9, 96274.2, 96293.5 …   bids 96245.1, 96225.8 …
A level's quantity is 10000 USDC × (1 + i/10) × a seeded jitter, in lots; the jitter is a draw, so those
quantities are pinned below as the orderBook query shows them (and the test checks it still does).
Fees (matching.py): round(price × quantity × rate, 8 places, half-even); taker rate 0.001.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient

from .accounts import as_user, register
from .trading import ORDER, cash, paper_account, place, placed, position

BOOK = "query($s: String!) { orderBook(symbol: $s, depth: 50) { markPrice step bids { price quantity } asks { price quantity } } }"
CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { __typename ... on OrderCancelled { order { status } } } }"

# The top of the BTC book at step 0: (price, quantity).
ASKS = [("96254.9", "0.05786"), ("96274.2", "0.11082"), ("96293.5", "0.12")]
BIDS = [("96245.1", "0.15346"), ("96225.8", "0.11877")]
# The whole ask side, 50 levels: what a buy larger than the book can take.
ASK_DEPTH = Decimal("18.61362")


@pytest.fixture
async def client(frozen: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(frozen) as api:
        user = await register(api)
    async with as_user(frozen, user) as c:
        yield c


def _levels(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(row["price"], row["quantity"]) for row in rows]


def _fills(order: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(f["price"], f["quantity"], f["fee"], f["liquidity"]) for f in order["fills"]]


async def test_the_book_at_step_zero_is_the_documented_shape(client: GraphQLClient) -> None:
    book = (await client.query(BOOK, {"s": "BTC"}))["orderBook"]
    assert (book["markPrice"], book["step"]) == ("96250", 0)
    assert _levels(book["asks"])[:3] == ASKS
    assert _levels(book["bids"])[:2] == BIDS
    assert sum(Decimal(level["quantity"]) for level in book["asks"]) == ASK_DEPTH


async def test_market_buy_walks_the_book_then_a_sell_realizes_pnl(client: GraphQLClient) -> None:
    account = await paper_account(client, "100000")
    buy = await placed(client, account, quantity="0.2")
    # 0.2 BTC takes the first two asks whole and 0.2 − 0.05786 − 0.11082 = 0.03132 of the third.
    #   96254.9 × 0.05786 = 5569.308514    fee 5.569308514  → 5.56930851
    #   96274.2 × 0.11082 = 10669.106844   fee 10.669106844 → 10.66910684
    #   96293.5 × 0.03132 = 3015.91242     fee 3.01591242   (exact)
    assert _fills(buy) == [
        ("96254.9", "0.05786", "5.56930851", "TAKER"),
        ("96274.2", "0.11082", "10.66910684", "TAKER"),
        ("96293.5", "0.03132", "3.01591242", "TAKER"),
    ]
    # cost 5569.308514 + 10669.106844 + 3015.91242 = 19254.327778; fees 19.25432777
    # average 19254.327778 / 0.2 = 96271.63889
    assert (buy["status"], buy["filledQuantity"], buy["remainingQuantity"]) == ("FILLED", "0.2", "0")
    assert (buy["averagePrice"], buy["fees"]) == ("96271.63889", "19.25432777")
    # 100000 − 19254.327778 − 19.25432777 = 80726.41789423
    assert await cash(client, account) == {
        "total": Decimal("80726.41789423"),
        "reserved": Decimal(0),
        "available": Decimal("80726.41789423"),
    }
    held = await position(client, account, "BTC")
    assert held is not None
    # At the mark 96250.0: (96250 − 96271.63889) × 0.2 = −4.327778
    assert {k: held[k] for k in ("quantity", "averageEntryPrice", "costBasis", "markPrice", "unrealizedPnl")} == {
        "quantity": "0.2",
        "averageEntryPrice": "96271.63889",
        "costBasis": "19254.327778",
        "markPrice": "96250",
        "unrealizedPnl": "-4.327778",
    }

    sell = await placed(client, account, side="SELL", quantity="0.1")
    # 0.1 BTC hits the best bid (0.15346 there): 96245.1 × 0.1 = 9624.51, fee 9.62451
    assert _fills(sell) == [("96245.1", "0.1", "9.62451", "TAKER")]
    # 80726.41789423 + 9624.51 − 9.62451 = 90341.30338423
    assert (await cash(client, account))["total"] == Decimal("90341.30338423")
    held = await position(client, account, "BTC")
    assert held is not None
    # realized (96245.1 − 96271.63889) × 0.1 = −2.653889; cost basis 19254.327778 − 96271.63889 × 0.1
    # = 9627.163889; unrealized (96250 − 96271.63889) × 0.1 = −2.163889; fees 19.25432777 + 9.62451
    assert {
        k: held[k] for k in ("quantity", "averageEntryPrice", "costBasis", "realizedPnl", "unrealizedPnl", "fees")
    } == {
        "quantity": "0.1",
        "averageEntryPrice": "96271.63889",
        "costBasis": "9627.163889",
        "realizedPnl": "-2.653889",
        "unrealizedPnl": "-2.163889",
        "fees": "28.87883777",
    }


@pytest.mark.parametrize(
    ("quantity", "fee"),
    [
        # 96254.9 × 0.00005 × 0.001 = 0.004812745: a tie at the 9th place goes to the even 4
        ("0.00005", "0.00481274"),
        # 96254.9 × 0.00015 × 0.001 = 0.014438235: a tie goes to the even 4, here upwards
        ("0.00015", "0.01443824"),
    ],
)
async def test_fee_ties_round_half_even(client: GraphQLClient, quantity: str, fee: str) -> None:
    account = await paper_account(client, "1000")
    order = await placed(client, account, quantity=quantity)
    assert _fills(order) == [("96254.9", quantity, fee, "TAKER")]


async def test_limit_partly_fills_then_rests_reserving_its_rest(client: GraphQLClient) -> None:
    account = await paper_account(client, "100000")
    order = await placed(client, account, type="LIMIT", quantity="0.3", price="96274.2")
    # Only the asks at or below 96274.2 fill: 0.05786 + 0.11082 = 0.16868; 0.3 − 0.16868 = 0.13132 rests.
    assert _fills(order) == [
        ("96254.9", "0.05786", "5.56930851", "TAKER"),
        ("96274.2", "0.11082", "10.66910684", "TAKER"),
    ]
    assert (order["status"], order["filledQuantity"], order["remainingQuantity"]) == (
        "PARTIALLY_FILLED",
        "0.16868",
        "0.13132",
    )
    # total: 100000 − 5569.308514 − 10669.106844 − 5.56930851 − 10.66910684 = 83745.34622665
    # reserved for the rest at its limit plus the taker fee: 0.13132 × 96274.2 × 1.001 = 12655.370671944
    # available: 83745.34622665 − 12655.370671944 = 71089.975554706
    assert await cash(client, account) == {
        "total": Decimal("83745.34622665"),
        "reserved": Decimal("12655.370671944"),
        "available": Decimal("71089.975554706"),
    }
    cancelled = (await client.query(CANCEL, {"id": order["id"]}))["cancelOrder"]
    assert cancelled == {"__typename": "OrderCancelled", "order": {"status": "CANCELED"}}
    assert await cash(client, account) == {
        "total": Decimal("83745.34622665"),
        "reserved": Decimal(0),
        "available": Decimal("83745.34622665"),
    }


async def test_time_in_force_against_a_book_thinner_than_the_order(client: GraphQLClient) -> None:
    account = await paper_account(client, "10000000")
    fok = await placed(client, account, quantity="100", timeInForce="FOK")
    assert (fok["status"], fok["filledQuantity"], fok["fills"], fok["reason"]) == (
        "CANCELED",
        "0",
        [],
        "fill-or-kill: the book cannot fill it all",
    )
    ioc = await placed(client, account, quantity="100", timeInForce="IOC")
    # It takes every one of the 50 ask levels whole (18.61362 BTC) and cancels the other 81.38638.
    book = (await client.query(BOOK, {"s": "BTC"}))["orderBook"]
    assert [(f[0], f[1]) for f in _fills(ioc)] == _levels(book["asks"])
    assert (ioc["status"], ioc["filledQuantity"], ioc["remainingQuantity"]) == ("CANCELED", "18.61362", "81.38638")
    assert ioc["reason"] == "immediate-or-cancel: the rest was cancelled"
    assert (await cash(client, account))["reserved"] == 0


async def test_an_order_beyond_the_cash_is_refused_with_the_amount_it_needs(client: GraphQLClient) -> None:
    account = await paper_account(client, "1000")
    refused = await place(client, account, quantity="0.01")
    # 96254.9 × 0.01 = 962.549, fee 0.962549: 963.511549 needed, 1000 there, so this one is accepted …
    assert refused["__typename"] == "OrderPlaced"
    again = await place(client, account, quantity="0.01")
    # … and the next one is not: 1000 − 963.511549 = 36.488451 is what is left.
    assert {k: again[k] for k in ("__typename", "asset", "required", "available", "field")} == {
        "__typename": "InsufficientFunds",
        "asset": "USDC",
        "required": "963.511549",
        "available": "36.488451",
        "field": "quantity",
    }
    order = (await client.query(ORDER, {"id": refused["order"]["id"]}))["order"]
    assert order["fills"][0]["fee"] == "0.962549"
