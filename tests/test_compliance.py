"""Compliance rules: each type refusing (HARD) or flagging (SOFT) exactly at its threshold, HARD rules holding
under concurrent order storms, rule administration, violations' lifecycle, the report and the stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.engine.compliance import within_hours
from models.audit import AuditEntry

from .accounts import Account, as_user, error_code, register
from .compliance_support import (
    CREATE_RULE,
    DELETE_RULE,
    VIOLATIONS,
    create_rule,
    order,
    outcome,
    pk,
    rule_input,
    update_rule,
)
from .support import ServerHandle, wait_until
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

LOW = "1000"  # a BTC limit price far below the mark: the order rests and never fills


async def _violations(client: GraphQLClient, **filters: Any) -> list[dict[str, Any]]:
    data = await client.query(VIOLATIONS, {"f": filters or None})
    return [e["node"] for e in data["complianceViolations"]["edges"]]


async def test_position_limit_quantity_and_notional_refuse_just_past_the_limit(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await create_rule(boss, account, name="btc size", type="POSITION_LIMIT", symbol="BTC", maxQuantity="0.03")
        await create_rule(boss, account, name="eth notional", type="POSITION_LIMIT", symbol="ETH", maxNotional="300")
        # Working buys count: 0.02 + 0.01 is exactly the limit, one more lot is past it.
        assert outcome(await order(client, account, type="LIMIT", quantity="0.02", price=LOW)) == "OrderPlaced"
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "OrderPlaced"
        refused = await order(client, account, type="LIMIT", quantity="0.00001", price=LOW)
        assert outcome(refused) == "rejected:btc size" and refused["code"] == "COMPLIANCE_REJECTED"
        assert "0.03001" in refused["message"]
        # ETH notional: 2 × 100 + 1 × 100 = 300 is the limit; 0.0001 more at 100 is 300.01, past it.
        assert outcome(await order(client, account, symbol="ETH", type="LIMIT", quantity="2", price="100")) == (
            "OrderPlaced"
        )
        assert outcome(await order(client, account, symbol="ETH", type="LIMIT", quantity="1", price="100")) == (
            "OrderPlaced"
        )
        refused = await order(client, account, symbol="ETH", type="LIMIT", quantity="0.0001", price="100")
        assert outcome(refused) == "rejected:eth notional"
        # Other symbols are not limited by either rule.
        assert outcome(await order(client, account, symbol="SOL", type="LIMIT", quantity="1", price="1")) == (
            "OrderPlaced"
        )
    refusals = await AuditEntry.filter(action="order.place", outcome="DENIED", target_id=pk(account)).count()
    assert refusals == 2


async def test_soft_position_limit_flags_past_the_limit_and_not_at_it(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await create_rule(
            boss,
            account,
            name="soft size",
            type="POSITION_LIMIT",
            maxQuantity="0.02",
            enforcement="SOFT",
            severity="HIGH",
        )
        assert outcome(await order(client, account, type="LIMIT", quantity="0.02", price=LOW)) == "OrderPlaced"
        assert await _violations(client) == []
        assert outcome(await order(client, account, type="LIMIT", quantity="0.00001", price=LOW)) == "OrderPlaced"
        (violation,) = await _violations(client)
        assert violation["type"] == "POSITION_LIMIT" and violation["category"] == "POSITION_LIMIT"
        assert (violation["status"], violation["severity"], violation["ruleName"]) == ("OPEN", "HIGH", "soft size")
        assert violation["venueAccountId"] == account and violation["symbol"] == "BTC"
        assert violation["venue"] == "binance" and "0.02001" in violation["description"]
        assert violation["recommendation"]


async def test_hard_limits_hold_under_concurrent_order_storms(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        rate_account = await paper_account(client)
        size_account = await paper_account(client)
        await create_rule(boss, rate_account, name="five an hour", type="ORDER_RATE", maxCount=5, windowSeconds=3600)
        await create_rule(boss, size_account, name="five lots", type="POSITION_LIMIT", maxQuantity="0.05")

        async def storm(account: str) -> list[str]:
            results = await asyncio.gather(
                *(order(client, account, type="LIMIT", quantity="0.01", price=LOW) for _ in range(20))
            )
            return [outcome(r) for r in results]

        rate, size = await asyncio.gather(storm(rate_account), storm(size_account))
    assert sorted(rate) == ["OrderPlaced"] * 5 + ["rejected:five an hour"] * 15
    assert sorted(size) == ["OrderPlaced"] * 5 + ["rejected:five lots"] * 15


async def test_risk_limit_refuses_once_the_daily_loss_reaches_it(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        # The rule exists before the day's first trade, so the day's baseline is taken before it.
        rule = await create_rule(boss, account, name="daily loss", type="RISK_LIMIT", maxDailyLoss="1000000")
        bought = await placed(client, account, symbol="ETH", quantity="0.01")
        sold = await placed(client, account, symbol="ETH", side="SELL", quantity="0.01")
        # One fill each, so the average entry is the buy price exactly.
        assert len(bought["fills"]) == 1 and len(sold["fills"]) == 1
        buy, sell = bought["fills"][0], sold["fills"][0]
        loss = (
            Decimal(buy["price"]) * Decimal(buy["quantity"])
            - Decimal(sell["price"]) * Decimal(sell["quantity"])
            + Decimal(buy["fee"])
            + Decimal(sell["fee"])
        )
        assert loss > 0  # fees and the spread on a round trip
        await update_rule(boss, rule["id"], account, name="daily loss", type="RISK_LIMIT", maxDailyLoss=str(loss))
        refused = await order(client, account, symbol="ETH", quantity="0.01")
        assert outcome(refused) == "rejected:daily loss"
        just_above = loss + Decimal("0.000000000001")
        await update_rule(boss, rule["id"], account, name="daily loss", type="RISK_LIMIT", maxDailyLoss=str(just_above))
        assert outcome(await order(client, account, symbol="ETH", quantity="0.01")) == "OrderPlaced"


async def test_excessive_cancels_refuse_past_the_count(api: GraphQLClient, admin: Account, trader: Account) -> None:
    cancel = "mutation($id: ID!) { cancelOrder(id: $id) { __typename } }"
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await create_rule(boss, account, name="cancels", type="EXCESSIVE_CANCELS", maxCount=2, windowSeconds=3600)
        resting = [await placed(client, account, type="LIMIT", quantity="0.01", price=LOW) for _ in range(3)]
        for row in resting[:2]:
            assert (await client.query(cancel, {"id": row["id"]}))["cancelOrder"]["__typename"] == "OrderCancelled"
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "OrderPlaced"
        assert (await client.query(cancel, {"id": resting[2]["id"]}))["cancelOrder"]["__typename"] == "OrderCancelled"
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "rejected:cancels"


async def test_wash_trade_refuses_crossing_own_resting_order(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        other = await paper_account(client)
        await placed(client, account, symbol="ETH", quantity="0.02")
        await create_rule(boss, None, name="no wash", type="WASH_TRADE", scope="VENUE", venueId="binance")
        try:
            ask = await placed(client, account, symbol="ETH", side="SELL", type="LIMIT", quantity="0.01", price="90000")
            assert ask["status"] == "OPEN"
            # At the resting sell's price crosses it, from any of the user's accounts; a tick below does not.
            at = await order(client, other, symbol="ETH", type="LIMIT", quantity="0.01", price="90000")
            assert outcome(at) == "rejected:no wash"
            assert outcome(await order(client, other, symbol="ETH", quantity="0.01")) == "rejected:no wash"
            below = await order(client, other, symbol="ETH", type="LIMIT", quantity="0.01", price="89999.99")
            assert outcome(below) == "OrderPlaced"
        finally:
            rules = await boss.query("{ complianceRules(first: 100) { edges { node { id name } } } }")
            for edge in rules["complianceRules"]["edges"]:
                if edge["node"]["name"] == "no wash":
                    await boss.query(DELETE_RULE, {"id": edge["node"]["id"]})


async def test_restricted_instrument_refuses_new_risk_but_lets_a_position_be_reduced(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="DOGE", quantity="10")
        await create_rule(boss, account, name="no doge", type="RESTRICTED_INSTRUMENT", symbols=["doge", "XRP"])
        assert outcome(await order(client, account, symbol="DOGE", quantity="1")) == "rejected:no doge"
        assert outcome(await order(client, account, symbol="XRP", quantity="1")) == "rejected:no doge"
        assert outcome(await order(client, account, symbol="DOGE", side="SELL", quantity="10")) == "OrderPlaced"
        assert outcome(await order(client, account, symbol="BTC", quantity="0.0001")) == "OrderPlaced"


def test_trading_hours_window_bounds() -> None:
    assert within_hours(540, 1020, 540) and within_hours(540, 1020, 1019)
    assert not within_hours(540, 1020, 539) and not within_hours(540, 1020, 1020)
    # Past midnight: 22:00–02:00.
    assert within_hours(1320, 120, 1320) and within_hours(1320, 120, 0) and within_hours(1320, 120, 119)
    assert not within_hours(1320, 120, 120) and not within_hours(1320, 120, 1319)


async def test_trading_hours_refuse_at_the_window_end(api: GraphQLClient, admin: Account, trader: Account) -> None:
    def hhmm(moment: datetime) -> str:
        return moment.strftime("%H:%M")

    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        # Far enough from a minute's end that the requests below fall in the same minute.
        await wait_until(lambda: datetime.now(UTC).second < 45, timeout=20)
        now = datetime.now(UTC)
        rule = await create_rule(
            boss,
            account,
            name="hours",
            type="TRADING_HOURS",
            startTime=hhmm(now),
            endTime=hhmm(now + timedelta(minutes=2)),
        )
        assert outcome(await order(client, account, quantity="0.0001")) == "OrderPlaced"  # at the start: inside
        await update_rule(
            boss,
            rule["id"],
            account,
            name="hours",
            type="TRADING_HOURS",
            startTime=hhmm(now - timedelta(minutes=2)),
            endTime=hhmm(now),
        )
        refused = await order(client, account, quantity="0.0001")  # at the end: outside
        assert outcome(refused) == "rejected:hours" and f"it is {hhmm(now)} UTC" in refused["message"]


async def test_rules_are_admin_managed_and_validated(api: GraphQLClient, admin: Account, trader: Account) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        body = await client.execute(CREATE_RULE, {"i": rule_input(account, type="WASH_TRADE")})
        assert error_code(body) == "FORBIDDEN"
        bad = (await boss.query(CREATE_RULE, {"i": rule_input(account, type="ORDER_RATE", windowSeconds=60)}))[
            "createComplianceRule"
        ]
        assert (bad["__typename"], bad["field"]) == ("InvalidInput", "maxCount")
        unused = (await boss.query(CREATE_RULE, {"i": rule_input(account, type="WASH_TRADE", maxCount=3)}))[
            "createComplianceRule"
        ]
        assert (unused["__typename"], unused["field"]) == ("InvalidInput", "maxCount")
        hours = (
            await boss.query(
                CREATE_RULE, {"i": rule_input(account, type="TRADING_HOURS", startTime="9:00", endTime="17:00")}
            )
        )["createComplianceRule"]
        assert (hours["__typename"], hours["field"]) == ("InvalidInput", "startTime")
        rule = await create_rule(boss, account, name="rate", type="ORDER_RATE", maxCount=1, windowSeconds=60)
        assert (rule["scope"], rule["venueAccountId"], rule["maxCount"], rule["active"]) == (
            "ACCOUNT",
            account,
            1,
            True,
        )
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "OrderPlaced"
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "rejected:rate"
        changed = await update_rule(
            boss, rule["id"], account, name="rate", type="ORDER_RATE", maxCount=1, windowSeconds=60, active=False
        )
        assert changed["rule"]["active"] is False
        assert outcome(await order(client, account, type="LIMIT", quantity="0.01", price=LOW)) == "OrderPlaced"
        deleted = (await boss.query(DELETE_RULE, {"id": rule["id"]}))["deleteComplianceRule"]
        assert deleted == {"__typename": "ComplianceRuleDeleted", "deletedId": rule["id"]}
        again = (await boss.query(DELETE_RULE, {"id": rule["id"]}))["deleteComplianceRule"]
        assert again == {"__typename": "NotFound", "code": "NOT_FOUND"}
    actions = {r.action for r in await AuditEntry.filter(target_id=pk(rule["id"]))}
    assert actions == {"compliance.rule_create", "compliance.rule_update", "compliance.rule_delete"}


ACK = """mutation($id: ID!) { acknowledgeViolation(id: $id) { __typename
  ... on ViolationChanged { violation { status acknowledgedAt } } ... on UserError { code } } }"""
RESOLVE = """mutation($id: ID!, $n: String!) { resolveViolation(id: $id, note: $n) { __typename
  ... on ViolationChanged { violation { status resolvedAt resolutionNote } } ... on UserError { code } } }"""
REPORT = """query($p: ComplianceReportPeriod!) { complianceReport(period: $p) { period totalViolations
  criticalViolations openViolations acknowledgedViolations resolvedViolations violationsByType { type count }
  riskScore recommendations } }"""
STREAM = """subscription { complianceViolationRaised { sequence snapshot openViolations
  violation { id type ruleName severity status } } }"""


async def test_violation_lifecycle_report_and_stream(
    server: ServerHandle, api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with (
        as_user(api.base_url, admin) as boss,
        as_user(api.base_url, trader) as client,
        GraphQLWSClient(server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}) as ws,
    ):
        account = await paper_account(client)
        sub = await ws.subscribe(STREAM)
        first = (await sub.data())["complianceViolationRaised"]
        assert first == {"sequence": 1, "snapshot": True, "openViolations": 0, "violation": None}
        await create_rule(
            boss,
            account,
            name="one an hour",
            type="ORDER_RATE",
            maxCount=1,
            windowSeconds=3600,
            enforcement="SOFT",
            severity="CRITICAL",
        )
        await create_rule(
            boss,
            account,
            name="no sol",
            type="RESTRICTED_INSTRUMENT",
            symbols=["SOL"],
            enforcement="SOFT",
            severity="LOW",
        )
        await placed(client, account, type="LIMIT", quantity="0.01", price=LOW)
        await placed(client, account, type="LIMIT", quantity="0.01", price=LOW)  # the second order in the hour
        raised = (await sub.data())["complianceViolationRaised"]
        assert (raised["sequence"], raised["snapshot"], raised["openViolations"]) == (2, False, 1)
        assert raised["violation"]["ruleName"] == "one an hour" and raised["violation"]["status"] == "OPEN"
        await placed(client, account, symbol="SOL", type="LIMIT", quantity="1", price="1")  # both rules
        deliveries = [(await sub.data())["complianceViolationRaised"] for _ in range(2)]
        assert [d["sequence"] for d in deliveries] == [3, 4]
        assert sorted(d["violation"]["ruleName"] for d in deliveries) == ["no sol", "one an hour"]

        critical = await _violations(client, type="ORDER_RATE")
        assert [v["severity"] for v in critical] == ["CRITICAL", "CRITICAL"]
        target = critical[-1]["id"]
        acked = (await client.query(ACK, {"id": target}))["acknowledgeViolation"]
        assert acked["__typename"] == "ViolationChanged" and acked["violation"]["status"] == "ACKNOWLEDGED"
        assert (await client.query(ACK, {"id": target}))["acknowledgeViolation"]["code"] == "INVALID_TRANSITION"
        assert error_code(await client.execute(RESOLVE, {"id": target, "n": "mine"})) == "FORBIDDEN"
        done = (await boss.query(RESOLVE, {"id": target, "n": "desk throttled"}))["resolveViolation"]
        assert done["violation"]["status"] == "RESOLVED" and done["violation"]["resolutionNote"] == "desk throttled"
        assert done["violation"]["resolvedAt"] is not None
        assert (await boss.query(RESOLVE, {"id": target, "n": "again"}))["resolveViolation"]["code"] == (
            "INVALID_TRANSITION"
        )
        assert [v["id"] for v in await _violations(client, status="RESOLVED")] == [target]

        report = (await client.query(REPORT, {"p": "DAY"}))["complianceReport"]
        # Two CRITICAL ORDER_RATE (one OPEN: 10 × 2, one RESOLVED: 0) and one LOW OPEN (1 × 2).
        assert report == {
            "period": "DAY",
            "totalViolations": 3,
            "criticalViolations": 2,
            "openViolations": 2,
            "acknowledgedViolations": 0,
            "resolvedViolations": 1,
            "violationsByType": [
                {"type": "ORDER_RATE", "count": 2},
                {"type": "RESTRICTED_INSTRUMENT", "count": 1},
            ],
            "riskScore": 22,
            "recommendations": [
                "Throttle order submission (batch or pace orders) to stay within the allowed rate.",
                "Do not trade restricted instruments; close any exposure through compliance.",
            ],
        }
    # Someone else's violation is not found, not forbidden.
    async with as_user(api.base_url, (await _other(api))) as stranger:
        assert (await stranger.query(ACK, {"id": target}))["acknowledgeViolation"]["code"] == "NOT_FOUND"


async def _other(api: GraphQLClient) -> Account:
    return await register(api)


async def test_a_soft_breach_of_an_order_refused_later_leaves_no_violation(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        account = await paper_account(client, balance="100")
        await create_rule(
            boss, account, name="soft btc", type="RESTRICTED_INSTRUMENT", symbols=["BTC"], enforcement="SOFT"
        )
        refused = await order(client, account, quantity="1")
        assert refused["__typename"] == "InsufficientFunds"
        assert await _violations(client) == []
        assert outcome(await order(client, account, quantity="0.0001")) == "OrderPlaced"
        assert [v["ruleName"] for v in await _violations(client)] == ["soft btc"]
