"""Agents (copy trading): publishing a bot, the catalog and an agent's performance recomputed from its fills,
subscriptions whose copies are allocation ÷ capital of each agent fill in whole lots through the normal order
path, refused copies logged and alerted, unsubscribing with and without closing, exactly-once mirroring
(the outbox's unique key, a copy replayed after a dispatcher died, two dispatchers racing), and permissions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError

from graphql_api.client import GraphQLClient
from graphql_api.engine.copying import CopyDispatcher
from models.agents import AgentSubscription as SubscriptionRow
from models.agents import CopyOrder, CopyStatus
from models.audit import AuditEntry

from .accounts import Account, as_user, error_code, register
from .compliance_support import pk
from .support import LegConfig, ServerHandle, migrate, own_database, spawn_servers, wait_until
from .trading import paper_account, placed, position

pytestmark = pytest.mark.usefixtures("admin")

LOT = Decimal("0.00001")  # BTC's lot on the paper venue (seeded)
CAPITAL = Decimal(10000)
CREATE_STRATEGY = """mutation($i: StrategyInput!) { createStrategy(input: $i) { __typename
  ... on StrategyChanged { strategy { id } } ... on UserError { message field } } }"""
CREATE_BOT = """mutation($i: CreateBotInput!) { createBot(input: $i) { __typename ... on BotChanged { bot { id } }
  ... on UserError { message field } } }"""
BOT_STEP = "mutation($id: ID!) {{ {name}(id: $id) {{ __typename ... on BotChanged {{ bot {{ status }} }} }} }}"
AGENT_FIELDS = "id name profile description botId published capital subscriberCount"
AGENT_RESULT = (
    f"__typename ... on AgentChanged {{ agent {{ {AGENT_FIELDS} }} }} ... on UserError {{ message code field }}"
)
PUBLISH = "mutation($i: PublishAgentInput!) { publishAgent(input: $i) { " + AGENT_RESULT + " } }"
UNPUBLISH = "mutation($id: ID!) { unpublishAgent(id: $id) { " + AGENT_RESULT + " } }"
COPY_FIELDS = """id kind status symbol side agentFillId agentQuantity agentPrice quantity orderQuantity orderId
  filledQuantity code message"""
SUBSCRIPTION_FIELDS = f"""id status allocation venueAccountId endedAt agent {{ id name subscriberCount }}
  holdings {{ symbol quantity }} copyLog(first: 100) {{ totalCount edges {{ node {{ {COPY_FIELDS} }} }} }}"""
SUBSCRIPTION_RESULT = f"""__typename ... on AgentSubscriptionChanged {{ subscription {{ {SUBSCRIPTION_FIELDS} }} }}
  ... on UserError {{ message code field }}"""
SUBSCRIBE = (
    "mutation($a: ID!, $v: ID!, $x: Decimal!) { subscribeToAgent(agentId: $a, venueAccountId: $v, allocation: $x) { "
    + SUBSCRIPTION_RESULT
    + " } }"
)
UNSUBSCRIBE = (
    "mutation($s: ID, $a: ID, $c: Boolean!) { unsubscribeFromAgent(subscriptionId: $s, agentId: $a, "
    "closePositions: $c) { " + SUBSCRIPTION_RESULT + " } }"
)
MINE = "query { myAgentSubscriptions(first: 5) { totalCount edges { node { " + SUBSCRIPTION_FIELDS + " } } } }"
AGENTS = "query($f: AgentFilter) { agents(filter: $f, first: 100) { totalCount edges { node { id name } } } }"
AGENT = """query($id: ID!) { agent(id: $id) { id name profile capital subscriberCount
  performance(period: ALL) { profitLoss returnPercent realizedPnl unrealizedPnl winRate totalTrades maxDrawdown }
  recentTrades(first: 100) { symbol side price quantity fee } } }"""
ORDERS = """query($a: ID!) { orders(filter: {venueAccountId: $a}, first: 100) { edges { node {
  id side type quantity status botId clientOrderId filledQuantity fills { id price quantity fee } } } } }"""
ALERTS = "query { alerts(first: 50) { edges { node { title message source metadata } } } }"
KILL = """mutation { activateKillSwitch(input: {reason: "hands off", scope: ACCOUNT}) { __typename } }"""
SET_ROLE = """mutation($id: ID!, $role: Role!) { setUserRole(input: {id: $id, role: $role}) { __typename } }"""


async def _one(client: GraphQLClient, document: str, **variables: Any) -> dict[str, Any]:
    data = await client.query(document, variables or None)
    answer: dict[str, Any] = next(iter(data.values()))
    return answer


def _lots(quantity: Decimal) -> Decimal:
    return (quantity / LOT).to_integral_value(rounding=ROUND_DOWN) * LOT


def _expected_copy(allocation: Decimal, agent_quantity: Decimal) -> Decimal:
    """The proportion the issue states, computed here: allocation / capital × the agent's quantity, in lots."""
    return _lots(allocation / CAPITAL * agent_quantity)


async def _trading_bot(client: GraphQLClient, account: str) -> str:
    """A bot that trades within seconds on the fast test feed: a 2/3 crossover deciding on every tick, which
    spends 10 % of its 10,000 capital per entry."""
    params = {"trendFollowing": {"fastPeriod": 2, "slowPeriod": 3}}
    strategy = await _one(client, CREATE_STRATEGY, i={"name": "x", "type": "TREND_FOLLOWING", "parameters": params})
    made = await _one(
        client,
        CREATE_BOT,
        i={
            "name": "agent bot",
            "strategyId": strategy["strategy"]["id"],
            "venueAccountId": account,
            "allocatedCapital": str(CAPITAL),
            "configuration": {
                "maxPositionSize": "5000",
                "riskPerTrade": "10",
                "allowedPairs": ["BTC"],
                "interval": "tick",
            },
        },
    )
    assert made["__typename"] == "BotChanged", made
    bot_id: str = made["bot"]["id"]
    return bot_id


async def _publish(boss: GraphQLClient, bot_id: str, name: str = "Momentum") -> dict[str, Any]:
    answer = await _one(
        boss, PUBLISH, i={"botId": bot_id, "name": name, "profile": "AGGRESSIVE", "description": "trend follower"}
    )
    assert answer["__typename"] == "AgentChanged", answer
    agent: dict[str, Any] = answer["agent"]
    return agent


async def _subscribe(client: GraphQLClient, agent: str, account: str, allocation: str) -> dict[str, Any]:
    answer = await _one(client, SUBSCRIBE, a=agent, v=account, x=allocation)
    assert answer["__typename"] == "AgentSubscriptionChanged", answer
    sub: dict[str, Any] = answer["subscription"]
    return sub


async def _agent_orders(client: GraphQLClient, account: str) -> list[dict[str, Any]]:
    edges = (await client.query(ORDERS, {"a": account}))["orders"]["edges"]
    return [edge["node"] for edge in edges if edge["node"]["botId"] is not None]


async def _step(client: GraphQLClient, name: str, bot_id: str) -> None:
    await client.query(BOT_STEP.format(name=name), {"id": bot_id})


async def _run_until_it_bought(client: GraphQLClient, bot_id: str, account: str) -> None:
    await _step(client, "startBot", bot_id)

    async def bought() -> bool:
        return any(o["side"] == "BUY" and o["fills"] for o in await _agent_orders(client, account))

    await wait_until(bought, timeout=90, interval=0.2)
    await _step(client, "stopBot", bot_id)


async def _buy_fills(client: GraphQLClient, account: str) -> int:
    return sum(len(o["fills"]) for o in await _agent_orders(client, account) if o["side"] == "BUY")


async def _run_until_holding(client: GraphQLClient, bot_id: str, account: str) -> None:
    """Run the agent until it bought again, and again until it still holds BTC once stopped."""
    while True:
        before = await _buy_fills(client, account)
        await _step(client, "startBot", bot_id)

        async def bought(before: int = before) -> bool:
            return await _buy_fills(client, account) > before

        await wait_until(bought, timeout=90, interval=0.2)
        await _step(client, "stopBot", bot_id)
        held = await position(client, account, "BTC")
        if held is not None and Decimal(held["quantity"]) > 0:
            return


@asynccontextmanager
async def _dispatcher_down(server: ServerHandle) -> AsyncIterator[CopyDispatcher]:
    """The in-process server's dispatcher stopped (as when its process dies), started again on leaving."""
    assert server.resources is not None and server.resources.copying is not None
    dispatcher = server.resources.copying
    await dispatcher.stop()
    try:
        yield dispatcher
    finally:
        dispatcher.start()


async def _copies_settled(*subscription_ids: str) -> bool:
    return not await CopyOrder.filter(
        subscription_id__in=[pk(s) for s in subscription_ids], status__in=[CopyStatus.PENDING, CopyStatus.CLAIMED]
    ).exists()


async def _mine(client: GraphQLClient) -> dict[str, dict[str, Any]]:
    edges = (await client.query(MINE))["myAgentSubscriptions"]["edges"]
    return {edge["node"]["id"]: edge["node"] for edge in edges}


def _log(sub: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in sub["copyLog"]["edges"]]


def _average_cost_pnl(fills: list[tuple[str, Decimal, Decimal, Decimal]]) -> Decimal:
    """Realized PnL after fees of (side, price, quantity, fee) in order, at average cost."""
    quantity = cost = realized = Decimal(0)
    for side, price, amount, fee in fills:
        realized -= fee
        if side == "BUY":
            cost = (quantity * cost + amount * price) / (quantity + amount)
            quantity += amount
        else:
            realized += (price - cost) * amount
            quantity -= amount
    return realized


@asynccontextmanager
async def _users(server: ServerHandle, api: GraphQLClient, count: int) -> AsyncIterator[list[GraphQLClient]]:
    clients = [as_user(server.url, await register(api)) for _ in range(count)]
    for client in clients:
        await client.__aenter__()
    try:
        yield clients
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)


@pytest.fixture
async def boss(server: ServerHandle, admin: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(server.url, admin) as client:
        yield client


# -- mirroring -------------------------------------------------------------------------------------------------


async def test_every_agent_fill_is_copied_in_proportion_and_a_refused_copy_is_logged_and_alerted(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    async with _users(server, api, 6) as (owner, a, b, c, d, e):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        agent = await _publish(boss, bot_id)
        assert (agent["profile"], Decimal(agent["capital"]), agent["subscriberCount"]) == ("AGGRESSIVE", CAPITAL, 0)
        allocations = {"a": Decimal(5000), "b": Decimal(3333), "c": Decimal("0.01"), "d": Decimal(5000)}
        allocations["e"] = Decimal(2500)
        accounts = {
            "a": await paper_account(a),
            "b": await paper_account(b),
            "c": await paper_account(c),
            "d": await paper_account(d, balance="1"),  # cannot pay for any copy
            "e": await paper_account(e),
        }
        clients = {"a": a, "b": b, "c": c, "d": d, "e": e}
        subs = {
            key: await _subscribe(clients[key], agent["id"], accounts[key], str(allocations[key])) for key in clients
        }
        assert (await _one(e, KILL))["__typename"] == "KillSwitchChanged"  # e's own kill switch: its copies refused

        await _run_until_it_bought(owner, bot_id, agent_account)
        await wait_until(lambda: _copies_settled(*(s["id"] for s in subs.values())), timeout=30, interval=0.1)

        agent_orders = await _agent_orders(owner, agent_account)
        assert {o["status"] for o in agent_orders if o["fills"]} <= {"FILLED", "PARTIALLY_FILLED", "CANCELED"}
        fills = {
            f["id"]: (o["side"], Decimal(f["price"]), Decimal(f["quantity"]), Decimal(f["fee"]))
            for o in agent_orders
            for f in o["fills"]
        }
        buys = {fid for fid, fill in fills.items() if fill[0] == "BUY"}
        assert buys

        views = {key: (await _mine(clients[key]))[subs[key]["id"]] for key in clients}
        for key, view in views.items():
            log = _log(view)
            # One copy per agent fill, no more, each of the proportional quantity.
            assert sorted(row["agentFillId"] for row in log) == sorted(fills), key
            for row in log:
                side, price, quantity, _ = fills[row["agentFillId"]]
                assert (row["kind"], row["side"], Decimal(row["agentQuantity"])) == ("MIRROR", side, quantity)
                assert Decimal(row["agentPrice"]) == price
                assert Decimal(row["quantity"]) == _expected_copy(allocations[key], quantity), (key, row)

        # a and b: every buy placed as a MARKET order of exactly that quantity, with the copy's client order id.
        for key in ("a", "b"):
            orders = {o["clientOrderId"]: o for o in await _orders(clients[key], accounts[key])}
            held = Decimal(0)
            for row in reversed(_log(views[key])):  # oldest first
                if row["agentFillId"] in buys:
                    assert row["status"] == "PLACED", row
                    order = orders[f"copy-{row['id']}"]
                    assert (order["type"], order["side"]) == ("MARKET", "BUY")
                    assert Decimal(order["quantity"]) == Decimal(row["quantity"]) == Decimal(row["orderQuantity"])
                if row["status"] == "PLACED":
                    order = orders[f"copy-{row['id']}"]
                    assert order["id"] == row["orderId"]
                    filled = Decimal(order["filledQuantity"])
                    held += filled if row["side"] == "BUY" else -filled
            assert len(orders) == sum(1 for row in _log(views[key]) if row["status"] == "PLACED")
            holdings = {h["symbol"]: Decimal(h["quantity"]) for h in views[key]["holdings"]}
            assert holdings == ({"BTC": held} if held else {})

        # c: below one lot, skipped and logged; d: no funds; e: kill switch. Refusals alert their owner.
        for row in _log(views["c"]):
            assert row["status"] == "SKIPPED" and row["message"].startswith("below the minimum size"), row
        for key, code in (("d", "INSUFFICIENT_FUNDS"), ("e", "KILL_SWITCH_ACTIVE")):
            refused = [row for row in _log(views[key]) if row["agentFillId"] in buys]
            assert {(row["status"], row["code"]) for row in refused} == {("REFUSED", code)}
            alerts = [
                edge["node"]
                for edge in (await clients[key].query(ALERTS))["alerts"]["edges"]
                if edge["node"]["source"] == "copy_trading"
            ]
            assert sorted(alert["metadata"]["copyId"] for alert in alerts) == sorted(row["id"] for row in refused)
            assert {alert["title"] for alert in alerts} == {"Copy of Momentum refused"}
            assert await _orders(clients[key], accounts[key]) == []

        # The agent is not affected: its performance is its own fills', recomputed here.
        view = (await boss.query(AGENT, {"id": agent["id"]}))["agent"]
        assert view["subscriberCount"] == 5
        ordered = [fills[fid] for fid in sorted(fills, key=int)]
        assert Decimal(view["performance"]["realizedPnl"]) == _average_cost_pnl(ordered)
        assert view["performance"]["totalTrades"] == len([o for o in agent_orders if o["fills"]])
        assert [Decimal(t["quantity"]) for t in view["recentTrades"]] == [q for _, _, q, _ in reversed(ordered)]


async def _orders(client: GraphQLClient, account: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await client.query(ORDERS, {"a": account}))["orders"]["edges"]]


# -- validation and permissions ----------------------------------------------------------------------------------


async def test_publish_and_subscribe_refuse_bad_input_naming_the_field_and_write_nothing(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    async with _users(server, api, 3) as (owner, me, other):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        nobody_bot = "Qm90OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA"  # Bot:00000000-…
        for change, field, typename in (
            ({"name": " "}, "input.name", "InvalidInput"),
            ({"botId": nobody_bot}, "input.botId", "NotFound"),
        ):
            answer = await _one(boss, PUBLISH, i={"botId": bot_id, "name": "n", "profile": "MODERATE", **change})
            assert (answer["__typename"], answer["field"]) == (typename, field), answer
        long = await boss.execute(
            PUBLISH, {"i": {"botId": bot_id, "name": "n", "profile": "MODERATE", "description": "x" * 1001}}
        )
        assert (error_code(long), long["errors"][0]["extensions"]["field"]) == ("BAD_USER_INPUT", "input.description")
        agent = await _publish(boss, bot_id)
        again = await _one(boss, PUBLISH, i={"botId": bot_id, "name": "twice", "profile": "MODERATE"})
        assert (again["__typename"], again["field"]) == ("Conflict", "input.botId")

        mine = await paper_account(me)
        theirs = await paper_account(other)
        before = await SubscriptionRow.all().count()
        for agent_id, account, allocation, field, typename in (
            (agent["id"], mine, "0", "allocation", "InvalidInput"),
            (agent["id"], mine, "-5", "allocation", "InvalidInput"),
            (agent["id"], theirs, "100", "venueAccountId", "NotFound"),
        ):
            answer = await _one(me, SUBSCRIBE, a=agent_id, v=account, x=allocation)
            assert (answer["__typename"], answer["field"]) == (typename, field), answer
        own = await _one(owner, SUBSCRIBE, a=agent["id"], v=agent_account, x="100")
        assert (own["__typename"], own["field"]) == ("InvalidInput", "venueAccountId")
        assert await SubscriptionRow.all().count() == before

        await _subscribe(me, agent["id"], mine, "100")
        twice = await _one(me, SUBSCRIBE, a=agent["id"], v=mine, x="100")
        assert (twice["__typename"], twice["field"]) == ("Conflict", "agentId")

        assert (await _one(boss, UNPUBLISH, id=agent["id"]))["agent"]["published"] is False
        gone = await _one(other, SUBSCRIBE, a=agent["id"], v=theirs, x="100")
        assert (gone["__typename"], gone["field"]) == ("NotFound", "agentId")
        assert (await other.query(AGENT, {"id": agent["id"]}))["agent"] is None
        listed = (await other.query(AGENTS))["agents"]["edges"]
        assert agent["id"] not in [edge["node"]["id"] for edge in listed]
        assert (await _one(boss, UNPUBLISH, id=agent["id"]))["code"] == "AGENT_NOT_PUBLISHED"
        # Published again: the same agent, listed again.
        assert (await _publish(boss, bot_id, name="Back"))["id"] == agent["id"]
        assert agent["id"] in [edge["node"]["id"] for edge in (await other.query(AGENTS))["agents"]["edges"]]


async def test_permissions_viewers_read_only_admins_publish_owners_unsubscribe(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    viewer_account = await register(api)
    async with _users(server, api, 3) as (owner, me, other):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        # Only admins publish.
        refused = await owner.execute(PUBLISH, {"i": {"botId": bot_id, "name": "mine", "profile": "MODERATE"}})
        assert error_code(refused) == "FORBIDDEN"
        agent = await _publish(boss, bot_id)
        assert error_code(await owner.execute(UNPUBLISH, {"id": agent["id"]})) == "FORBIDDEN"

        sub = await _subscribe(me, agent["id"], await paper_account(me), "100")
        # Somebody else cannot end it: it looks like it does not exist, and nothing changes.
        for variables in ({"s": sub["id"], "c": True}, {"a": agent["id"], "c": False}):
            answer = await _one(other, UNSUBSCRIBE, **variables)
            assert answer["__typename"] == "NotFound", answer
        assert (await SubscriptionRow.get(id=pk(sub["id"]))).status == "ACTIVE"
        assert await _mine(other) == {}

        assert (await _one(boss, SET_ROLE, id=viewer_account.user_id, role="VIEWER"))["__typename"] == "UserUpdated"
        async with as_user(server.url, viewer_account) as viewer:
            # A viewer reads the catalog but cannot subscribe.
            assert (await viewer.query(AGENT, {"id": agent["id"]}))["agent"]["name"] == "Momentum"
            body = await viewer.execute(SUBSCRIBE, {"a": agent["id"], "v": agent_account, "x": "100"})
            assert error_code(body) == "FORBIDDEN"
            assert error_code(await viewer.execute(UNSUBSCRIBE, {"s": sub["id"], "c": False})) == "FORBIDDEN"

        ended = await _one(me, UNSUBSCRIBE, a=agent["id"], c=False)
        assert (ended["__typename"], ended["subscription"]["status"]) == ("AgentSubscriptionChanged", "ENDED")
        again = await _one(me, UNSUBSCRIBE, s=sub["id"], c=False)
        assert (again["__typename"], again["code"], again["field"]) == (
            "InvalidInput",
            "SUBSCRIPTION_ENDED",
            "subscriptionId",
        )
        actions = await AuditEntry.filter(target_id=pk(sub["id"])).order_by("id").values_list("action", "outcome")
        assert [(a, str(o)) for a, o in actions] == [
            ("agent.subscribe", "SUCCESS"),
            ("agent.unsubscribe", "DENIED"),  # by somebody else
            ("agent.unsubscribe", "SUCCESS"),
            ("agent.unsubscribe", "DENIED"),
        ]


# -- unsubscribing -----------------------------------------------------------------------------------------------


def _held(sub: dict[str, Any]) -> Decimal:
    return sum((Decimal(h["quantity"]) for h in sub["holdings"] if h["symbol"] == "BTC"), Decimal(0))


async def test_unsubscribe_with_and_without_closing_the_copied_positions(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    async with _users(server, api, 3) as (owner, closer, keeper):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        agent = await _publish(boss, bot_id)
        accounts = {"closer": await paper_account(closer), "keeper": await paper_account(keeper)}
        closing = await _subscribe(closer, agent["id"], accounts["closer"], "5000")
        keeping = await _subscribe(keeper, agent["id"], accounts["keeper"], "4000")
        await _run_until_holding(owner, bot_id, agent_account)
        await wait_until(lambda: _copies_settled(closing["id"], keeping["id"]), timeout=30, interval=0.1)

        before = {"closer": (await _mine(closer))[closing["id"]], "keeper": (await _mine(keeper))[keeping["id"]]}
        held = {key: _held(view) for key, view in before.items()}
        assert held["closer"] > 0 and held["keeper"] > 0, held
        positions = {
            key: Decimal((await position(c, accounts[key], "BTC"))["quantity"])  # type: ignore[index]
            for key, c in (("closer", closer), ("keeper", keeper))
        }
        # The copies are the only BTC these accounts ever traded.
        assert positions == held

        ended = await _one(closer, UNSUBSCRIBE, s=closing["id"], c=True)
        assert ended["subscription"]["status"] == "ENDED" and ended["subscription"]["endedAt"] is not None
        kept = await _one(keeper, UNSUBSCRIBE, a=agent["id"], c=False)
        assert kept["subscription"]["status"] == "ENDED"
        await wait_until(lambda: _copies_settled(closing["id"], keeping["id"]), timeout=30, interval=0.1)

        closed = (await _mine(closer))[closing["id"]]
        (close,) = [row for row in _log(closed) if row["kind"] == "CLOSE"]
        assert (close["status"], close["side"], Decimal(close["orderQuantity"])) == (
            "PLACED",
            "SELL",
            _lots(held["closer"]),
        )
        (order,) = [o for o in await _orders(closer, accounts["closer"]) if o["clientOrderId"] == f"copy-{close['id']}"]
        assert (order["type"], order["id"]) == ("MARKET", close["orderId"])
        left = held["closer"] - Decimal(order["filledQuantity"])
        assert _held(closed) == left
        assert Decimal((await position(closer, accounts["closer"], "BTC"))["quantity"]) == left  # type: ignore[index]

        still = (await _mine(keeper))[keeping["id"]]
        assert [row["kind"] for row in _log(still)] == [row["kind"] for row in _log(before["keeper"])]
        assert _held(still) == held["keeper"]
        assert Decimal((await position(keeper, accounts["keeper"], "BTC"))["quantity"]) == held["keeper"]  # type: ignore[index]

        # Nothing the agent does afterwards is copied to either.
        await _run_until_holding(owner, bot_id, agent_account)
        after = {"closer": (await _mine(closer))[closing["id"]], "keeper": (await _mine(keeper))[keeping["id"]]}
        assert after["closer"]["copyLog"]["totalCount"] == closed["copyLog"]["totalCount"]
        assert after["keeper"]["copyLog"]["totalCount"] == still["copyLog"]["totalCount"]
        assert (await boss.query(AGENT, {"id": agent["id"]}))["agent"]["subscriberCount"] == 0


# -- exactly once ------------------------------------------------------------------------------------------------


async def test_a_copy_placed_by_a_dispatcher_that_died_is_replayed_not_placed_again(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    async with _users(server, api, 2) as (owner, copier):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        agent = await _publish(boss, bot_id)
        account = await paper_account(copier)
        sub = await _subscribe(copier, agent["id"], account, "5000")
        async with _dispatcher_down(server):
            await _run_until_holding(owner, bot_id, agent_account)
            rows = await CopyOrder.filter(subscription_id=pk(sub["id"])).order_by("id")
            assert rows and {r.status for r in rows} == {CopyStatus.PENDING}
            first = rows[0]
            assert first.side == "BUY"
            # A dispatcher claimed the first copy, placed its order and died before recording it.
            dead = await CopyOrder.filter(id=first.id, status=CopyStatus.PENDING).update(
                status=CopyStatus.CLAIMED,
                claimed_by="dead-process",
                claim_until=datetime.now(UTC) - timedelta(seconds=1),
                order_quantity=first.quantity,
                attempts=1,
            )
            assert dead == 1
            orphan = await placed(copier, account, quantity=str(first.quantity), clientOrderId=f"copy-{first.id}")
        await wait_until(lambda: _copies_settled(sub["id"]), timeout=30, interval=0.1)

        again = await CopyOrder.get(id=first.id)
        assert (again.status, again.attempts, str(again.order_id)) == (CopyStatus.PLACED, 2, pk(orphan["id"]))
        view = (await _mine(copier))[sub["id"]]
        orders = await _orders(copier, account)
        assert [o["id"] for o in orders if o["clientOrderId"] == f"copy-{first.id}"] == [orphan["id"]]
        assert len(orders) == sum(1 for row in _log(view) if row["status"] == "PLACED")
        signed = sum((Decimal(o["filledQuantity"]) * (1 if o["side"] == "BUY" else -1) for o in orders), Decimal(0))
        assert _held(view) == signed


async def test_two_dispatchers_racing_place_each_copy_once(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    assert server.resources is not None
    async with _users(server, api, 7) as (owner, *copiers):
        agent_account = await paper_account(owner)
        bot_id = await _trading_bot(owner, agent_account)
        agent = await _publish(boss, bot_id)
        accounts = [await paper_account(c) for c in copiers]
        subs = [
            await _subscribe(c, agent["id"], a, str(1000 * (i + 1)))
            for i, (c, a) in enumerate(zip(copiers, accounts, strict=True))
        ]
        async with _dispatcher_down(server):
            await _run_until_holding(owner, bot_id, agent_account)
            rows = await CopyOrder.filter(subscription_id__in=[pk(s["id"]) for s in subs])
            assert {r.status for r in rows} == {CopyStatus.PENDING}
            # The outbox's key: one copy per (fill, subscription), whoever writes it.
            with pytest.raises(IntegrityError):
                await CopyOrder.create(
                    fill_id=rows[0].fill_id,
                    subscription_id=rows[0].subscription_id,
                    agent_id=rows[0].agent_id,
                    user_id=rows[0].user_id,
                    account_id=rows[0].account_id,
                    symbol="BTC",
                    side="BUY",
                    agent_quantity=rows[0].agent_quantity,
                    agent_price=rows[0].agent_price,
                    quantity=rows[0].quantity,
                    status=CopyStatus.PENDING,
                )
            settings = server.resources.settings
            racers = [
                CopyDispatcher(
                    server.resources, interval=timedelta(seconds=0.05), ttl=timedelta(seconds=settings.copy_claim_ttl)
                )
                for _ in range(2)
            ]
            await asyncio.gather(*(racer.drain() for racer in racers))
            assert await _copies_settled(*(s["id"] for s in subs))

        done = await CopyOrder.filter(subscription_id__in=[pk(s["id"]) for s in subs])
        # Claimed once each (a second claim would count a second attempt), by one of the two.
        assert {r.attempts for r in done} == {1}
        assert {r.claimed_by for r in done} <= {racer.name for racer in racers}
        for client, account, sub in zip(copiers, accounts, subs, strict=True):
            view = (await _mine(client))[sub["id"]]
            orders = await _orders(client, account)
            placed_rows = [row for row in _log(view) if row["status"] == "PLACED"]
            assert sorted(o["clientOrderId"] for o in orders) == sorted(f"copy-{row['id']}" for row in placed_rows)
            signed = sum((Decimal(o["filledQuantity"]) * (1 if o["side"] == "BUY" else -1) for o in orders), Decimal(0))
            assert _held(view) == signed


@pytest.mark.legs("postgres")
async def test_two_processes_mirror_each_fill_once_even_when_one_dies(leg: LegConfig, tmp_path: Path) -> None:
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "copying"),
        BROADCAST_NAMESPACE="test-copying",
        DATA_DIR=str(tmp_path),
        BOT_LEASE_TTL="2",
        BOT_LEASE_RENEW="0.3",
        COPY_DISPATCH_INTERVAL="0.05",
        COPY_CLAIM_TTL="2",
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as procs:
        for proc in procs:
            await proc.wait_ready()
        url = procs[0].url
        async with GraphQLClient(url) as anonymous:
            admin = await register(anonymous)  # the database's first account: its admin
            people = [await register(anonymous) for _ in range(11)]
        clients = [as_user(url, person) for person in (admin, *people)]
        for client in clients:
            await client.__aenter__()
        try:
            boss, owner, *copiers = clients
            agent_account = await paper_account(owner)
            bot_id = await _trading_bot(owner, agent_account)
            agent = await _publish(boss, bot_id)
            accounts = [await paper_account(c) for c in copiers]
            subs = [
                await _subscribe(c, agent["id"], a, str(500 * (i + 1)))
                for i, (c, a) in enumerate(zip(copiers, accounts, strict=True))
            ]
            await _step(owner, "startBot", bot_id)

            async def bought() -> bool:
                return await _buy_fills(owner, agent_account) > 0

            await wait_until(bought, timeout=90, interval=0.1)
            procs[1].kill()  # whatever it had claimed is retried by the survivor once the claim lapses
            await _step(owner, "stopBot", bot_id)

            async def settled() -> bool:
                for client, sub in zip(copiers, subs, strict=True):
                    log = _log((await _mine(client))[sub["id"]])
                    if any(row["status"] in ("PENDING", "CLAIMED") for row in log):
                        return False
                return True

            await wait_until(settled, timeout=60, interval=0.2)
            fills = {f["id"] for o in await _agent_orders(owner, agent_account) for f in o["fills"]}
            for client, account, sub in zip(copiers, accounts, subs, strict=True):
                view = (await _mine(client))[sub["id"]]
                log = _log(view)
                assert sorted(row["agentFillId"] for row in log) == sorted(fills)
                orders = await _orders(client, account)
                placed_rows = [row for row in log if row["status"] == "PLACED"]
                assert placed_rows
                assert sorted(o["clientOrderId"] for o in orders) == sorted(f"copy-{r['id']}" for r in placed_rows)
                assert {o["id"] for o in orders} == {r["orderId"] for r in placed_rows}
                signed = sum(
                    (Decimal(o["filledQuantity"]) * (1 if o["side"] == "BUY" else -1) for o in orders), Decimal(0)
                )
                assert _held(view) == signed
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)
