"""Ownership: admins read everything but trade only their own accounts; another user's object answers
exactly like one that does not exist; the admin behind a kill switch change is shown to admins only."""

from __future__ import annotations

from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import to_global_id

from .accounts import Account, as_user, register
from .trading import BALANCES, ORDER, POSITIONS, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

MISSING_ORDER = to_global_id("Order", "00000000-0000-0000-0000-000000000000")
MISSING_ACCOUNT = to_global_id("VenueAccount", "00000000-0000-0000-0000-000000000000")
MISSING_POSITION = to_global_id("Position", "00000000-0000-0000-0000-000000000000")
# What a trade would change (not the marks, which move with the feed).
HOLDINGS = """query($f: PositionFilter) { positions(filter: $f) {
  id symbol quantity availableQuantity averageEntryPrice realizedPnl fees } }"""
ACCOUNT_STATE = "query($a: ID!) { node(id: $a) { ... on VenueAccount { status } } }"

TRADING_MUTATIONS: dict[str, tuple[str, str]] = {
    # name: (document, which id it takes: order / account / position)
    "placeOrder": (
        'mutation($a: ID!) { placeOrder(input: {venueAccountId: $a, symbol: "BTC", side: BUY, type: MARKET, '
        'quantity: "0.01"}) { __typename ... on UserError { code field } } }',
        "account",
    ),
    "cancelOrder": (
        "mutation($o: ID!) { cancelOrder(id: $o) { __typename ... on UserError { code field } } }",
        "order",
    ),
    "cancelAllOrders": (
        "mutation($a: ID!) { cancelAllOrders(venueAccountId: $a) { __typename ... on UserError { code field } } }",
        "account",
    ),
    "closePosition": (
        "mutation($p: ID!) { closePosition(id: $p) { __typename ... on UserError { code field } } }",
        "position",
    ),
    "closeAllPositions": (
        "mutation($a: ID!) { closeAllPositions(venueAccountId: $a) { __typename ... on UserError { code field } } }",
        "account",
    ),
    "disconnectVenue": (
        "mutation($a: ID!) { disconnectVenue(id: $a) { __typename ... on UserError { code field } } }",
        "account",
    ),
    "syncVenue": ("mutation($a: ID!) { syncVenue(id: $a) { __typename ... on UserError { code field } } }", "account"),
    "sendTestOrder": (
        "mutation($a: ID!) { sendTestOrder(venueAccountId: $a) { __typename ... on UserError { code field } } }",
        "account",
    ),
}
# The argument that names the object: `id` where the mutation acts on that object itself.
BY_ID = {"cancelOrder", "closePosition", "disconnectVenue", "syncVenue"}


async def _trading_state(client: GraphQLClient, account: str) -> dict[str, Any]:
    orders = await client.query(
        "query($a: ID!) { orders(filter: {venueAccountId: $a}, first: 50) { edges { node { id status } } } }",
        {"a": account},
    )
    return {
        "orders": sorted((e["node"]["id"], e["node"]["status"]) for e in orders["orders"]["edges"]),
        "positions": (await client.query(HOLDINGS, {"f": {"venueAccountId": account}}))["positions"],
        "balances": (await client.query(BALANCES, {"a": account}))["balances"],
        "status": (await client.query(ACCOUNT_STATE, {"a": account}))["node"]["status"],
    }


async def _owner_with_trades(api: GraphQLClient, owner: Account) -> tuple[str, str, str]:
    """(account, resting order, open position) of ``owner``."""
    async with as_user(api.base_url, owner) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="1")
        resting = await placed(client, account, symbol="BTC", type="LIMIT", quantity="0.01", price="1000")
        assert resting["status"] == "OPEN"
        position = (await client.query(POSITIONS, {"f": {"venueAccountId": account}}))["positions"][0]["id"]
    return account, resting["id"], position


async def _refused_everywhere(intruder: GraphQLClient, ids: dict[str, str]) -> None:
    for name, (document, kind) in TRADING_MUTATIONS.items():
        variables = {{"account": "a", "order": "o", "position": "p"}[kind]: ids[kind]}
        answer = (await intruder.query(document, variables))[name]
        field = "id" if name in BY_ID else "venueAccountId"
        assert answer == {"__typename": "NotFound", "code": "NOT_FOUND", "field": field}, name


async def test_admins_read_everything_but_trade_only_their_own_accounts(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    account, order, position = await _owner_with_trades(api, trader)
    async with as_user(api.base_url, trader) as client:
        before = await _trading_state(client, account)
    async with as_user(api.base_url, admin) as boss:
        assert (await boss.query(ORDER, {"id": order}))["order"]["id"] == order
        assert (await boss.query(BALANCES, {"a": account}))["balances"] == before["balances"]
        await _refused_everywhere(boss, {"account": account, "order": order, "position": position})
    async with as_user(api.base_url, trader) as client:
        assert await _trading_state(client, account) == before


async def test_other_users_are_refused_every_trading_mutation_and_see_no_balances(
    api: GraphQLClient, trader: Account
) -> None:
    account, order, position = await _owner_with_trades(api, trader)
    async with as_user(api.base_url, trader) as client:
        before = await _trading_state(client, account)
    stranger = await register(api)
    async with as_user(api.base_url, stranger) as intruder:
        await _refused_everywhere(intruder, {"account": account, "order": order, "position": position})
        assert (await intruder.query(BALANCES, {"a": account}))["balances"] == []
    async with as_user(api.base_url, trader) as client:
        assert await _trading_state(client, account) == before


async def test_another_users_object_answers_like_a_missing_one(api: GraphQLClient, trader: Account) -> None:
    account, order, position = await _owner_with_trades(api, trader)
    stranger = await register(api)
    node = "query($id: ID!) { node(id: $id) { id } }"
    async with as_user(api.base_url, stranger) as intruder:
        for theirs, missing in ((order, MISSING_ORDER), (account, MISSING_ACCOUNT), (position, MISSING_POSITION)):
            assert await intruder.execute(node, {"id": theirs}) == await intruder.execute(node, {"id": missing})
            assert (await intruder.query(node, {"id": theirs}))["node"] is None
        for user_owned in (trader.user_id, trader.session_id):
            assert (await intruder.query(node, {"id": user_owned}))["node"] is None
        assert await intruder.execute(ORDER, {"id": order}) == await intruder.execute(ORDER, {"id": MISSING_ORDER})
        assert (await intruder.query(ORDER, {"id": order}))["order"] is None
        cancel = TRADING_MUTATIONS["cancelOrder"][0]
        assert await intruder.execute(cancel, {"o": order}) == await intruder.execute(cancel, {"o": MISSING_ORDER})


async def test_kill_switch_history_shows_the_acting_admin_to_admins_only(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    activate = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename } }"""
    deactivate = """mutation($i: DeactivateKillSwitchInput!) { deactivateKillSwitch(input: $i) { __typename } }"""
    history = "{ killSwitchHistory(first: 1) { edges { node { scope active actorId } } } }"
    async with as_user(api.base_url, admin) as boss:
        on = await boss.query(activate, {"i": {"reason": "drill", "scope": "GLOBAL"}})
        assert on["activateKillSwitch"]["__typename"] == "KillSwitchChanged"
        try:
            latest = (await boss.query(history))["killSwitchHistory"]["edges"][0]["node"]
            assert latest == {"scope": "GLOBAL", "active": True, "actorId": admin.user_id}
            async with as_user(api.base_url, trader) as client:
                seen = (await client.query(history))["killSwitchHistory"]["edges"][0]["node"]
                assert seen == {"scope": "GLOBAL", "active": True, "actorId": None}
        finally:
            await boss.query(deactivate, {"i": {"reason": "drill over", "scope": "GLOBAL"}})
