"""Order and venue actions each append exactly one audit row naming who did what to which target, and how it
ended; read straight from the audit table of the leg's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry

from .accounts import Account, as_user
from .trading import CONNECT, paper_account, place, placed

pytestmark = pytest.mark.usefixtures("admin")

CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { __typename } }"
CANCEL_ALL = "mutation($a: ID!) { cancelAllOrders(venueAccountId: $a) { __typename } }"
DISCONNECT = "mutation($id: ID!) { disconnectVenue(id: $id) { __typename } }"
SYNC = "mutation($id: ID!) { syncVenue(id: $id) { __typename } }"
ACTIVATE = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename } }"""
DEACTIVATE = """mutation($i: DeactivateKillSwitchInput!) { deactivateKillSwitch(input: $i) { __typename } }"""


@pytest.fixture
async def client(api: GraphQLClient, trader: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, trader) as c:
        yield c


def pk(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def last_id() -> int:
    newest = await AuditEntry.all().order_by("-id").first()
    return newest.id if newest else 0


async def rows_since(since: int, actor: Account) -> list[tuple[Any, ...]]:
    """The actor's audit rows written after ``since``: (action, outcome, actor id, actor label, target type,
    target id)."""
    rows = await AuditEntry.filter(id__gt=since, actor_id=pk(actor.user_id)).order_by("id")
    return [(r.action, r.outcome, str(r.actor_id), r.actor_label, r.target_type, r.target_id) for r in rows]


def row(action: str, outcome: str, actor: Account, target_type: str, target_id: str) -> tuple[Any, ...]:
    return (action, outcome, pk(actor.user_id), actor.email, target_type, target_id)


async def test_accepted_order_is_audited_once_on_the_order(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    since = await last_id()
    order = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    assert await rows_since(since, trader) == [row("order.place", "SUCCESS", trader, "Order", pk(order["id"]))]


async def test_order_refused_for_funds_is_audited_once_on_the_account(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client, "10")
    since = await last_id()
    refused = await place(client, account, quantity="1")
    assert refused["__typename"] == "InsufficientFunds"
    assert await rows_since(since, trader) == [row("order.place", "DENIED", trader, "VenueAccount", pk(account))]
    (entry,) = await AuditEntry.filter(id__gt=since, actor_id=pk(trader.user_id))
    assert entry.detail == {"symbol": "BTC", "code": "INSUFFICIENT_FUNDS"}


async def test_order_refused_by_the_kill_switch_is_audited_once(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    await client.query(ACTIVATE, {"i": {"reason": "audit", "scope": "ACCOUNT"}})
    try:
        since = await last_id()
        refused = await place(client, account, quantity="0.001")
        assert refused["__typename"] == "KillSwitchActive"
        assert await rows_since(since, trader) == [row("order.place", "DENIED", trader, "VenueAccount", pk(account))]
        (entry,) = await AuditEntry.filter(id__gt=since, actor_id=pk(trader.user_id))
        assert entry.detail == {"symbol": "BTC", "code": "KILL_SWITCH_ACTIVE"}
    finally:
        await client.query(DEACTIVATE, {"i": {"reason": "audit done", "scope": "ACCOUNT"}})


async def test_cancel_order_is_audited_once_on_the_order(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    order = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    since = await last_id()
    assert (await client.query(CANCEL, {"id": order["id"]}))["cancelOrder"]["__typename"] == "OrderCancelled"
    assert await rows_since(since, trader) == [row("order.cancel", "SUCCESS", trader, "Order", pk(order["id"]))]


async def test_cancel_all_orders_is_audited_once_on_the_account(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    for price in ("1000", "1001"):
        await placed(client, account, type="LIMIT", quantity="0.01", price=price)
    since = await last_id()
    assert (await client.query(CANCEL_ALL, {"a": account}))["cancelAllOrders"]["__typename"] == "OrdersCancelled"
    assert await rows_since(since, trader) == [row("order.cancel_all", "SUCCESS", trader, "VenueAccount", pk(account))]
    (entry,) = await AuditEntry.filter(id__gt=since, actor_id=pk(trader.user_id))
    assert entry.detail == {"cancelled": 2}


async def test_connect_disconnect_and_sync_are_each_audited_once(client: GraphQLClient, trader: Account) -> None:
    since = await last_id()
    connected = await client.query(
        CONNECT, {"input": {"venueId": "kraken", "environment": "PAPER", "startingBalance": "5000"}}
    )
    account = connected["connectVenue"]["account"]["id"]
    assert await rows_since(since, trader) == [row("venue.connect", "SUCCESS", trader, "VenueAccount", pk(account))]
    (entry,) = await AuditEntry.filter(id__gt=since, actor_id=pk(trader.user_id))
    assert entry.detail == {"venue": "kraken", "environment": "PAPER", "startingBalance": "5000"}

    since = await last_id()
    assert (await client.query(SYNC, {"id": account}))["syncVenue"]["__typename"] == "VenueAccountChanged"
    assert await rows_since(since, trader) == [row("venue.sync", "SUCCESS", trader, "VenueAccount", pk(account))]

    await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    since = await last_id()
    assert (await client.query(DISCONNECT, {"id": account}))["disconnectVenue"]["__typename"] == "VenueAccountChanged"
    assert await rows_since(since, trader) == [row("venue.disconnect", "SUCCESS", trader, "VenueAccount", pk(account))]
    (entry,) = await AuditEntry.filter(id__gt=since, actor_id=pk(trader.user_id))
    assert entry.detail == {"cancelledOrders": 1}
