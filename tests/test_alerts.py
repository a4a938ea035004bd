"""Alerts: raised by the kill switch, the dead-man switch, compliance and price alerts through one action,
listed, counted, marked and streamed to their owner only; price alerts fire exactly once per crossing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.services import deadman
from graphql_api.services.alerts import prices
from models.alerts import Alert as AlertRow
from models.alerts import PriceAlert as PriceAlertRow
from models.audit import AuditEntry

from .accounts import Account, as_user, register
from .compliance_support import create_rule, pk
from .support import ServerHandle, holds_for
from .trading import paper_account, placed, price_reached_later

pytestmark = pytest.mark.usefixtures("admin")

ALERT = "id type category severity title message source venue metadata read acknowledged readAt acknowledgedAt"
ALERTS = "query($f: AlertFilter) { alerts(filter: $f, first: 50) { totalCount edges { node { " + ALERT + " } } } }"
STREAM = "subscription { alertRaised { sequence snapshot unreadCount alert { id title severity source } } }"
MARK = "mutation($id: ID!) { markAlertRead(id: $id) { __typename ... on AlertChanged { alert { read acknowledged } } "
MARK += "... on UserError { code field } } }"
ACK = MARK.replace("markAlertRead", "acknowledgeAlert")
TEST_ALERT = """mutation($s: AlertSeverity!, $m: String) { sendTestAlert(severity: $s, message: $m) { __typename
  ... on AlertChanged { alert { id title message severity category source } } ... on UserError { code field } } }"""
PRICE = "id symbol condition value window recurring status armed referencePrice triggerCount lastTriggeredPrice"
CREATE = "mutation($i: PriceAlertInput!) { createPriceAlert(input: $i) { __typename "
CREATE += "... on PriceAlertChanged { priceAlert { " + PRICE + " } } ... on UserError { code field message } } }"
UPDATE = """mutation($id: ID!, $i: PriceAlertInput!) { updatePriceAlert(id: $id, input: $i) { __typename
  ... on PriceAlertChanged { priceAlert { id status value } } ... on UserError { code field } } }"""
DELETE = """mutation($id: ID!) { deletePriceAlert(id: $id) { __typename ... on PriceAlertDeleted { deletedId }
  ... on UserError { code field } } }"""
ACTIVATE = """mutation { activateKillSwitch(input: {reason: "desk stop", scope: ACCOUNT}) { __typename } }"""
DEACTIVATE = """mutation { deactivateKillSwitch(input: {reason: "clear", scope: ACCOUNT}) { __typename } }"""


async def _alerts(client: GraphQLClient, **filter: Any) -> list[dict[str, Any]]:
    body = await client.query(ALERTS, {"f": filter or None})
    return [e["node"] for e in body["alerts"]["edges"]]


async def _unread(client: GraphQLClient) -> int:
    count: int = (await client.query("{ unreadAlertCount }"))["unreadAlertCount"]
    return count


def _socket(server: ServerHandle, account: Account) -> GraphQLWSClient:
    return GraphQLWSClient(server.ws_url, connection_params={"authorization": f"Bearer {account.access_token}"})


async def test_kill_switch_alert_is_listed_streamed_marked_and_private(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    stranger = await register(api)
    async with as_user(api.base_url, trader) as client, _socket(server, trader) as ws:
        sub = await ws.subscribe(STREAM)
        assert (await sub.data())["alertRaised"] == {"sequence": 1, "snapshot": True, "unreadCount": 0, "alert": None}
        await paper_account(client)
        assert (await client.query(ACTIVATE))["activateKillSwitch"]["__typename"] == "KillSwitchChanged"
        raised = (await sub.data())["alertRaised"]
        assert (raised["sequence"], raised["snapshot"], raised["unreadCount"]) == (2, False, 1)
        assert raised["alert"]["title"] == "Account kill switch activated"
        assert (raised["alert"]["severity"], raised["alert"]["source"]) == ("CRITICAL", "kill_switch")
        await client.query(DEACTIVATE)
        low = (await sub.data())["alertRaised"]
        assert (low["sequence"], low["unreadCount"], low["alert"]["severity"]) == (3, 2, "LOW")

        listed = await _alerts(client)
        assert [a["title"] for a in listed] == ["Account kill switch deactivated", "Account kill switch activated"]
        critical = listed[1]
        assert (critical["type"], critical["category"], critical["read"]) == ("ERROR", "TRADING", False)
        assert critical["message"] == "desk stop (0 working orders cancelled)"
        assert critical["metadata"] == {"level": "CANCEL_ALL", "cancelledOrders": 0}
        assert [a["title"] for a in await _alerts(client, severity="CRITICAL")] == ["Account kill switch activated"]
        assert await _unread(client) == 2

        async with as_user(api.base_url, stranger) as other:
            assert await _alerts(other) == []
            refused = (await other.query(MARK, {"id": critical["id"]}))["markAlertRead"]
            assert (refused["__typename"], refused["code"], refused["field"]) == ("NotFound", "NOT_FOUND", "id")

        marked = (await client.query(MARK, {"id": critical["id"]}))["markAlertRead"]
        assert marked["alert"] == {"read": True, "acknowledged": False}
        assert [a["id"] for a in await _alerts(client, read=False)] == [listed[0]["id"]]
        acked = (await client.query(ACK, {"id": listed[0]["id"]}))["acknowledgeAlert"]
        assert acked["alert"] == {"read": True, "acknowledged": True}
        assert await _unread(client) == 0
        await client.query(TEST_ALERT, {"s": "HIGH", "m": None})
        await client.query(TEST_ALERT, {"s": "LOW", "m": "ping"})
        assert await _unread(client) == 2
        done = await client.query("mutation { markAllAlertsRead { count } }")
        assert done["markAllAlertsRead"]["count"] == 2
        assert await _unread(client) == 0
    user = pk(trader.user_id)
    reads = AuditEntry.filter(actor_id=user, action__in=["alert.mark_read", "alert.acknowledge"], outcome="SUCCESS")
    assert await reads.count() == 2


async def test_test_alert_validates_its_message(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        refused = (await client.query(TEST_ALERT, {"s": "LOW", "m": "x" * 501}))["sendTestAlert"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "message")
        sent = (await client.query(TEST_ALERT, {"s": "CRITICAL", "m": " checking "}))["sendTestAlert"]["alert"]
        assert {k: sent[k] for k in ("title", "message", "severity", "category", "source")} == {
            "title": "Test alert",
            "message": "checking",
            "severity": "CRITICAL",
            "category": "SYSTEM",
            "source": "test",
        }


async def test_compliance_violation_and_dead_mans_switch_raise_alerts(
    server: ServerHandle, api: GraphQLClient, admin: Account, trader: Account
) -> None:
    resources = server.resources
    assert resources is not None
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await create_rule(
            boss,
            account,
            name="no doge",
            type="RESTRICTED_INSTRUMENT",
            symbols=["DOGE"],
            enforcement="SOFT",
            severity="HIGH",
        )
        await placed(client, account, symbol="DOGE", type="LIMIT", quantity="10", price="0.01")
        compliance = await _alerts(client, category="COMPLIANCE")
        assert [(a["title"], a["severity"], a["venue"]) for a in compliance] == [
            ("Compliance violation: no doge", "HIGH", "binance")
        ]
        armed = await client.query("mutation { armDeadMansSwitch(timeoutSeconds: 5) { __typename } }")
        assert armed["armDeadMansSwitch"]["__typename"] == "DeadMansSwitchChanged"
        switch = await deadman.state(pk(trader.user_id))
        assert switch.expires_at is not None
        await deadman.sweep(resources.engine, resources.bus, switch.expires_at + timedelta(seconds=1))
        fired = [a for a in await _alerts(client, category="TRADING") if a["source"] == "dead_mans_switch"]
        assert [(a["severity"], a["message"]) for a in fired] == [
            ("CRITICAL", "No heartbeat arrived in time: 1 working orders were cancelled.")
        ]


async def test_price_alert_input_is_validated_field_by_field(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        cases = [
            ({"symbol": "NOPE", "condition": "ABOVE", "value": "1"}, "symbol"),
            ({"symbol": "BTC", "condition": "ABOVE", "value": "0"}, "value"),
            ({"symbol": "BTC", "condition": "BELOW", "value": "1", "window": 60}, "window"),
            ({"symbol": "BTC", "condition": "PERCENT_CHANGE", "value": "1001"}, "value"),
            ({"symbol": "BTC", "condition": "PERCENT_CHANGE", "value": "1", "window": 0}, "window"),
            ({"symbol": "BTC", "condition": "ABOVE", "value": "1", "note": "n" * 201}, "note"),
        ]
        for data, field in cases:
            refused = (await client.query(CREATE, {"i": data}))["createPriceAlert"]
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", field), data
        assert (await client.query("{ priceAlerts { totalCount } }"))["priceAlerts"]["totalCount"] == 0


async def test_price_alert_fires_once_on_the_tick_that_crosses_it(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    target = await price_reached_later("SOL", server.settings.feed_seed, below=False, margin=Decimal("0.002"))
    async with as_user(api.base_url, trader) as client, _socket(server, trader) as ws:
        sub = await ws.subscribe(STREAM)
        await sub.data()
        data = {"symbol": "sol", "condition": "ABOVE", "value": str(target), "note": "take profit"}
        created = (await client.query(CREATE, {"i": data}))["createPriceAlert"]["priceAlert"]
        assert (created["symbol"], created["status"], created["armed"], created["triggerCount"]) == (
            "SOL",
            "ACTIVE",
            True,
            0,
        )
        assert Decimal(created["referencePrice"]) < target
        raised = (await sub.data(timeout=120))["alertRaised"]
        assert raised["alert"]["source"] == "price_alert"
        row = await PriceAlertRow.get(id=pk(created["id"]))
        assert (row.status, row.trigger_count) == ("TRIGGERED", 1)
        assert row.last_triggered_price is not None and row.last_triggered_price >= target
        assert raised["alert"]["title"] == f"SOL above {target.normalize():f}"
        # Later ticks leave it alone: one alert for the one crossing.
        fired = AlertRow.filter(user_id=row.user_id, source="price_alert")
        await holds_for(lambda: _count_is(fired, 1), seconds=1)
        again = (await client.query(UPDATE, {"id": created["id"], "i": {**data, "value": "1"}}))["updatePriceAlert"]
        assert again["priceAlert"]["status"] == "ACTIVE"
        gone = (await client.query(DELETE, {"id": created["id"]}))["deletePriceAlert"]
        assert gone == {"__typename": "PriceAlertDeleted", "deletedId": created["id"]}
        missing = (await client.query(DELETE, {"id": created["id"]}))["deletePriceAlert"]
        assert missing["__typename"] == "NotFound"


async def _count_is(query: Any, expected: int) -> bool:
    return bool(await query.count() == expected)


async def test_concurrent_evaluations_of_one_crossing_fire_once(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    """Twenty evaluators (as several processes could be in a leadership change) judge the same tick: one
    claims the alert, the others find it changed and raise nothing."""
    resources = server.resources
    assert resources is not None
    async with as_user(api.base_url, trader) as client:
        data = {"symbol": "BTC", "condition": "ABOVE", "value": "99999999"}
        created = (await client.query(CREATE, {"i": data}))["createPriceAlert"]["priceAlert"]
    marks = {"BTC": (Decimal("100000000"), 0)}
    # Other tests' alerts on BTC may fire on this tick too: only this alert's own firings are counted.
    await asyncio.gather(*(prices.evaluate(resources.bus, marks) for _ in range(20)))
    row = await PriceAlertRow.get(id=pk(created["id"]))
    assert (row.status, row.trigger_count, row.last_triggered_price) == ("TRIGGERED", 1, Decimal("100000000"))
    assert await AlertRow.filter(user_id=row.user_id, source="price_alert").count() == 1
    assert await AuditEntry.filter(action="price_alert.trigger", target_id=str(row.id)).count() == 1


@pytest.mark.parametrize(
    ("condition", "value", "reference", "price", "expected"),
    [
        ("ABOVE", "100", "90", "100", True),
        ("ABOVE", "100", "90", "99.99", False),
        ("BELOW", "100", "110", "100", True),
        ("BELOW", "100", "110", "100.01", False),
        ("CROSSES", "100", "90", "100", True),  # below → at or above
        ("CROSSES", "100", "100", "99.99", True),  # at (the upper side) → below
        ("CROSSES", "100", "110", "100", False),  # still on the upper side
        ("PERCENT_CHANGE", "2", "50", "51", True),  # +2 %
        ("PERCENT_CHANGE", "2", "50", "49", True),  # −2 %
        ("PERCENT_CHANGE", "2", "50", "50.99", False),  # +1.98 %
    ],
)
def test_conditions(condition: str, value: str, reference: str, price: str, expected: bool) -> None:
    row = PriceAlertRow(condition=condition, value=Decimal(value), reference_price=Decimal(reference))
    assert prices.met(row, Decimal(price)) is expected
