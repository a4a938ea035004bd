"""Bots: configuration and its validation, the lifecycle, trading through the normal order path, the risk exits
the bot engine enforces, the kill switch, a strategy error, and performance recomputed from the bot's fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.engine.bots import exit_reason, within_hours
from models.audit import AuditEntry
from models.bots import Bot as BotRow
from models.bots import BotStatus
from models.strategies import Strategy as StrategyRow

from .accounts import Account, as_user, register
from .compliance_support import pk
from .support import LegConfig, ServerHandle, migrate, own_database, spawn_servers, wait_until
from .trading import market, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

BOT_FIELDS = """id name status statusReason entriesStopped strategyId venueAccountId venue environment riskLevel
  allocatedCapital uptimeSeconds runner startedAt
  configuration { maxPositionSize stopLoss takeProfit trailingStop riskPerTrade allowedPairs rebalanceFrequency
    interval tradingHours { start end timezone } }"""
RESULT = f"""__typename ... on BotChanged {{ bot {{ {BOT_FIELDS} }} }}
  ... on KillSwitchActive {{ scope }} ... on UserError {{ message code field }}"""
CREATE_STRATEGY = """mutation($i: StrategyInput!) { createStrategy(input: $i) { __typename
  ... on StrategyChanged { strategy { id } } ... on UserError { message field } } }"""
CREATE = "mutation($i: CreateBotInput!) { createBot(input: $i) { " + RESULT + " } }"
UPDATE = "mutation($id: ID!, $i: UpdateBotInput!) { updateBot(id: $id, input: $i) { " + RESULT + " } }"
DELETE = """mutation($id: ID!) { deleteBot(id: $id) { __typename ... on BotDeleted { deletedId }
  ... on UserError { code field } } }"""
LIFECYCLE = "mutation($id: ID!) {{ {name}(id: $id) {{ " + RESULT.replace("{", "{{").replace("}", "}}") + " }} }}"
BOT = "query($id: ID!) { bot(id: $id) { " + BOT_FIELDS + " } }"
LOGS = """query($id: ID!, $level: BotLogLevel) { botLogs(botId: $id, level: $level, first: 100) { totalCount
  edges { node { level message detail createdAt } } } }"""
BOT_ORDERS = """query($a: ID!) { orders(filter: {venueAccountId: $a}, first: 100) { edges { node {
  id side type quantity status botId fills { price quantity fee } } } } }"""
PERFORMANCE = """query($id: ID!, $p: BotPerformancePeriod!) { botPerformance(botId: $id, period: $p) {
  realizedPnl unrealizedPnl profitLoss dailyVolume activePositions winRate averageTradeSize totalTrades
  tradesLast24h errorRate orderLatencyMs maxDrawdown currentCapital } }"""
ACTIVATE = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename } }"""
DEACTIVATE = """mutation { deactivateKillSwitch(input: {reason: "done", scope: ACCOUNT}) { __typename } }"""


async def _mutate(client: GraphQLClient, document: str, **variables: Any) -> dict[str, Any]:
    data = await client.query(document, variables or None)
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def _strategy(client: GraphQLClient, fast: int = 2, slow: int = 3) -> str:
    params = {"trendFollowing": {"fastPeriod": fast, "slowPeriod": slow}}
    made = await _mutate(
        client, CREATE_STRATEGY, i={"name": "crossover", "type": "TREND_FOLLOWING", "parameters": params}
    )
    assert made["__typename"] == "StrategyChanged", made
    return str(made["strategy"]["id"])


def _input(strategy: str, account: str, **config: Any) -> dict[str, Any]:
    return {
        "name": "bot",
        "strategyId": strategy,
        "venueAccountId": account,
        "allocatedCapital": "10000",
        "configuration": {"maxPositionSize": "5000", "riskPerTrade": "10", "allowedPairs": ["BTC"], **config},
    }


async def _bot(client: GraphQLClient, strategy: str, account: str, **config: Any) -> dict[str, Any]:
    made = await _mutate(client, CREATE, i=_input(strategy, account, **config))
    assert made["__typename"] == "BotChanged", made
    bot: dict[str, Any] = made["bot"]
    return bot


async def _step(client: GraphQLClient, name: str, bot_id: str) -> dict[str, Any]:
    return await _mutate(client, LIFECYCLE.format(name=name), id=bot_id)


async def _logs(client: GraphQLClient, bot_id: str, level: str | None = None) -> list[dict[str, Any]]:
    data = await client.query(LOGS, {"id": bot_id, "level": level})
    return [edge["node"] for edge in data["botLogs"]["edges"]]


@pytest.fixture
async def me(server: ServerHandle, api: GraphQLClient, trader: Account) -> Any:
    async with as_user(server.url, trader) as client:
        yield client


# -- pure rules, hand-checked ---------------------------------------------------------------------------------


def _bot_row(**values: Any) -> BotRow:
    defaults: dict[str, Any] = {"stop_loss": None, "take_profit": None, "trailing_stop": False, "timezone": "UTC"}
    defaults.update(values)
    return BotRow(**defaults)


def test_risk_exits_against_hand_numbers() -> None:
    bot = _bot_row(stop_loss=Decimal(2), take_profit=Decimal(5))
    entry = Decimal(100)
    assert exit_reason(bot, entry, entry, Decimal("104.99")) is None
    assert exit_reason(bot, entry, entry, Decimal(105)) == "take profit"
    assert exit_reason(bot, entry, entry, Decimal("98.01")) is None
    assert exit_reason(bot, entry, entry, Decimal(98)) == "stop loss"
    trailing = _bot_row(stop_loss=Decimal(2), trailing_stop=True)
    # The peak was 110: the stop trails to 107.80, far above the entry.
    assert exit_reason(trailing, entry, Decimal(110), Decimal("107.81")) is None
    assert exit_reason(trailing, entry, Decimal(110), Decimal("107.80")) == "trailing stop"


def test_trading_hours_are_read_in_the_owners_time_zone() -> None:
    zurich = _bot_row(trading_start_minute=9 * 60, trading_end_minute=17 * 60, timezone="Europe/Zurich")
    # 2026-07-01 is summer time in Zurich (UTC+2): 07:00 UTC is 09:00 there, 15:00 UTC is 17:00 there.
    assert within_hours(zurich, datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    assert not within_hours(zurich, datetime(2026, 7, 1, 6, 59, tzinfo=UTC))
    assert not within_hours(zurich, datetime(2026, 7, 1, 15, 0, tzinfo=UTC))
    # In January (UTC+1) 07:30 UTC is 08:30 in Zurich: closed.
    assert not within_hours(zurich, datetime(2026, 1, 15, 7, 30, tzinfo=UTC))
    overnight = _bot_row(trading_start_minute=22 * 60, trading_end_minute=2 * 60, timezone="UTC")
    assert within_hours(overnight, datetime(2026, 1, 15, 23, 0, tzinfo=UTC))
    assert within_hours(overnight, datetime(2026, 1, 15, 1, 59, tzinfo=UTC))
    assert not within_hours(overnight, datetime(2026, 1, 15, 2, 0, tzinfo=UTC))


# -- configuration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": " "}, "input.name"),
        ({"allocatedCapital": "0"}, "input.allocatedCapital"),
        (
            {"configuration": {"maxPositionSize": "-1", "riskPerTrade": "1", "allowedPairs": ["BTC"]}},
            "input.maxPositionSize",
        ),
        (
            {"configuration": {"maxPositionSize": "50000", "riskPerTrade": "1", "allowedPairs": ["BTC"]}},
            "input.maxPositionSize",
        ),
        (
            {"configuration": {"maxPositionSize": "5", "riskPerTrade": "100", "allowedPairs": ["BTC"]}},
            "input.riskPerTrade",
        ),
        (
            {"configuration": {"maxPositionSize": "5", "riskPerTrade": "1", "allowedPairs": ["NOPE"]}},
            "input.allowedPairs",
        ),
        ({"configuration": {"maxPositionSize": "5", "riskPerTrade": "1", "allowedPairs": []}}, "input.allowedPairs"),
        (
            {"configuration": {"maxPositionSize": "5", "riskPerTrade": "1", "allowedPairs": ["BTC"], "stopLoss": "0"}},
            "input.stopLoss",
        ),
        (
            {
                "configuration": {
                    "maxPositionSize": "5",
                    "riskPerTrade": "1",
                    "allowedPairs": ["BTC"],
                    "trailingStop": True,
                }
            },
            "input.trailingStop",
        ),
        (
            {
                "configuration": {
                    "maxPositionSize": "5",
                    "riskPerTrade": "1",
                    "allowedPairs": ["BTC"],
                    "tradingHours": {"start": "25:00", "end": "10:00"},
                }
            },
            "input.tradingHours.start",
        ),
        (
            {
                "configuration": {
                    "maxPositionSize": "5",
                    "riskPerTrade": "1",
                    "allowedPairs": ["BTC"],
                    "tradingHours": {"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"},
                }
            },
            "input.timezone",
        ),
        (
            {"configuration": {"maxPositionSize": "5", "riskPerTrade": "1", "allowedPairs": ["BTC"], "interval": "7m"}},
            "input.interval",
        ),
        ({"environment": "LIVE"}, "input.environment"),
    ],
)
async def test_bad_configuration_is_refused_naming_the_field_and_writes_nothing(
    me: GraphQLClient, change: dict[str, Any], field: str
) -> None:
    strategy = await _strategy(me)
    account = await paper_account(me)
    before = await BotRow.filter(account_id=pk(account)).count()
    answer = await _mutate(me, CREATE, i={**_input(strategy, account), **change})
    assert answer["__typename"] == "InvalidInput", answer
    assert answer["field"] == field
    assert await BotRow.filter(account_id=pk(account)).count() == before


async def test_a_bot_needs_its_owners_strategy_and_account(
    server: ServerHandle, me: GraphQLClient, api: GraphQLClient
) -> None:
    other = await register(api)
    async with as_user(server.url, other) as them:
        their_strategy = await _strategy(them)
        their_account = await paper_account(them)
    mine = await _strategy(me)
    account = await paper_account(me)
    answer = await _mutate(me, CREATE, i=_input(their_strategy, account))
    assert (answer["__typename"], answer["field"]) == ("InvalidInput", "input.strategyId")
    answer = await _mutate(me, CREATE, i=_input(mine, their_account))
    assert (answer["__typename"], answer["field"]) == ("NotFound", "input.venueAccountId")


async def test_create_update_and_delete(me: GraphQLClient) -> None:
    strategy = await _strategy(me)
    account = await paper_account(me)
    bot = await _bot(
        me,
        strategy,
        account,
        stopLoss="2.5",
        takeProfit="4",
        tradingHours={"start": "22:00", "end": "06:00", "timezone": "Asia/Tokyo"},
    )
    assert bot["status"] == "STOPPED" and bot["environment"] == "PAPER" and bot["venue"] == "binance"
    config = bot["configuration"]
    assert (Decimal(config["stopLoss"]), Decimal(config["takeProfit"])) == (Decimal("2.5"), Decimal(4))
    assert config["tradingHours"] == {"start": "22:00", "end": "06:00", "timezone": "Asia/Tokyo"}
    assert config["interval"] == "1m"

    changed = await _mutate(
        me, UPDATE, id=bot["id"], i={"name": "renamed", "configuration": {"stopLoss": None, "tradingHours": None}}
    )
    assert changed["__typename"] == "BotChanged", changed
    assert changed["bot"]["name"] == "renamed"
    assert changed["bot"]["configuration"]["stopLoss"] is None
    assert Decimal(changed["bot"]["configuration"]["takeProfit"]) == 4
    assert changed["bot"]["configuration"]["tradingHours"]["start"] is None

    deleted = await _mutate(me, DELETE, id=bot["id"])
    assert deleted == {"__typename": "BotDeleted", "deletedId": bot["id"]}
    assert (await me.query(BOT, {"id": bot["id"]}))["bot"] is None
    actions = await AuditEntry.filter(target_id=pk(bot["id"])).order_by("id").values_list("action", flat=True)
    assert list(actions) == ["bot.create", "bot.update", "bot.delete"]


# -- lifecycle -----------------------------------------------------------------------------------------------


async def test_lifecycle_transitions_and_refusals(me: GraphQLClient) -> None:
    strategy = await _strategy(me)
    account = await paper_account(me)
    bot = await _bot(me, strategy, account, interval="1d")
    bot_id = bot["id"]

    refused = await _step(me, "resumeBot", bot_id)
    assert (refused["__typename"], refused["code"]) == ("InvalidInput", "BOT_INVALID_TRANSITION")
    started = await _step(me, "startBot", bot_id)
    assert started["bot"]["status"] == "RUNNING"
    # A process takes the lease within seconds.
    await wait_until(lambda: _runner_set(bot_id), timeout=15, interval=0.1)
    deleting = await _mutate(me, DELETE, id=bot_id)
    assert deleting["code"] == "BOT_NOT_STOPPED"
    paused = await _step(me, "pauseBot", bot_id)
    assert paused["bot"]["status"] == "PAUSED" and paused["bot"]["runner"] is None
    assert (await _step(me, "resumeBot", bot_id))["bot"]["status"] == "RUNNING"
    entries = await _step(me, "stopBotEntries", bot_id)
    assert entries["bot"]["status"] == "RUNNING" and entries["bot"]["entriesStopped"] is True
    stopped = await _step(me, "stopBot", bot_id)
    assert stopped["bot"]["status"] == "STOPPED" and stopped["bot"]["uptimeSeconds"] == 0
    assert (await _step(me, "stopBot", bot_id))["code"] == "BOT_INVALID_TRANSITION"
    restarted = await _step(me, "startBot", bot_id)
    assert restarted["bot"]["entriesStopped"] is False
    await _step(me, "stopBot", bot_id)

    messages = [
        line["message"] for line in reversed(await _logs(me, bot_id)) if not line["message"].startswith("running on")
    ]
    assert messages == [
        "created",
        "started",
        "paused",
        "resumed",
        "entries stopped: managing open positions to their exits",
        "stopped",
        "started",
        "stopped",
    ]


async def _runner_set(bot_id: str) -> bool:
    row = await BotRow.get(id=pk(bot_id))
    return row.runner is not None


async def _bot_orders(client: GraphQLClient, account: str, bot_id: str) -> list[dict[str, Any]]:
    edges = (await client.query(BOT_ORDERS, {"a": account}))["orders"]["edges"]
    return [edge["node"] for edge in edges if edge["node"]["botId"] == bot_id]


async def test_stopping_a_bot_cancels_its_working_orders_but_not_the_accounts_others(me: GraphQLClient) -> None:
    made = await _mutate(me, CREATE_STRATEGY, i={"name": "grid", "type": "GRID", "parameters": {"grid": {"levels": 3}}})
    account = await paper_account(me)
    bot = await _bot(me, made["strategy"]["id"], account, interval="tick")
    mark, tick, _ = await market(me, "BTC")
    mine = await placed(
        me, account, type="LIMIT", price=str((mark / 2 / tick).to_integral_value() * tick), quantity="0.001"
    )
    await _step(me, "startBot", bot["id"])

    async def resting() -> bool:
        return any(o["status"] == "OPEN" for o in await _bot_orders(me, account, bot["id"]))

    await wait_until(resting, timeout=30, interval=0.1)
    stopped = await _step(me, "stopBot", bot["id"])
    assert stopped["bot"]["status"] == "STOPPED"
    statuses = {o["status"] for o in await _bot_orders(me, account, bot["id"])}
    assert statuses <= {"CANCELED", "FILLED"} and "CANCELED" in statuses
    (manual,) = [
        o for o in (await me.query(BOT_ORDERS, {"a": account}))["orders"]["edges"] if o["node"]["id"] == mine["id"]
    ]
    assert manual["node"]["status"] == "OPEN"


# -- trading -------------------------------------------------------------------------------------------------


def _lots(quantity: Decimal, lot: Decimal) -> Decimal:
    return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def _average_cost_pnl(fills: list[tuple[str, Decimal, Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """(realized PnL after fees, open quantity, average cost) of (side, price, quantity, fee) in order."""
    quantity = cost = realized = Decimal(0)
    for side, price, amount, fee in fills:
        realized -= fee
        if side == "BUY":
            cost = (quantity * cost + amount * price) / (quantity + amount)
            quantity += amount
        else:
            realized += (price - cost) * amount
            quantity -= amount
    return realized, quantity, cost


async def test_a_running_bot_trades_its_strategy_through_the_order_path_within_its_risk_settings(
    me: GraphQLClient,
) -> None:
    strategy = await _strategy(me, fast=2, slow=3)
    account = await paper_account(me)
    bot = await _bot(me, strategy, account, interval="tick")
    _, _, lot = await market(me, "BTC")
    await _step(me, "startBot", bot["id"])

    async def bought() -> bool:
        return any(o["side"] == "BUY" and o["fills"] for o in await _bot_orders(me, account, bot["id"]))

    await wait_until(bought, timeout=60, interval=0.2)
    await _step(me, "stopBot", bot["id"])

    orders = await _bot_orders(me, account, bot["id"])
    placed_lines = {
        line["detail"]["orderId"]: line for line in await _logs(me, bot["id"], "INFO") if line["detail"].get("orderId")
    }
    first_buy = min((o for o in orders if o["side"] == "BUY"), key=lambda o: placed_lines[pk(o["id"])]["createdAt"])
    line = placed_lines[pk(first_buy["id"])]
    mark = Decimal(line["detail"]["mark"])
    # riskPerTrade 10 % of 10,000 = 1,000 of quote per entry: the binding limit (95 % of cash and the
    # 5,000 position cap are both larger), in whole lots at the mark the bot decided at.
    assert Decimal(first_buy["quantity"]) == _lots(Decimal(1000) / mark, lot)
    assert first_buy["type"] == "MARKET" and first_buy["botId"] == bot["id"]
    assert line["message"] == f"BUY {Decimal(first_buy['quantity']).normalize():f} BTC: entry"

    fills = [
        (o["side"], Decimal(f["price"]), Decimal(f["quantity"]), Decimal(f["fee"]))
        for o in sorted(orders, key=lambda o: placed_lines[pk(o["id"])]["createdAt"])
        for f in o["fills"]
    ]
    realized, _, _ = _average_cost_pnl(fills)
    performance = (await me.query(PERFORMANCE, {"id": bot["id"], "p": "ALL"}))["botPerformance"]
    filled_orders = [o for o in orders if o["fills"]]
    volume = sum((price * amount for _, price, amount, _ in fills), Decimal(0))
    assert Decimal(performance["realizedPnl"]) == realized
    assert performance["totalTrades"] == len(filled_orders) == performance["tradesLast24h"]
    assert Decimal(performance["dailyVolume"]) == volume
    assert Decimal(performance["averageTradeSize"]) == volume / len(filled_orders)
    assert Decimal(performance["errorRate"]) == 0, await _logs(me, bot["id"], "WARNING")
    assert Decimal(performance["orderLatencyMs"]) > 0


async def test_the_bot_engine_closes_a_position_at_its_stop_loss_or_take_profit(me: GraphQLClient) -> None:
    strategy = await _strategy(me)
    account = await paper_account(me)
    bought = await placed(me, account, quantity="0.01")
    entry = Decimal(bought["averagePrice"])
    # The strategy decides daily (not within this test): only the bot engine's exits can act. Both are
    # 0.0001 % away, so the first tick that moves the mark off the entry closes the position.
    bot = await _bot(me, strategy, account, interval="1d", stopLoss="0.0001", takeProfit="0.0001")
    await _step(me, "startBot", bot["id"])

    async def sold() -> bool:
        return any(o["side"] == "SELL" for o in await _bot_orders(me, account, bot["id"]))

    await wait_until(sold, timeout=60, interval=0.1)
    await _step(me, "stopBot", bot["id"])
    (sell,) = await _bot_orders(me, account, bot["id"])
    assert Decimal(sell["quantity"]) == Decimal("0.01")
    (line,) = [x for x in await _logs(me, bot["id"], "INFO") if x["detail"].get("orderId") == pk(sell["id"])]
    mark = Decimal(line["detail"]["mark"])
    band = entry * Decimal("0.000001")
    expected = "take profit" if mark >= entry + band else "stop loss"
    assert mark >= entry + band or mark <= entry - band
    assert line["message"] == f"SELL 0.01 BTC: {expected}"


async def test_the_kill_switch_stops_every_bot_in_scope_atomically_and_they_stay_stopped(
    server: ServerHandle, me: GraphQLClient, api: GraphQLClient
) -> None:
    strategy = await _strategy(me)
    account = await paper_account(me)
    bots = [await _bot(me, strategy, account, interval="1d") for _ in range(3)]
    for bot in bots[:2]:
        await _step(me, "startBot", bot["id"])
    await _step(me, "pauseBot", bots[1]["id"])
    other = await register(api)
    async with as_user(server.url, other) as them:
        their_bot = await _bot(them, await _strategy(them), await paper_account(them), interval="1d")
        await _step(them, "startBot", their_bot["id"])

        answer = await _mutate(me, ACTIVATE, i={"scope": "ACCOUNT", "reason": "risk off", "level": "BLOCK_ENTRIES"})
        assert answer["__typename"] == "KillSwitchChanged", answer
        # Stopped in the switch's own transaction: already stopped when the mutation answers.
        rows = {str(r.id): r for r in await BotRow.filter(id__in=[pk(b["id"]) for b in bots])}
        assert [rows[pk(b["id"])].status for b in bots] == [BotStatus.STOPPED, BotStatus.STOPPED, BotStatus.STOPPED]
        assert [rows[pk(b["id"])].status_reason for b in bots[:2]] == ["risk off", "risk off"]
        assert (await BotRow.get(id=pk(their_bot["id"]))).status == BotStatus.RUNNING
        refused = await _step(me, "startBot", bots[0]["id"])
        assert (refused["__typename"], refused["scope"]) == ("KillSwitchActive", "ACCOUNT")
        assert (await _mutate(me, DEACTIVATE))["__typename"] == "KillSwitchChanged"
        assert (await me.query(BOT, {"id": bots[0]["id"]}))["bot"]["status"] == "STOPPED"
        assert (await _step(me, "startBot", bots[0]["id"]))["bot"]["status"] == "RUNNING"
        await _step(me, "stopBot", bots[0]["id"])
        await _step(them, "stopBot", their_bot["id"])
    warnings = await _logs(me, bots[1]["id"], "WARNING")
    assert [w["message"] for w in warnings] == ["stopped by the kill switch: risk off"]


async def test_a_strategy_that_raises_puts_only_its_bot_in_error(me: GraphQLClient) -> None:
    strategy = await _strategy(me)
    healthy = await _strategy(me)
    account = await paper_account(me)
    broken_bot = await _bot(me, strategy, account, interval="tick")
    good_bot = await _bot(me, healthy, account, interval="1d")
    # Stored parameters that no longer hold (written past the API's validation): building the strategy raises.
    await StrategyRow.filter(id=pk(strategy)).update(
        parameters={"fast_period": 9, "slow_period": 3, "position_size": "0.5", "stop_loss": "0", "take_profit": "0"}
    )
    await _step(me, "startBot", good_bot["id"])
    await _step(me, "startBot", broken_bot["id"])

    async def errored() -> bool:
        return (await BotRow.get(id=pk(broken_bot["id"]))).status == BotStatus.ERROR

    await wait_until(errored, timeout=30, interval=0.1)
    now = (await me.query(BOT, {"id": broken_bot["id"]}))["bot"]
    assert now["status"] == "ERROR" and "fast" in now["statusReason"] and now["runner"] is None
    (line,) = await _logs(me, broken_bot["id"], "ERROR")
    assert line["message"] == f"strategy error: {now['statusReason']}"
    await wait_until(lambda: _runner_set(good_bot["id"]), timeout=15, interval=0.1)
    assert (await BotRow.get(id=pk(good_bot["id"]))).status == BotStatus.RUNNING
    await _step(me, "stopBot", good_bot["id"])
    assert (await _mutate(me, DELETE, id=broken_bot["id"]))["__typename"] == "BotDeleted"


@pytest.mark.legs("postgres")
async def test_another_process_takes_a_bot_over_when_its_process_dies(leg: LegConfig, tmp_path: Path) -> None:
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "bots"),
        BROADCAST_NAMESPACE="test-bots",
        DATA_DIR=str(tmp_path),
        BOT_LEASE_TTL="2",
        BOT_LEASE_RENEW="0.3",
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as procs:
        for proc in procs:
            await proc.wait_ready()
        async with GraphQLClient(procs[0].url) as anonymous:
            owner = await register(anonymous)
        async with as_user(procs[0].url, owner) as client:
            bot = await _bot(client, await _strategy(client), await paper_account(client), interval="1d")
            await _step(client, "startBot", bot["id"])
            await wait_until(lambda: _runner_of(client, bot["id"]), timeout=30, interval=0.1)
            first = (await client.query(BOT, {"id": bot["id"]}))["bot"]["runner"]
        pids = {proc.proc.pid: proc for proc in procs if proc.proc is not None}
        holder = pids[int(first.split(":")[1])]
        survivor = next(proc for proc in procs if proc is not holder)
        holder.kill()
        async with as_user(survivor.url, owner) as client:

            async def moved() -> bool:
                runner = (await client.query(BOT, {"id": bot["id"]}))["bot"]["runner"]
                return runner is not None and runner != first

            await wait_until(moved, timeout=30, interval=0.2)
            now = (await client.query(BOT, {"id": bot["id"]}))["bot"]
            assert now["status"] == "RUNNING"
            assert int(now["runner"].split(":")[1]) == survivor.proc.pid  # type: ignore[union-attr]
            lines = [line["message"] for line in await _logs(client, bot["id"], "INFO")]
            assert f"running on {now['runner']} (taken over from {first})" in lines


async def _runner_of(client: GraphQLClient, bot_id: str) -> bool:
    return (await client.query(BOT, {"id": bot_id}))["bot"]["runner"] is not None
