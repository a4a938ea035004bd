"""Admin monitoring: the activity feed read from the audit log, broadcast delivered live to every user's
alertRaised stream, and systemMetrics of the answering process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.pagination import from_global_id
from models.alerts import Alert
from models.audit import AuditEntry
from models.backtests import Backtest, BacktestStatus
from models.identity import User, UserStatus

from .accounts import Account, as_user, error_code, register
from .support import LegConfig, ServerHandle, own_database, spawn_servers, wait_until
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

ACTIVITY = """
query($filter: ActivityFilter, $first: Int, $after: String) {
  activity(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id action actorId outcome targetType } }
  }
}"""
BROADCAST = """
mutation($m: String!, $s: AlertSeverity) { broadcast(message: $m, severity: $s) {
  __typename ... on BroadcastSent { recipients message severity } ... on UserError { code field } } }"""
STREAM = "subscription { alertRaised { sequence snapshot alert { id title message severity category source } } }"
METRICS = """{ systemMetrics { uptimeSeconds
  feed { role lastTickAt lagSeconds scheduleLagSeconds } bus { kind healthy } databasePool { inUse idle max }
  liveSubscribers liveConnections { transport count } jobQueueDepth } }"""
RENAME = 'mutation { updateProfile(input: {name: "active"}) { __typename } }'


def _socket(server: ServerHandle, account: Account) -> GraphQLWSClient:
    return GraphQLWSClient(server.ws_url, connection_params={"authorization": f"Bearer {account.access_token}"})


async def _activity(client: GraphQLClient, filter: dict[str, Any]) -> list[dict[str, Any]]:
    nodes, after = [], None
    while True:
        page = (await client.query(ACTIVITY, {"filter": filter, "first": 50, "after": after}))["activity"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_monitoring_is_for_admins(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        for document, variables in ((ACTIVITY, {}), (METRICS, {}), (BROADCAST, {"m": "hi"})):
            assert error_code(await client.execute(document, variables)) == "FORBIDDEN", document
    assert error_code(await api.execute(METRICS)) == "UNAUTHENTICATED"
    assert await Alert.filter(source="broadcast", message="hi").count() == 0


async def test_activity_lists_what_a_user_did(api: GraphQLClient, admin: Account) -> None:
    someone = await register(api)
    async with as_user(api.base_url, someone) as client:
        account = await paper_account(client)
        await placed(client, account, quantity="0.001")
        await placed(client, account, quantity="0.002")
        assert (await client.query(RENAME))["updateProfile"]["__typename"] == "UserUpdated"
    async with as_user(api.base_url, admin) as boss:
        everything = await _activity(boss, {"user": someone.user_id})
        assert [n["action"] for n in everything] == [
            "account.update_profile",
            "order.place",
            "order.place",
            "venue.connect",
            "auth.login",
            "auth.register",
        ]
        assert {n["actorId"] for n in everything} == {someone.user_id}
        orders = await _activity(boss, {"user": someone.user_id, "kinds": ["ORDER"]})
        assert [n["id"] for n in orders] == [n["id"] for n in everything[1:3]]
        two = await _activity(boss, {"user": someone.user_id, "kinds": ["SIGN_IN", "VENUE"]})
        assert [n["action"] for n in two] == ["venue.connect", "auth.login", "auth.register"]
        recent = await _activity(boss, {"kinds": ["ORDER"]})
        assert recent[:2] == orders  # the newest orders on the platform are these two
        bad = await boss.execute(ACTIVITY, {"filter": {"user": "garbage"}})
        assert error_code(bad) == "BAD_USER_INPUT" and bad["errors"][0]["extensions"]["field"] == "filter.user"


async def test_broadcast_reaches_every_user_live(api: GraphQLClient, admin: Account, server: ServerHandle) -> None:
    first, second = await register(api), await register(api)
    async with _socket(server, first) as ws_first, _socket(server, second) as ws_second:
        streams = [await ws_first.subscribe(STREAM), await ws_second.subscribe(STREAM)]
        for stream in streams:
            assert (await stream.data())["alertRaised"]["snapshot"] is True
        async with as_user(api.base_url, admin) as boss:
            refused = (await boss.query(BROADCAST, {"m": "   "}))["broadcast"]
            assert refused == {"__typename": "InvalidInput", "code": "INVALID_INPUT", "field": "message"}
            active = await User.filter(status=UserStatus.ACTIVE).count()
            sent = (await boss.query(BROADCAST, {"m": " Maintenance at 22:00 UTC ", "s": "HIGH"}))["broadcast"]
        assert sent == {
            "__typename": "BroadcastSent",
            "recipients": active,
            "message": "Maintenance at 22:00 UTC",
            "severity": "HIGH",
        }
        for stream in streams:
            raised = (await stream.data())["alertRaised"]
            assert raised["snapshot"] is False and raised["sequence"] == 2
            assert {k: raised["alert"][k] for k in ("title", "message", "severity", "category", "source")} == {
                "title": "Announcement",
                "message": "Maintenance at 22:00 UTC",
                "severity": "HIGH",
                "category": "SYSTEM",
                "source": "broadcast",
            }
    rows = await Alert.filter(source="broadcast", message="Maintenance at 22:00 UTC")
    assert len(rows) == active and len({r.user_id for r in rows}) == active
    audited = await AuditEntry.filter(action="admin.broadcast", outcome="SUCCESS").order_by("-id").first()
    assert audited is not None and audited.detail["recipients"] == active
    assert str(audited.actor_id) == from_global_id(admin.user_id)[1]


async def test_system_metrics(api: GraphQLClient, admin: Account, server: ServerHandle) -> None:
    async with as_user(api.base_url, admin) as boss:

        async def figures() -> dict[str, Any]:
            result: dict[str, Any] = (await boss.query(METRICS))["systemMetrics"]
            return result

        before = await figures()
        assert before["uptimeSeconds"] > 0
        assert before["bus"] == {"kind": "memory" if server.settings.is_sqlite else "redis", "healthy": True}
        if server.settings.is_sqlite:
            assert before["databasePool"] is None
        else:
            pool = before["databasePool"]
            assert pool["max"] == server.settings.database_pool_size and pool["inUse"] >= 1
        assert before["feed"]["role"] in ("leader", "standby")
        # The feed steps every 0.1 s in the tests: its newest tick is fresh.
        assert before["feed"]["lastTickAt"] is not None and before["feed"]["lagSeconds"] < 5
        assert before["jobQueueDepth"] == await Backtest.filter(status=BacktestStatus.QUEUED).count()
        sockets = {c["transport"]: c["count"] for c in before["liveConnections"]}
        async with _socket(server, admin) as ws:
            await (await ws.subscribe(STREAM)).data()

            async def socket_open() -> bool:
                now = await figures()
                return {c["transport"]: c["count"] for c in now["liveConnections"]}["websocket"] == (
                    sockets["websocket"] + 1
                )

            await wait_until(socket_open, timeout=5)
            one = (await figures())["liveSubscribers"]
            await (await ws.subscribe(STREAM)).data()  # a second stream on the same socket
            assert (await figures())["liveSubscribers"] == one + 1
        await wait_until(lambda: _subscribers_back(figures, before["liveSubscribers"]), timeout=5)


async def _subscribers_back(figures: Any, count: int) -> bool:
    return bool((await figures())["liveSubscribers"] == count)


async def test_admin_operations_only_from_allowed_addresses(leg: LegConfig, tmp_path: Path) -> None:
    """A server with ADMIN_IP_ALLOWLIST on its own database: admin fields and the export answer only from the
    listed addresses; everything else is unchanged."""
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "allowlist"),
        BROADCAST_NAMESPACE="test-allowlist",
        DATA_DIR=str(tmp_path),
        FEED_ENABLED="false",
        ADMIN_IP_ALLOWLIST="10.77.0.0/16, 192.0.2.5",
    )
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready()
        async with GraphQLClient(proc.url) as api:
            boss = await register(api, "boss@example.com")
            trader = await register(api)
        assert boss.role == "ADMIN"

        def client(account: Account, address: str) -> GraphQLClient:
            return as_user(proc.url, account, **{"X-Forwarded-For": address})

        for address, allowed in (("10.77.3.4", True), ("192.0.2.5", True), ("10.78.0.1", False), ("192.0.2.6", False)):
            async with client(boss, address) as http:
                body = await http.execute(METRICS)
                if allowed:
                    assert body["data"]["systemMetrics"]["bus"]["healthy"] is True, address
                else:
                    assert error_code(body) == "FORBIDDEN" and "address" in body["errors"][0]["message"], address
                assert (await http.query("{ me { role } }"))["me"]["role"] == "ADMIN"  # not an admin operation
            async with httpx.AsyncClient(base_url=proc.url) as raw:
                export = await raw.get(
                    "/exports/audit-log",
                    params={"format": "jsonl"},
                    headers={**boss.headers, "X-Forwarded-For": address},
                )
                assert export.status_code == (200 if allowed else 403), address
        async with client(trader, "10.77.3.4") as http:
            assert error_code(await http.execute(METRICS)) == "FORBIDDEN"  # the role still counts
