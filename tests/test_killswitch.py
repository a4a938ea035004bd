"""The kill switch: atomic activation, blocked placements (risk-reducing ones excepted), history, alerts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry
from models.trading import WORKING, Alert, KillSwitchEvent
from models.trading import Order as OrderRow

from .accounts import Account, as_user, error_code, register
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
    assert await AuditEntry.filter(action="killswitch.activate", target_id=str(user_pk)).count() == 1


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


async def test_no_order_lands_after_activation(api: GraphQLClient, admin: Account) -> None:
    """Orders race a global activation. Whatever was answered before the activation began landed and was then
    cancelled by it; whatever was sent after it answered is refused; an order in flight meanwhile either
    landed before it (and was cancelled) or is refused: the database and the answers agree, order by order."""
    traders = [await register(api) for _ in range(4)]
    clients = [as_user(api.base_url, t) for t in traders]
    try:
        accounts = [await paper_account(c, "1000000") for c in clients]
        landed_once = [asyncio.Event() for _ in clients]
        activated = asyncio.Event()
        started_at = [0.0]

        async def keep_placing(index: int, client: GraphQLClient, account: str) -> list[_Attempt]:
            attempts: list[_Attempt] = []
            while True:
                late = activated.is_set()
                sent = time.monotonic()
                result = await place(client, account, type="LIMIT", quantity="0.01", price="1000")
                attempts.append(_Attempt(sent, time.monotonic(), late, result))
                if result["__typename"] == "OrderPlaced":
                    landed_once[index].set()
                if late:  # one order sent after the activation answered, then stop
                    return attempts

        async with as_user(api.base_url, admin) as boss:
            racing = [
                asyncio.create_task(keep_placing(i, c, a))
                for i, (c, a) in enumerate(zip(clients, accounts, strict=True))
            ]
            # Barrier: every trader has an order on the book, so the switch has something to cancel.
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in landed_once)), timeout=30)
            started_at[0] = time.monotonic()
            activation = (await boss.query(ACTIVATE, {"i": {"reason": "race", "scope": "GLOBAL"}}))[
                "activateKillSwitch"
            ]
            activated.set()
            assert activation["state"]["active"] is True
            attempts = [a for batch in await asyncio.gather(*racing) for a in batch]
            try:
                event = await KillSwitchEvent.filter(reason="race", active=True).get()
                pks = [_pk(a) for a in accounts]
                rows = {str(o.id): o for o in await OrderRow.filter(account_id__in=pks)}
                landed = [a for a in attempts if a.result["__typename"] == "OrderPlaced"]
                refused = [a for a in attempts if a.result["__typename"] != "OrderPlaced"]
                # Every order that landed, and no other, is in the database, created before the switch and
                # cancelled by it.
                assert {_pk(a.result["order"]["id"]) for a in landed} == set(rows)
                assert {(o.status, o.reason) for o in rows.values()} == {("CANCELED", CANCEL_REASON)}
                assert max(o.created_at for o in rows.values()) < event.created_at
                assert {(a.result["__typename"], a.result["scope"]) for a in refused} == {
                    ("KillSwitchActive", "GLOBAL")
                }
                # Answered before the activation began: landed. Sent after it answered: refused (one per trader).
                assert all(a in landed for a in attempts if a.answered < started_at[0])
                late = [a for a in attempts if a.late]
                assert len(late) == 4 and all(a in refused for a in late)
                assert await OrderRow.filter(status__in=list(WORKING)).count() == 0
            finally:
                await boss.query(DEACTIVATE, {"i": {"reason": "race over", "scope": "GLOBAL"}})
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)


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


@dataclass
class _Attempt:
    sent: float
    answered: float
    late: bool  # sent after the activation had answered
    result: dict[str, Any]
