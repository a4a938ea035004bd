"""Strategies: defaults and bounds of each type's parameters, field-named refusals, owner-only reads and
writes (admins read all, viewers only read), replace and delete, and their audit rows."""

from __future__ import annotations

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry

from .accounts import Account, as_user, error_code, register
from .strategy_support import DELETE, STRATEGIES, STRATEGY, UPDATE, create_strategy, strategy_id

pytestmark = pytest.mark.usefixtures("admin")

SET_ROLE = "mutation($id: ID!, $role: Role!) { setUserRole(input: {id: $id, role: $role}) { __typename } }"


async def test_each_type_gets_its_defaults(api: GraphQLClient, trader: Account) -> None:
    expected = {
        "TREND_FOLLOWING": {
            "__typename": "TrendFollowingParameters",
            "fastPeriod": 12,
            "slowPeriod": 26,
            "positionSize": "0.95",
            "stopLoss": "0",
            "takeProfit": "0",
        },
        "MEAN_REVERSION": {
            "__typename": "MeanReversionParameters",
            "period": 20,
            "deviations": "2",
            "positionSize": "0.95",
        },
        "GRID": {"__typename": "GridParameters", "levels": 5, "spacing": "0.005", "orderSize": "0.1"},
        "MARKET_MAKING": {
            "__typename": "MarketMakingParameters",
            "spread": "0.002",
            "orderSize": "0.05",
            "maxInventory": "0.5",
        },
        "ARBITRAGE": {
            "__typename": "ArbitrageParameters",
            "minSpread": "0.0001",
            "positionSize": "0.5",
            "feeRate": "0.0002",
        },
    }
    async with as_user(api.base_url, trader) as client:
        for kind, parameters in expected.items():
            created = await create_strategy(client, name=kind.lower(), type=kind)
            assert created["__typename"] == "StrategyChanged", created
            strategy = created["strategy"]
            assert (strategy["type"], strategy["status"], strategy["performance"]) == (kind, "INACTIVE", None)
            assert strategy["parameters"] == parameters
            assert strategy["ownerId"] == trader.user_id


async def test_given_parameters_are_kept_and_bad_ones_named(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        created = await create_strategy(
            client,
            status="TESTING",
            parameters={"trendFollowing": {"fastPeriod": 5, "slowPeriod": 50, "stopLoss": "0.02"}},
        )
        params = created["strategy"]["parameters"]
        assert (params["fastPeriod"], params["slowPeriod"], params["stopLoss"], params["positionSize"]) == (
            5,
            50,
            "0.02",
            "0.95",
        )
        assert created["strategy"]["status"] == "TESTING"
        refusals = [
            ({"trendFollowing": {"fastPeriod": 1}}, "parameters.trendFollowing.fastPeriod"),
            ({"trendFollowing": {"fastPeriod": 30, "slowPeriod": 20}}, "parameters.trendFollowing.fastPeriod"),
            ({"trendFollowing": {"positionSize": "1.5"}}, "parameters.trendFollowing.positionSize"),
            ({"grid": {"levels": 3}}, "parameters.grid"),
        ]
        for parameters, field in refusals:
            refused = await create_strategy(client, parameters=parameters)
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", field), refused
        refused = await create_strategy(client, type="GRID", parameters={"grid": {"levels": 50, "spacing": "0.02"}})
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "parameters.grid.spacing")
        assert (await create_strategy(client, name=" "))["field"] == "name"


async def test_owner_reads_and_writes_others_do_not(api: GraphQLClient, admin: Account, trader: Account) -> None:
    other = await register(api)
    async with (
        as_user(api.base_url, trader) as client,
        as_user(api.base_url, other) as stranger,
        as_user(api.base_url, admin) as boss,
    ):
        sid = await strategy_id(client, name="mine")
        assert (await client.query(STRATEGY, {"id": sid}))["strategy"]["name"] == "mine"
        assert (await stranger.query(STRATEGY, {"id": sid}))["strategy"] is None
        assert (await boss.query(STRATEGY, {"id": sid}))["strategy"]["name"] == "mine"
        theirs = await stranger.query(STRATEGIES, {"first": 100})
        assert sid not in {e["node"]["id"] for e in theirs["strategies"]["edges"]}
        everyone = await boss.query(STRATEGIES, {"first": 100, "f": {"type": "TREND_FOLLOWING"}})
        assert sid in {e["node"]["id"] for e in everyone["strategies"]["edges"]}
        body = {"name": "stolen", "type": "GRID"}
        assert (await stranger.query(UPDATE, {"id": sid, "i": body}))["updateStrategy"]["code"] == "NOT_FOUND"
        assert (await stranger.query(DELETE, {"id": sid}))["deleteStrategy"]["code"] == "NOT_FOUND"
        # Admins read everyone's strategies but act only on their own.
        assert (await boss.query(DELETE, {"id": sid}))["deleteStrategy"]["code"] == "NOT_FOUND"


async def test_update_replaces_and_delete_removes(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        sid = await strategy_id(client, name="first", parameters={"trendFollowing": {"fastPeriod": 5}})
        body = {"name": "second", "type": "GRID", "status": "ACTIVE", "parameters": {"grid": {"levels": 8}}}
        updated = (await client.query(UPDATE, {"id": sid, "i": body}))["updateStrategy"]["strategy"]
        assert (updated["id"], updated["name"], updated["type"], updated["status"]) == (sid, "second", "GRID", "ACTIVE")
        assert updated["parameters"] == {
            "__typename": "GridParameters",
            "levels": 8,
            "spacing": "0.005",
            "orderSize": "0.1",
        }
        bad = {"name": "second", "type": "GRID", "parameters": {"grid": {"spacing": "0.9"}}}
        refused = (await client.query(UPDATE, {"id": sid, "i": bad}))["updateStrategy"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "parameters.grid.spacing")
        # The refused update left the strategy as it was.
        kept = (await client.query(STRATEGY, {"id": sid}))["strategy"]
        assert kept["parameters"]["spacing"] == "0.005" and kept["name"] == "second"
        assert (await client.query(DELETE, {"id": sid}))["deleteStrategy"] == {
            "__typename": "StrategyDeleted",
            "deletedId": sid,
        }
        assert (await client.query(STRATEGY, {"id": sid}))["strategy"] is None
        assert (await client.query(DELETE, {"id": sid}))["deleteStrategy"]["code"] == "NOT_FOUND"
    actions = [
        e.action
        for e in await AuditEntry.filter(actor_id=from_global_id(trader.user_id)[1], action__startswith="strategy.")
    ]
    assert actions.count("strategy.create") == 1 and actions.count("strategy.delete") == 2
    assert actions.count("strategy.update") == 2


async def test_viewers_read_but_may_not_write(api: GraphQLClient, admin: Account) -> None:
    viewer = await register(api)
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, viewer) as client:
        await boss.query(SET_ROLE, {"id": viewer.user_id, "role": "VIEWER"})
        assert (await client.query(STRATEGIES))["strategies"]["totalCount"] == 0
        body = await client.execute(
            "mutation($i: StrategyInput!) { createStrategy(input: $i) { __typename } }",
            {"i": {"name": "x", "type": "GRID"}},
        )
        assert error_code(body) == "FORBIDDEN"
