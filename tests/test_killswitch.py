"""The kill switch: atomic activation, blocked placements (risk-reducing ones excepted), history, alerts."""

from __future__ import annotations

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.pagination import from_global_id
from models.alerts import Alert
from models.audit import AuditEntry
from models.orders import WORKING
from models.orders import Order as OrderRow

from .accounts import Account, as_user, error_code
from .support import ServerHandle
from .trading import paper_account, place, placed

pytestmark = pytest.mark.usefixtures("admin")

ACTIVATE = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename
  ... on KillSwitchChanged { cancelledOrders state { scope active reason } } ... on UserError { code field } } }"""
DEACTIVATE = """mutation($i: DeactivateKillSwitchInput!) { deactivateKillSwitch(input: $i) { __typename
  ... on KillSwitchChanged { state { scope active } } ... on UserError { code field } } }"""
CANCEL_REASON = "kill switch activated"
STATUS = "{ killSwitch { tradingBlocked globalSwitch { active } accountSwitch { active reason } } }"


async def test_account_switch_cancels_blocks_and_lets_risk_reduce(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="2")
        resting = await placed(client, account, symbol="ETH", type="LIMIT", quantity="1", price="100")
        assert resting["status"] == "OPEN"
        changed = (await client.query(ACTIVATE, {"i": {"reason": "desk stop", "scope": "ACCOUNT"}}))[
            "activateKillSwitch"
        ]
        assert changed["cancelledOrders"] == 1 and changed["state"]["active"] is True
        assert (await client.query(STATUS))["killSwitch"] == {
            "tradingBlocked": True,
            "globalSwitch": {"active": False},
            "accountSwitch": {"active": True, "reason": "desk stop"},
        }
        refused = await place(client, account, symbol="ETH", quantity="0.1")
        assert (refused["__typename"], refused["scope"]) == ("KillSwitchActive", "ACCOUNT")
        reducing = await place(client, account, symbol="ETH", side="SELL", quantity="1")
        assert reducing["__typename"] == "OrderPlaced" and reducing["order"]["status"] == "FILLED"
        # Selling more than is held reduces nothing: the switch refuses it before the funds check is reached.
        too_much = await place(client, account, symbol="ETH", side="SELL", quantity="5")
        assert (too_much["__typename"], too_much["scope"]) == ("KillSwitchActive", "ACCOUNT")
        twice = (await client.query(ACTIVATE, {"i": {"reason": "again", "scope": "ACCOUNT"}}))["activateKillSwitch"]
        assert twice["code"] == "NO_CHANGE"
        off = (await client.query(DEACTIVATE, {"i": {"reason": "all clear", "scope": "ACCOUNT"}}))[
            "deactivateKillSwitch"
        ]
        assert off["state"]["active"] is False
        assert (await place(client, account, symbol="ETH", quantity="0.1"))["__typename"] == "OrderPlaced"
        history = await client.query(
            "{ killSwitchHistory(first: 10) { edges { node { scope active reason cancelledOrders } } } }"
        )
        own = [e["node"] for e in history["killSwitchHistory"]["edges"] if e["node"]["scope"] == "ACCOUNT"]
        assert own[:2] == [
            {"scope": "ACCOUNT", "active": False, "reason": "all clear", "cancelledOrders": 0},
            {"scope": "ACCOUNT", "active": True, "reason": "desk stop", "cancelledOrders": 1},
        ]
    user_pk = (await OrderRow.get(id=_pk(resting["id"]))).user_id
    alert = await Alert.filter(user_id=user_pk, severity="CRITICAL").first()
    assert alert is not None and alert.message == "desk stop (1 working orders cancelled)"
    activations = AuditEntry.filter(action="killswitch.activate", target_id=str(user_pk))
    # The activation, and the second one refused as NO_CHANGE.
    assert await activations.filter(outcome="SUCCESS").count() == 1
    assert await activations.filter(outcome="DENIED").count() == 1


async def test_global_switch_is_for_admins_and_stops_everyone(
    api: GraphQLClient, admin: Account, trader: Account, server: ServerHandle
) -> None:
    async with as_user(api.base_url, trader) as client:
        body = await client.execute(ACTIVATE, {"i": {"reason": "x", "scope": "GLOBAL"}})
        assert error_code(body) == "FORBIDDEN"
        account = await paper_account(client)
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
    async with as_user(api.base_url, admin) as boss:
        # Other tests leave working orders too; the switch cancels every one, each with its own reason.
        before = await OrderRow.filter(reason=CANCEL_REASON).count()
        changed = (await boss.query(ACTIVATE, {"i": {"reason": "exchange outage", "scope": "GLOBAL"}}))[
            "activateKillSwitch"
        ]
        assert changed["state"] == {"scope": "GLOBAL", "active": True, "reason": "exchange outage"}
        assert changed["cancelledOrders"] == await OrderRow.filter(reason=CANCEL_REASON).count() - before
        mine = await OrderRow.get(id=_pk(resting["id"]))
        assert (mine.status, mine.reason) == ("CANCELED", CANCEL_REASON)
        try:
            async with as_user(api.base_url, trader) as client:
                refused = await place(client, account, quantity="0.01")
                assert (refused["__typename"], refused["scope"]) == ("KillSwitchActive", "GLOBAL")
            assert await OrderRow.filter(status__in=list(WORKING)).count() == 0
        finally:
            off = (await boss.query(DEACTIVATE, {"i": {"reason": "resolved", "scope": "GLOBAL"}}))[
                "deactivateKillSwitch"
            ]
            assert off["state"]["active"] is False


async def test_kill_switch_stream(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    async with GraphQLWSClient(
        server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
    ) as ws:
        sub = await ws.subscribe("subscription { killSwitchChanged { sequence snapshot status { tradingBlocked } } }")
        first = (await sub.data())["killSwitchChanged"]
        assert first == {"sequence": 1, "snapshot": True, "status": {"tradingBlocked": False}}
        async with as_user(api.base_url, trader) as client:
            await client.query(ACTIVATE, {"i": {"reason": "stream", "scope": "ACCOUNT"}})
            second = (await sub.data())["killSwitchChanged"]
            assert second == {"sequence": 2, "snapshot": False, "status": {"tradingBlocked": True}}
            await client.query(DEACTIVATE, {"i": {"reason": "stream done", "scope": "ACCOUNT"}})
            assert (await sub.data())["killSwitchChanged"]["status"]["tradingBlocked"] is False


def _pk(global_id: str) -> str:
    return from_global_id(global_id)[1]
