"""Trading sessions (Alura): Alura's validation messages, the one active session per asset under racing
requests, budgets, the strategy table, the session log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient

from .accounts import as_user, register
from .perps import d, perp_account, state

pytestmark = pytest.mark.usefixtures("admin")

DUPLICATE = "Duplicate asset index: you already have an active trading session for this asset"
SESSION_FIELDS = """
  id venueAccountId kind assetIndex symbol budget profitTarget lossThreshold maxPositions executionStrategy
  strategyDuration maxWalletBudget leverage status endReason endsAt endedAt createdAt
  realizedPnl unrealizedPnl fees pnl pnlPercent volume fills openPositions
"""
RESULT = f"""{{
  __typename
  ... on TradingSessionCreated {{ session {{ {SESSION_FIELDS} }} }}
  ... on InsufficientFunds {{ required available }}
  ... on UserError {{ message code field }}
}}"""
QUICK = "mutation($i: CreateQuickTradingSessionInput!) { createQuickTradingSession(input: $i) " + RESULT + " }"
ADVANCED = "mutation($i: CreateAdvancedTradingSessionInput!) { createAdvancedTradingSession(input: $i) " + RESULT + " }"
ACTIVE = f"{{ activeTradingSessions {{ {SESSION_FIELDS} }} }}"
LOGS = """
query($s: ID!, $first: Int, $after: String) { tradingSessionLogs(sessionId: $s, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { kind message tradeId detail { name value } } }
} }"""


@pytest.fixture
async def client(api: GraphQLClient) -> AsyncIterator[GraphQLClient]:
    """A new trader each test: sessions are one per asset per user, so tests must not share one."""
    async with as_user(api.base_url, await register(api)) as c:
        yield c


async def quick(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    inputs = {"budget": "100", "profitTarget": "40", "assetIndex": 0, **fields}
    found: dict[str, Any] = (await client.query(QUICK, {"i": inputs}))["createQuickTradingSession"]
    return found


async def advanced(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    inputs = {"amount": "100", "executionStrategy": "AGGRESSIVE", "strategyDuration": "D7", "assetIndex": 1, **fields}
    found: dict[str, Any] = (await client.query(ADVANCED, {"i": inputs}))["createAdvancedTradingSession"]
    return found


def refusal(found: dict[str, Any]) -> tuple[str, str, str | None, str]:
    return found["__typename"], found["code"], found["field"], found["message"]


async def test_alura_validation_messages_name_their_field(client: GraphQLClient) -> None:
    assert refusal(await quick(client)) == (
        "NotFound",
        "NOT_FOUND",
        "venueAccountId",
        "you have no Hyperliquid paper account",
    )
    await perp_account(client, "1000")
    cases = [
        ({"budget": "9.99"}, "budget", "budget must not be less than 10"),
        ({"profitTarget": "500.01"}, "profitTarget", "profitTarget must not be greater than 500"),
        ({"profitTarget": "0"}, "profitTarget", "profitTarget must be a positive number"),
        ({"lossThreshold": "-1"}, "lossThreshold", "lossThreshold must be a positive number"),
        ({"lossThreshold": "101"}, "lossThreshold", "lossThreshold must not be greater than 100"),
        ({"maxPositions": 0}, "maxPositions", "maxPositions must not be less than 1"),
        ({"maxPositions": 11}, "maxPositions", "maxPositions must not be greater than 10"),
        ({"assetIndex": 999}, "assetIndex", "no instrument has asset index 999"),
    ]
    for fields, field, message in cases:
        assert refusal(await quick(client, **fields)) == ("InvalidInput", "INVALID_INPUT", field, message), fields
    assert refusal(await advanced(client, amount="5")) == (
        "InvalidInput",
        "INVALID_INPUT",
        "amount",
        "amount must not be less than 10",
    )
    over = await quick(client, budget="1000.01")
    assert (over["__typename"], over["field"], d(over["available"])) == ("InsufficientFunds", "budget", Decimal(1000))
    # Nothing was started by any of them.
    assert (await client.query(ACTIVE))["activeTradingSessions"] == []


async def test_a_quick_session_starts_and_a_second_on_its_asset_is_a_conflict(client: GraphQLClient) -> None:
    account = await perp_account(client, "1000")
    started = await quick(client, lossThreshold="5", maxPositions=3)
    assert started["__typename"] == "TradingSessionCreated", started
    session = started["session"]
    assert {k: session[k] for k in ("venueAccountId", "kind", "assetIndex", "symbol", "status", "leverage")} == {
        "venueAccountId": account,
        "kind": "QUICK",
        "assetIndex": 0,
        "symbol": "BTC",
        "status": "ACTIVE",
        "leverage": 2,
    }
    assert (d(session["budget"]), d(session["profitTarget"]), d(session["lossThreshold"])) == (100, 40, 5)
    assert (session["maxPositions"], session["executionStrategy"], session["strategyDuration"]) == (
        3,
        "CONSERVATIVE",
        None,
    )
    assert (d(session["pnl"]), session["fills"], session["openPositions"], session["endsAt"]) == (0, 0, 0, None)

    again = await quick(client)
    assert refusal(again) == ("Conflict", "CONFLICT", "assetIndex", DUPLICATE)
    eth = await quick(client, assetIndex=1)
    assert eth["__typename"] == "TradingSessionCreated"
    active = (await client.query(ACTIVE))["activeTradingSessions"]
    assert [s["assetIndex"] for s in active] == [1, 0]

    logs = (await client.query(LOGS, {"s": session["id"]}))["tradingSessionLogs"]
    assert logs["totalCount"] == 1
    (entry,) = [e["node"] for e in logs["edges"]]
    assert entry["kind"] == "SESSION_STARTED" and entry["tradeId"] is None
    detail = {v["name"]: v["value"] for v in entry["detail"]}
    assert (d(detail["budget"]), detail["leverage"]) == (Decimal(100), "2")


async def test_one_active_session_per_asset_under_twenty_racing_requests(client: GraphQLClient) -> None:
    # Two perp accounts of one user: the rule is per user and asset, whichever account asks.
    accounts = [await perp_account(client, "100000"), await perp_account(client, "100000")]
    results = await asyncio.gather(*(quick(client, assetIndex=2, venueAccountId=accounts[i % 2]) for i in range(20)))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["Conflict"] * 19 + ["TradingSessionCreated"]
    assert {r["message"] for r in results if r["__typename"] == "Conflict"} == {DUPLICATE}
    active = (await client.query(ACTIVE))["activeTradingSessions"]
    assert [s["assetIndex"] for s in active] == [2]


async def test_budgets_of_active_sessions_stay_within_the_free_balance(client: GraphQLClient) -> None:
    account = await perp_account(client, "250")
    assert (await quick(client, budget="150", assetIndex=0))["__typename"] == "TradingSessionCreated"
    # 250 free, 150 committed to the BTC session: 100 left for the others.
    over = await quick(client, budget="100.01", assetIndex=1)
    assert (over["__typename"], over["field"], d(over["available"])) == ("InsufficientFunds", "budget", Decimal(100))
    assert (await quick(client, budget="100", assetIndex=1))["__typename"] == "TradingSessionCreated"
    assert d((await state(client, account))["withdrawable"]) == Decimal(250)


async def test_an_advanced_session_follows_its_strategy_and_duration(client: GraphQLClient) -> None:
    await perp_account(client, "5000")
    started = await advanced(client, executionStrategy="DEGEN", strategyDuration="D30", assetIndex=1)
    assert started["__typename"] == "TradingSessionCreated", started
    s = started["session"]
    # DEGEN: 10x, 3 positions, target 40 %, threshold 20 % (ETH allows up to 25x).
    assert (s["kind"], s["leverage"], s["maxPositions"], d(s["profitTarget"]), d(s["lossThreshold"])) == (
        "ADVANCED",
        10,
        3,
        40,
        20,
    )
    assert datetime.fromisoformat(s["endsAt"]) - datetime.fromisoformat(s["createdAt"]) == timedelta(days=30)
    # The whole free balance: 5000 less the 100 of the ETH session.
    wallet = await advanced(client, maxWalletBudget=True, assetIndex=0, executionStrategy="CONSERVATIVE")
    assert wallet["__typename"] == "TradingSessionCreated", wallet
    assert (d(wallet["session"]["budget"]), wallet["session"]["maxWalletBudget"]) == (Decimal(4900), True)
    assert (wallet["session"]["leverage"], wallet["session"]["maxPositions"]) == (2, 1)
    empty = await advanced(client, maxWalletBudget=True, assetIndex=2)
    assert (empty["__typename"], empty["field"], d(empty["available"])) == (
        "InsufficientFunds",
        "maxWalletBudget",
        Decimal(0),
    )
