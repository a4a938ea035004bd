"""Leaderboard: standings kept by the fill path, checked against numbers worked out here from the fills each
test makes, and ranks checked against a direct computation over the fills, orders and positions tables."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.orders import Fill
from models.perps import PerpPosition
from models.positions import Position

from .accounts import Account, as_user, error_code, register
from .perps import perp_account
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

ENTRY = """id rank userId displayName hidden pnl realizedPnl fees roi closedCost winRate volume trades closes wins"""
BOARD = f"""
query($p: LeaderboardPeriod, $m: LeaderboardMetric, $first: Int, $after: String) {{
  leaderboard(period: $p, metric: $m, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ENTRY} }} }}
  }}
}}"""
RANK = f"""
query($u: ID!, $p: LeaderboardPeriod, $m: LeaderboardMetric) {{
  userRank(userId: $u, period: $p, metric: $m) {{ {ENTRY} }}
}}"""
PROFILE = """
mutation($i: UpdateLeaderboardProfileInput!) { updateLeaderboardProfile(input: $i) {
  __typename ... on LeaderboardProfileUpdated { profile { displayName hidden } } ... on UserError { code field }
} }"""
METRICS = ("PNL", "ROI", "WIN_RATE", "VOLUME")
Q12 = Decimal("1e-12")
ZERO = Decimal(0)


def q12(value: Decimal) -> Decimal:
    return value.quantize(Q12, rounding=ROUND_HALF_EVEN)


def key(value: Decimal) -> int:
    """The documented rank key: the metric in millionths, rounded half-even."""
    return int((value * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def raw(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def board(client: GraphQLClient, period: str, metric: str, first: int = 100) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.query(BOARD, {"p": period, "m": metric, "first": first, "after": after}))["leaderboard"]
        rows += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(rows)
            return rows
        after = page["pageInfo"]["endCursor"]


def single_fill(order: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """(price, quantity, fee) of an order that filled at one level (small orders do)."""
    (fill,) = order["fills"]
    return Decimal(fill["price"]), Decimal(fill["quantity"]), Decimal(fill["fee"])


async def _spot_round_trip(client: GraphQLClient, symbol: str, buy: str, sell: str) -> dict[str, Decimal]:
    """Buy then sell part on a spot paper account; the standing it should leave, worked out here."""
    account = await paper_account(client)
    bp, bq, bfee = single_fill(await placed(client, account, symbol=symbol, side="BUY", quantity=buy))
    sp, sq, sfee = single_fill(await placed(client, account, symbol=symbol, side="SELL", quantity=sell))
    entry = bp  # one buy fill: the average entry is its price
    realized = q12((sp - entry) * sq)
    closed = q12(entry * sq)
    return {
        "volume": bp * bq + sp * sq,
        "fees": bfee + sfee,
        "realized": realized,
        "closed": closed,
        "trades": Decimal(2),
        "wins": Decimal(1 if realized > 0 else 0),
    }


def _check(entry: dict[str, Any], want: dict[str, Decimal]) -> None:
    assert Decimal(entry["volume"]) == want["volume"]
    assert Decimal(entry["fees"]) == want["fees"]
    assert Decimal(entry["realizedPnl"]) == want["realized"]
    assert Decimal(entry["pnl"]) == want["realized"] - want["fees"]
    assert Decimal(entry["closedCost"]) == want["closed"]
    assert Decimal(entry["roi"]) == q12(want["realized"] / want["closed"])
    assert (entry["trades"], entry["closes"], entry["wins"]) == (int(want["trades"]), 1, int(want["wins"]))
    assert Decimal(entry["winRate"]) == want["wins"]


async def test_a_spot_and_a_short_perp_round_trip_leave_the_standing_worked_out_by_hand(api: GraphQLClient) -> None:
    spot, short = await register(api), await register(api)
    async with as_user(api.base_url, spot) as a, as_user(api.base_url, short) as b:
        want = await _spot_round_trip(a, "BTC", "0.02", "0.01")
        account = await perp_account(b)
        op, oq, ofee = single_fill(await placed(b, account, symbol="ETH", side="SELL", quantity="0.5"))
        cp, cq, cfee = single_fill(await placed(b, account, symbol="ETH", side="BUY", quantity="0.2"))
        realized = q12((op - cp) * cq)  # a short gains when the price falls
        short_want = {
            "volume": op * oq + cp * cq,
            "fees": ofee + cfee,
            "realized": realized,
            "closed": q12(op * cq),
            "trades": Decimal(2),
            "wins": Decimal(1 if realized > 0 else 0),
        }
        for period in ("DAY", "WEEK", "MONTH", "ALL"):
            _check((await a.query(RANK, {"u": spot.user_id, "p": period}))["userRank"], want)
            _check((await a.query(RANK, {"u": short.user_id, "p": period}))["userRank"], short_want)


async def _expected_ranks(hidden: set[str]) -> dict[str, dict[str, int]]:
    """metric -> user -> rank, computed straight from the tables: volume and fees from the fills (with their
    orders' users), realized PnL from the spot and perp positions (all time, one leg's database)."""
    volume: dict[str, Decimal] = {}
    fees: dict[str, Decimal] = {}
    for user, price, quantity, fee in await Fill.all().values_list("order__user_id", "price", "quantity", "fee"):
        volume[str(user)] = volume.get(str(user), ZERO) + price * quantity
        fees[str(user)] = fees.get(str(user), ZERO) + fee
    realized = {u: ZERO for u in volume}
    for user, pnl in await Position.all().values_list("user_id", "realized_pnl"):
        realized[str(user)] = realized.get(str(user), ZERO) + pnl
    for user, pnl in await PerpPosition.all().values_list("user_id", "realized_pnl"):
        realized[str(user)] = realized.get(str(user), ZERO) + pnl
    keys = {
        "VOLUME": {u: key(v) for u, v in volume.items() if u not in hidden},
        "PNL": {u: key(realized[u] - fees[u]) for u in volume if u not in hidden},
    }
    return {m: {u: 1 + sum(1 for o in ks.values() if o > k) for u, k in ks.items()} for m, ks in keys.items()}


async def test_ranks_match_a_direct_computation_and_hidden_users_drop_out(api: GraphQLClient) -> None:
    people = [await register(api) for _ in range(3)]
    clients = [as_user(api.base_url, p) for p in people]
    async with clients[0] as a, clients[1] as b, clients[2] as c:
        await _spot_round_trip(a, "BTC", "0.02", "0.01")
        await _spot_round_trip(b, "ETH", "0.4", "0.4")
        await _spot_round_trip(c, "SOL", "3", "1")
        hidden = await b.query(PROFILE, {"i": {"hidden": True, "displayName": "Quiet One"}})
        assert hidden["updateLeaderboardProfile"]["profile"] == {"displayName": "Quiet One", "hidden": True}
        named = await a.query(PROFILE, {"i": {"displayName": "Alpha_1"}})
        assert named["updateLeaderboardProfile"]["profile"] == {"displayName": "Alpha_1", "hidden": False}

        expected = await _expected_ranks({raw(people[1].user_id)})
        for metric in ("PNL", "VOLUME"):
            got = {raw(e["userId"]): e["rank"] for e in await board(c, "ALL", metric, first=7)}
            assert got == expected[metric], metric
        for metric in METRICS:
            rows = await board(c, "ALL", metric, first=5)
            assert raw(people[1].user_id) not in {raw(e["userId"]) for e in rows}
            names = {raw(e["userId"]): e["displayName"] for e in rows}
            assert names[raw(people[0].user_id)] == "Alpha_1"
            assert names[raw(people[2].user_id)] == "trader-" + raw(people[2].user_id).replace("-", "")[:8]
        # Nobody else sees where a hidden user stands; they still see their own rank.
        assert (await c.query(RANK, {"u": people[1].user_id}))["userRank"] is None
        own = (await b.query(RANK, {"u": people[1].user_id, "m": "VOLUME"}))["userRank"]
        assert own["hidden"] is True
        visible_volumes = [key(Decimal(e["volume"])) for e in await board(c, "ALL", "VOLUME")]
        assert own["rank"] == 1 + sum(1 for v in visible_volumes if v > key(Decimal(own["volume"])))

        bad = await a.query(PROFILE, {"i": {"displayName": " x"}})
        assert bad["updateLeaderboardProfile"] == {
            "__typename": "InvalidInput",
            "code": "INVALID_INPUT",
            "field": "displayName",
        }


async def test_racing_fills_of_one_user_on_two_accounts_all_count(api: GraphQLClient) -> None:
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        accounts = [await paper_account(client), await paper_account(client)]
        orders = await asyncio.gather(
            *(placed(client, accounts[i % 2], symbol="BTC", side="BUY", quantity="0.001") for i in range(20))
        )
        fills = [f for o in orders for f in o["fills"]]
        volume = sum((Decimal(f["price"]) * Decimal(f["quantity"]) for f in fills), ZERO)
        fees = sum((Decimal(f["fee"]) for f in fills), ZERO)
        for period in ("DAY", "ALL"):
            mine = (await client.query(RANK, {"u": person.user_id, "p": period, "m": "VOLUME"}))["userRank"]
            assert (mine["trades"], Decimal(mine["volume"]), Decimal(mine["fees"])) == (len(fills), volume, fees)


STATS = """query($p: LeaderboardPeriod) { leaderboardStats(period: $p) {
  period periodStart periodEnd traders profitableTraders trades volume pnl } }"""
ANALYTICS = "query($d: Int) { leaderboardAnalytics(days: $d) { days { start traders trades volume pnl } } }"


async def test_stats_and_daily_activity_add_up_every_user(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        await _spot_round_trip(client, "ETH", "0.1", "0.1")
        stats = (await client.query(STATS, {"p": "DAY"}))["leaderboardStats"]
        days = (await client.query(ANALYTICS, {"d": 2}))["leaderboardAnalytics"]["days"]
        refused = await client.execute("{ leaderboardAnalytics(days: 0) { days { start } } }")
    per_user: dict[str, list[Decimal]] = {}
    for user, price, quantity in await Fill.all().values_list("order__user_id", "price", "quantity"):
        per_user.setdefault(str(user), []).append(price * quantity)
    assert stats["traders"] == len(per_user)
    assert stats["trades"] == sum(len(v) for v in per_user.values())
    # Totals add each user's volume to the millionth (rounded half-even).
    assert Decimal(stats["volume"]) == sum((Decimal(key(sum(v, ZERO))) / 1_000_000 for v in per_user.values()), ZERO)
    yesterday, today = days
    assert (yesterday["traders"], yesterday["trades"], Decimal(yesterday["volume"])) == (0, 0, ZERO)
    assert (today["traders"], today["trades"], today["volume"], today["pnl"]) == (
        stats["traders"],
        stats["trades"],
        stats["volume"],
        stats["pnl"],
    )
    assert error_code(refused) == "BAD_USER_INPUT"
