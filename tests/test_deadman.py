"""Kill-switch levels and the dead-man switch (scheduled cancel): firing, held off by heartbeats, the daily limit.

Time is driven through the sweep the feed leader runs after each tick (``services.deadman.sweep``), called
with the instant to judge; one test lets the registered tick consumer itself fire a switch whose stored
deadline has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.auth import utcnow
from graphql_api.client import GraphQLClient
from graphql_api.services import deadman
from models.audit import AuditEntry
from models.compliance import DeadMansSwitch
from models.orders import Order as OrderRow

from .accounts import Account, as_user
from .compliance_support import order, outcome, pk
from .support import ServerHandle, wait_until
from .trading import POSITIONS, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

STATE = """{ deadMansSwitch { armed timeoutSeconds armedAt lastHeartbeatAt expiresAt triggeredAt cancelledOrders
  triggersToday triggersRemainingToday } }"""
RESULT = "{ __typename ... on DeadMansSwitchChanged { state { armed expiresAt timeoutSeconds } } ... on UserError { code field } }"
ARM = "mutation($t: Int!) { armDeadMansSwitch(timeoutSeconds: $t) " + RESULT + " }"
HEARTBEAT = "mutation { heartbeat " + RESULT + " }"
DISARM = "mutation { disarmDeadMansSwitch " + RESULT + " }"
ACTIVATE = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename
  ... on KillSwitchChanged { cancelledOrders closingOrders state { active level } } ... on UserError { code } } }"""
DEACTIVATE = """mutation { deactivateKillSwitch(input: {reason: "done", scope: ACCOUNT}) { __typename } }"""
REASON = "dead-man switch expired"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _status(order_id: str) -> str:
    return str((await OrderRow.get(id=pk(order_id))).status)


async def _mutate(client: GraphQLClient, document: str, **variables: Any) -> dict[str, Any]:
    data = await client.query(document, variables or None)
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_dead_mans_switch_fires_without_heartbeat_and_is_held_off_by_them(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    resources = server.resources
    assert resources is not None
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        short = await _mutate(client, ARM, t=4)
        assert (short["__typename"], short["code"], short["field"]) == (
            "InvalidInput",
            "INVALID_INPUT",
            "timeoutSeconds",
        )
        armed = await _mutate(client, ARM, t=5)
        assert armed["state"]["armed"] is True and armed["state"]["timeoutSeconds"] == 5
        state = (await client.query(STATE))["deadMansSwitch"]
        first_deadline = _at(state["expiresAt"])
        assert first_deadline == _at(state["armedAt"]) + timedelta(seconds=5)

        # Just before the deadline nothing happens.
        assert await deadman.sweep(resources.engine, resources.bus, first_deadline - timedelta(microseconds=1)) == []
        beat = await _mutate(client, HEARTBEAT)
        second_deadline = _at(beat["state"]["expiresAt"])
        assert second_deadline > first_deadline
        state = (await client.query(STATE))["deadMansSwitch"]
        assert second_deadline == _at(state["lastHeartbeatAt"]) + timedelta(seconds=5)
        # At the first deadline the heartbeat holds it off.
        assert await deadman.sweep(resources.engine, resources.bus, first_deadline) == []
        assert await _status(resting["id"]) == "OPEN"
        # At the new deadline, without another heartbeat, it fires.
        fired = await deadman.sweep(resources.engine, resources.bus, second_deadline)
        assert [(f.user_id, f.cancelled_orders) for f in fired] == [(pk(trader.user_id), 1)]
        row = await OrderRow.get(id=pk(resting["id"]))
        assert (row.status, row.reason) == ("CANCELED", REASON)
        state = (await client.query(STATE))["deadMansSwitch"]
        assert (state["armed"], state["cancelledOrders"], state["triggersToday"], state["triggersRemainingToday"]) == (
            False,
            1,
            1,
            9,
        )
        assert (await _mutate(client, HEARTBEAT))["code"] == "NOT_ARMED"
        # Disarmed, it never fires.
        await _mutate(client, ARM, t=5)
        assert (await _mutate(client, DISARM))["state"]["armed"] is False
        assert await deadman.sweep(resources.engine, resources.bus, utcnow() + timedelta(days=1)) == []
        assert (await _mutate(client, DISARM))["code"] == "NOT_ARMED"
    triggers = await AuditEntry.filter(action="deadman.trigger", target_id=pk(trader.user_id))
    assert [(t.outcome, t.detail["cancelledOrders"]) for t in triggers] == [("SUCCESS", 1)]


async def test_the_feed_leader_fires_an_expired_switch(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        await _mutate(client, ARM, t=3600)
        assert await _status(resting["id"]) == "OPEN"
        # The stored deadline passes (as if an hour went by without a heartbeat); the next tick's sweep fires it.
        await DeadMansSwitch.filter(user_id=pk(trader.user_id)).update(expires_at=utcnow() - timedelta(seconds=1))

        async def cancelled() -> bool:
            return await _status(resting["id"]) == "CANCELED"

        await wait_until(cancelled, timeout=15)
        assert (await client.query(STATE))["deadMansSwitch"]["armed"] is False


async def test_dead_mans_switch_triggers_are_limited_per_day(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    resources = server.resources
    assert resources is not None
    limit = server.settings.deadman_daily_triggers
    async with as_user(api.base_url, trader) as client:
        for _ in range(limit):
            armed = await _mutate(client, ARM, t=5)
            assert armed["__typename"] == "DeadMansSwitchChanged"
            await deadman.sweep(resources.engine, resources.bus, _at(armed["state"]["expiresAt"]))
        state = (await client.query(STATE))["deadMansSwitch"]
        assert (state["triggersToday"], state["triggersRemainingToday"]) == (limit, 0)
        refused = await _mutate(client, ARM, t=5)
        assert (refused["__typename"], refused["code"]) == ("InvalidInput", "DEADMAN_TRIGGER_LIMIT")


async def test_block_entries_keeps_working_orders(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="0.1")
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        changed = await _mutate(client, ACTIVATE, i={"reason": "entries", "scope": "ACCOUNT", "level": "BLOCK_ENTRIES"})
        assert changed == {
            "__typename": "KillSwitchChanged",
            "cancelledOrders": 0,
            "closingOrders": 0,
            "state": {"active": True, "level": "BLOCK_ENTRIES"},
        }
        try:
            assert await _status(resting["id"]) == "OPEN"
            assert outcome(await order(client, account, symbol="ETH", quantity="0.01")) == "KillSwitchActive"
            assert outcome(await order(client, account, symbol="ETH", side="SELL", quantity="0.05")) == "OrderPlaced"
        finally:
            await client.query(DEACTIVATE)


async def test_cancel_all_cancels_working_orders_and_keeps_positions(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="0.1")
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        changed = await _mutate(client, ACTIVATE, i={"reason": "cancel", "scope": "ACCOUNT", "level": "CANCEL_ALL"})
        try:
            assert (changed["cancelledOrders"], changed["closingOrders"], changed["state"]["level"]) == (
                1,
                0,
                "CANCEL_ALL",
            )
            assert await _status(resting["id"]) == "CANCELED"
            held = (await client.query(POSITIONS, {"f": {"venueAccountId": account}}))["positions"]
            assert [(p["symbol"], Decimal(p["quantity"])) for p in held] == [("ETH", Decimal("0.1"))]
        finally:
            await client.query(DEACTIVATE)


async def test_flatten_cancels_and_closes_every_position(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        other = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="0.1")
        await placed(client, account, symbol="SOL", quantity="1")
        await placed(client, other, symbol="BTC", quantity="0.001")
        resting = await placed(client, other, type="LIMIT", quantity="0.01", price="1000")
        changed = await _mutate(client, ACTIVATE, i={"reason": "flat", "scope": "ACCOUNT", "level": "FLATTEN"})
        try:
            assert (changed["cancelledOrders"], changed["closingOrders"], changed["state"]["level"]) == (
                1,
                3,
                "FLATTEN",
            )
            assert await _status(resting["id"]) == "CANCELED"
            for venue_account in (account, other):
                held = (await client.query(POSITIONS, {"f": {"venueAccountId": venue_account}}))["positions"]
                assert [p for p in held if Decimal(p["quantity"]) != 0] == []
            assert outcome(await order(client, account, symbol="ETH", quantity="0.01")) == "KillSwitchActive"
            history = await client.query("{ killSwitchHistory(first: 1) { edges { node { level closingOrders } } } }")
            assert history["killSwitchHistory"]["edges"][0]["node"] == {"level": "FLATTEN", "closingOrders": 3}
        finally:
            await client.query(DEACTIVATE)
    closes = await AuditEntry.filter(action="position.close", outcome="SUCCESS", actor_id=pk(trader.user_id)).count()
    assert closes == 3
