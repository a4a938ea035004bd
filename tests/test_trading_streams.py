"""Order, position and portfolio streams: a snapshot first, then deltas with a gapless sequence."""

from __future__ import annotations

from decimal import Decimal

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient, SubscriptionError

from .accounts import Account, as_user, register
from .support import ServerHandle, wait_until
from .trading import ORDER, market, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

ORDERS = (
    "subscription($a: ID) { orderUpdates(venueAccountId: $a) { sequence snapshot order { id status filledQuantity } } }"
)
ORDER_FILLS = "subscription($a: ID) { orderUpdates(venueAccountId: $a) { order { id status fills { quantity } } } }"
POSITIONS = (
    "subscription { positionUpdates { sequence snapshot position { symbol quantity markPrice unrealizedPnl } } }"
)
PORTFOLIO = "subscription { portfolioUpdates { sequence snapshot portfolio { totalValue cash } } }"


def _ws(server: ServerHandle, account: Account) -> GraphQLWSClient:
    return GraphQLWSClient(server.ws_url, connection_params={"authorization": f"Bearer {account.access_token}"})


async def test_order_stream_snapshot_then_changes(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        async with _ws(server, trader) as ws:
            sub = await ws.subscribe(ORDERS, {"a": account})
            first = (await sub.data())["orderUpdates"]
            assert first == {
                "sequence": 1,
                "snapshot": True,
                "order": {"id": resting["id"], "status": "OPEN", "filledQuantity": "0"},
            }
            filled = await placed(client, account, quantity="0.02")
            second = (await sub.data())["orderUpdates"]
            assert (second["sequence"], second["snapshot"], second["order"]["id"]) == (2, False, filled["id"])
            assert second["order"]["status"] == "FILLED"
            await client.query("mutation($id: ID!) { cancelOrder(id: $id) { __typename } }", {"id": resting["id"]})
            third = (await sub.data())["orderUpdates"]
            assert (third["sequence"], third["order"]["id"], third["order"]["status"]) == (3, resting["id"], "CANCELED")


async def test_order_stream_shows_fills_made_after_the_socket_first_loaded_them(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    """A socket's context outlives each event: the fills it delivers must be read afresh every time."""
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client, "10000000")
        mark, tick, _ = await market(client, "BTC")
        limit = ((mark * Decimal("1.003")) / tick).to_integral_value() * tick
        # Far more than the synthetic book holds near the mark: part fills now, later ticks fill more.
        order = await placed(client, account, type="LIMIT", quantity="20", price=str(limit))
        async with _ws(server, trader) as ws:
            sub = await ws.subscribe(ORDER_FILLS, {"a": account})
            snapshot = (await sub.data())["orderUpdates"]["order"]
            assert snapshot["id"] == order["id"] and snapshot["fills"]

            async def filled_more() -> bool:
                now = (await client.query(ORDER, {"id": order["id"]}))["order"]
                return len(now["fills"]) > len(snapshot["fills"])

            await wait_until(filled_more, timeout=30, interval=0.2)
            # On a busy machine the later ticks may fill the order completely before the cancel lands: the
            # order's last state, whichever it is, is read back and the stream must end on that very state.
            await client.query("mutation($id: ID!) { cancelOrder(id: $id) { __typename } }", {"id": order["id"]})
            final = (await client.query(ORDER, {"id": order["id"]}))["order"]
            while True:
                update = (await sub.data())["orderUpdates"]["order"]
                if update["status"] == final["status"]:
                    break
            assert [f["quantity"] for f in update["fills"]] == [f["quantity"] for f in final["fills"]]
            assert len(update["fills"]) > len(snapshot["fills"])


async def test_a_fill_reaches_the_position_stream_within_a_tick(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="SOL", quantity="2")
        async with _ws(server, trader) as ws:
            sub = await ws.subscribe(POSITIONS)
            snap = (await sub.data())["positionUpdates"]
            assert (snap["sequence"], snap["snapshot"], snap["position"]["symbol"]) == (1, True, "SOL")
            await placed(client, account, symbol="SOL", quantity="3")
            # Mark updates of the SOL position keep coming too; the fill shows up as quantity 5.
            seen = []
            for _ in range(20):
                update = (await sub.data(timeout=5))["positionUpdates"]
                seen.append(update)
                if update["position"]["quantity"] == "5":
                    break
            assert seen[-1]["position"]["quantity"] == "5"
            assert [u["sequence"] for u in seen] == list(range(2, 2 + len(seen)))
            position = seen[-1]["position"]
            assert Decimal(position["markPrice"]) > 0


async def test_portfolio_stream(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client, "5000")
        async with _ws(server, trader) as ws:
            sub = await ws.subscribe(PORTFOLIO)
            first = (await sub.data())["portfolioUpdates"]
            assert first == {"sequence": 1, "snapshot": True, "portfolio": {"totalValue": "5000", "cash": "5000"}}
            await placed(client, account, symbol="XRP", quantity="100")
            second = (await sub.data(timeout=10))["portfolioUpdates"]
            assert second["sequence"] == 2 and Decimal(second["portfolio"]["cash"]) < 5000


async def test_streams_are_private_and_admins_may_watch_anyone(
    server: ServerHandle, api: GraphQLClient, admin: Account, trader: Account
) -> None:
    other = await register(api)
    async with _ws(server, other) as ws:
        sub = await ws.subscribe(
            "subscription($u: ID) { orderUpdates(userId: $u) { sequence } }", {"u": trader.user_id}
        )
        with pytest.raises(SubscriptionError) as caught:
            await sub.next(timeout=5)
        assert caught.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = GraphQLWSClient(server.ws_url)
    async with anonymous:
        sub = await anonymous.subscribe(ORDERS, {"a": None})
        with pytest.raises(SubscriptionError) as caught:
            await sub.next(timeout=5)
        assert caught.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    async with _ws(server, admin) as ws:
        sub = await ws.subscribe(
            "subscription($u: ID) { orderUpdates(userId: $u) { sequence snapshot } }", {"u": trader.user_id}
        )
        assert (await sub.data())["orderUpdates"] == {"sequence": 1, "snapshot": True}
