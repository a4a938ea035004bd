"""Alerts raised by orders (filled, per the owner's orderFills choice; refused by the kill switch, funds or
compliance) and by bots (every status change, ERROR on a strategy failure), each in its producer's own
transaction through raise_alert."""

from __future__ import annotations

from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from models.alerts import Alert as AlertRow
from models.bots import Bot as BotRow
from models.bots import BotStatus
from models.strategies import Strategy as StrategyRow

from .accounts import Account, as_user
from .compliance_support import pk
from .support import ServerHandle, wait_until
from .test_bots import _bot, _step, _strategy
from .trading import paper_account, place, placed

pytestmark = pytest.mark.usefixtures("admin")

ALERTS = """query($f: AlertFilter) { alerts(filter: $f, first: 50) { edges { node {
  type category severity title message source botId metadata read } } } }"""
PREFS = """mutation($i: NotificationPreferencesInput!) { updateNotificationPreferences(input: $i) { __typename } }"""


async def _alerts(client: GraphQLClient, category: str) -> list[dict[str, Any]]:
    body = await client.query(ALERTS, {"f": {"category": category}})
    return [e["node"] for e in body["alerts"]["edges"]]


async def test_orders_raise_fill_and_rejection_alerts(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client, balance="1000")
        order = await placed(client, account, symbol="BTC", quantity="0.001")
        assert order["status"] == "FILLED"
        [filled] = await _alerts(client, "TRADING")
        assert (filled["type"], filled["severity"], filled["source"]) == ("SUCCESS", "LOW", "order")
        assert filled["title"] == "Order filled: BUY 0.001 BTC"
        assert filled["message"] == f"BUY 0.001 BTC filled at an average price of {order['averagePrice']}."
        assert filled["metadata"]["orderId"] == pk(order["id"])

        refused = await place(client, account, symbol="BTC", quantity="1000")
        assert refused["__typename"] == "InsufficientFunds"
        rejected, _ = await _alerts(client, "TRADING")
        assert (rejected["type"], rejected["severity"], rejected["title"]) == (
            "WARNING",
            "MEDIUM",
            "Order rejected: BUY 1000 BTC",
        )
        assert rejected["message"] == f"{refused['message']} (INSUFFICIENT_FUNDS)"
        # A bad input is the caller's answer alone: no alert.
        assert (await place(client, account, symbol="BTC", quantity="-1"))["__typename"] == "InvalidInput"

        assert (await client.query(PREFS, {"i": {"orderFills": False}}))["updateNotificationPreferences"]
        assert (await placed(client, account, symbol="BTC", quantity="0.001"))["status"] == "FILLED"
        titles = [a["title"] for a in await _alerts(client, "TRADING")]
        assert titles == ["Order rejected: BUY 1000 BTC", "Order filled: BUY 0.001 BTC"]


async def test_bot_status_changes_and_errors_raise_alerts(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(server.url, trader) as me:
        account = await paper_account(me)
        calm = await _bot(me, await _strategy(me), account, interval="1d")
        await _step(me, "startBot", calm["id"])
        await _step(me, "pauseBot", calm["id"])
        await _step(me, "stopBot", calm["id"])
        changes = [(a["title"], a["type"], a["botId"]) for a in await _alerts(me, "BOT")]
        assert changes == [
            ("Bot bot stopped", "INFO", pk(calm["id"])),
            ("Bot bot paused", "INFO", pk(calm["id"])),
            ("Bot bot running", "INFO", pk(calm["id"])),
        ]

        strategy = await _strategy(me)
        broken = await _bot(me, strategy, account, interval="tick")
        # Stored parameters that no longer hold (written past the API's validation): building the strategy raises.
        await StrategyRow.filter(id=pk(strategy)).update(
            parameters={
                "fast_period": 9,
                "slow_period": 3,
                "position_size": "0.5",
                "stop_loss": "0",
                "take_profit": "0",
            }
        )
        await _step(me, "startBot", broken["id"])

        async def errored() -> bool:
            return (await BotRow.get(id=pk(broken["id"]))).status == BotStatus.ERROR

        await wait_until(errored, timeout=30, interval=0.1)
        reason = (await BotRow.get(id=pk(broken["id"]))).status_reason
        failed = (await _alerts(me, "BOT"))[0]
        assert (failed["title"], failed["type"], failed["severity"]) == ("Bot bot failed", "ERROR", "HIGH")
        assert (failed["message"], failed["botId"], failed["metadata"]) == (
            f"Strategy error: {reason}",
            pk(broken["id"]),
            {"status": "ERROR"},
        )
    assert await AlertRow.filter(user_id=pk(trader.user_id), category="BOT").count() == 5
