"""Refused and failed order and venue actions each append exactly one audit row too.

Written before the audit mechanism (issue 7), against whose code each failed (no row, or a row without a
target). A refusal is DENIED, a venue that could not be reached FAILURE; a refused connect names the venue
as its target, since no account exists. Helpers come from tests/test_audit_trading.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.engine.adapters import AdapterError, Credentials

from .accounts import Account, as_user, register
from .support import ServerHandle
from .test_audit_trading import CANCEL, CANCEL_ALL, DISCONNECT, SYNC, last_id, pk, row, rows_since
from .trading import CONNECT, paper_account, place, placed

pytestmark = pytest.mark.usefixtures("admin")


@pytest.fixture
async def client(api: GraphQLClient, trader: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, trader) as c:
        yield c


async def test_order_refused_as_invalid_is_audited_once(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    since = await last_id()
    refused = await place(client, account, quantity="0")
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "quantity")
    assert await rows_since(since, trader) == [row("order.place", "DENIED", trader, "VenueAccount", pk(account))]


async def test_order_on_another_users_account_is_audited_once(
    api: GraphQLClient, client: GraphQLClient, trader: Account
) -> None:
    account = await paper_account(client)
    stranger = await register(api)
    async with as_user(api.base_url, stranger) as other:
        since = await last_id()
        body = await other.execute(
            "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { __typename } }",
            {"i": {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", "quantity": "0.01"}},
        )
        assert body["data"]["placeOrder"] == {"__typename": "NotFound"}  # not yours looks like missing
    assert await rows_since(since, stranger) == [row("order.place", "DENIED", stranger, "VenueAccount", pk(account))]


async def test_cancel_of_an_order_no_longer_working_is_audited_once(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    order = await placed(client, account, quantity="0.001")  # a market order: filled at once
    since = await last_id()
    refused = await client.query(
        "mutation($id: ID!) { cancelOrder(id: $id) { __typename ... on UserError { code } } }", {"id": order["id"]}
    )
    assert refused["cancelOrder"] == {"__typename": "InvalidInput", "code": "ORDER_NOT_WORKING"}
    assert await rows_since(since, trader) == [row("order.cancel", "DENIED", trader, "Order", pk(order["id"]))]


async def test_cancel_and_cancel_all_by_another_user_are_audited_once(
    api: GraphQLClient, client: GraphQLClient, trader: Account
) -> None:
    account = await paper_account(client)
    order = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    stranger = await register(api)
    async with as_user(api.base_url, stranger) as other:
        since = await last_id()
        assert (await other.query(CANCEL, {"id": order["id"]}))["cancelOrder"] == {"__typename": "NotFound"}
        assert await rows_since(since, stranger) == [row("order.cancel", "DENIED", stranger, "Order", pk(order["id"]))]
        since = await last_id()
        assert (await other.query(CANCEL_ALL, {"a": account}))["cancelAllOrders"] == {"__typename": "NotFound"}
        assert await rows_since(since, stranger) == [
            row("order.cancel_all", "DENIED", stranger, "VenueAccount", pk(account))
        ]


async def test_refused_connect_is_audited_once_on_the_venue(client: GraphQLClient, trader: Account) -> None:
    since = await last_id()
    refused = await client.query(
        CONNECT, {"input": {"venueId": "binance", "environment": "PAPER", "startingBalance": "0"}}
    )
    assert (refused["connectVenue"]["__typename"], refused["connectVenue"]["field"]) == (
        "InvalidInput",
        "startingBalance",
    )
    assert await rows_since(since, trader) == [row("venue.connect", "DENIED", trader, "Venue", "binance")]


async def test_live_connect_without_a_connection_is_audited_once_on_the_venue(
    client: GraphQLClient, trader: Account
) -> None:
    since = await last_id()
    live = {"venueId": "kraken", "environment": "LIVE", "apiKey": "k-1", "apiSecret": "s-1"}
    result = (await client.query(CONNECT, {"input": live}))["connectVenue"]
    assert result["__typename"] == "VenueUnavailable"
    # Today the row is written, but with no target.
    assert await rows_since(since, trader) == [row("venue.connect", "FAILURE", trader, "Venue", "kraken")]


async def test_sync_of_a_disconnected_account_is_audited_once(client: GraphQLClient, trader: Account) -> None:
    account = await paper_account(client)
    await client.query(DISCONNECT, {"id": account})
    since = await last_id()
    refused = await client.query(
        "mutation($id: ID!) { syncVenue(id: $id) { __typename ... on UserError { code } } }", {"id": account}
    )
    assert refused["syncVenue"] == {"__typename": "InvalidInput", "code": "ACCOUNT_DISCONNECTED"}
    assert await rows_since(since, trader) == [row("venue.sync", "DENIED", trader, "VenueAccount", pk(account))]


class _FlakyExchange:
    """A live exchange that accepts the key once, then stops answering."""

    def __init__(self) -> None:
        self.up = True

    async def verify(self, credentials: Credentials) -> None:
        return None

    async def balances(self, credentials: Credentials) -> dict[str, Decimal]:
        if not self.up:
            raise AdapterError("the exchange did not answer")
        return {"USDC": Decimal(1)}


async def test_sync_that_cannot_reach_the_venue_is_audited_once(
    client: GraphQLClient, trader: Account, server: ServerHandle
) -> None:
    assert server.resources is not None
    exchange = _FlakyExchange()
    server.resources.adapters.register("bybit", exchange)
    try:
        live = {"venueId": "bybit", "environment": "LIVE", "apiKey": "k-1", "apiSecret": "s-1"}
        account = (await client.query(CONNECT, {"input": live}))["connectVenue"]["account"]["id"]
        exchange.up = False
        since = await last_id()
        result = (await client.query(SYNC, {"id": account}))["syncVenue"]
        assert result["__typename"] == "VenueUnavailable"
        assert await rows_since(since, trader) == [row("venue.sync", "FAILURE", trader, "VenueAccount", pk(account))]
    finally:
        server.resources.adapters.unregister("bybit")


async def test_disconnect_of_another_users_account_is_audited_once(
    api: GraphQLClient, client: GraphQLClient, trader: Account
) -> None:
    account = await paper_account(client)
    stranger = await register(api)
    async with as_user(api.base_url, stranger) as other:
        since = await last_id()
        assert (await other.query(DISCONNECT, {"id": account}))["disconnectVenue"] == {"__typename": "NotFound"}
        assert (await other.query(SYNC, {"id": account}))["syncVenue"] == {"__typename": "NotFound"}
    assert await rows_since(since, stranger) == [
        row("venue.disconnect", "DENIED", stranger, "VenueAccount", pk(account)),
        row("venue.sync", "DENIED", stranger, "VenueAccount", pk(account)),
    ]
