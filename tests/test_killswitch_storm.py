"""The kill switch takes hold in bounded time under a storm of orders, and exactly: an activation is
answered promptly however many placements are in flight, every placement that starts after its answer is
refused, and no order accepted after it exists in the database."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.orders import WORKING
from models.orders import Order as OrderRow

from .accounts import Account, register
from .support import LegConfig, ServerHandle, migrate, own_database, spawn_servers, wait_until
from .trading import paper_account, place

ACTIVATE = """mutation($i: ActivateKillSwitchInput!) { activateKillSwitch(input: $i) { __typename
  ... on KillSwitchChanged { cancelledOrders state { scope active } } ... on UserError { code } } }"""
DEACTIVATE = """mutation($i: DeactivateKillSwitchInput!) { deactivateKillSwitch(input: $i) { __typename
  ... on KillSwitchChanged { state { active } } } }"""
# A resting limit buy far under the mark: every accepted one stays working until the sweep cancels it.
RESTING = {"type": "LIMIT", "quantity": "0.01", "price": "1000"}
# Each worker stops after this many placements started after the activation's answer, or at the cap.
AFTER_ANSWER = 3
PER_WORKER_CAP = 60

_addresses = itertools.count(1)


@dataclass
class Attempt:
    started: float  # time.monotonic() when the request was sent
    took: float
    typename: str
    scope: str | None
    order_id: str | None


@dataclass
class Storm:
    attempts: list[Attempt] = field(default_factory=list)
    requested: float = 0.0
    answered: float | None = None
    answered_at: datetime | None = None  # wall clock, to compare with rows' created_at
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(a.typename == "OrderPlaced" for a in self.attempts)


async def _storm(
    traders: list[tuple[list[GraphQLClient], str]],
    workers: int,
    warm_up: int,
    activate: Callable[[], Awaitable[dict[str, Any]]],
) -> Storm:
    """``workers`` concurrent placement loops per (trader, server); once ``warm_up`` orders are accepted,
    ``activate()`` runs mid-storm; each loop goes on until it has sent AFTER_ANSWER placements after the
    answer (or reaches the cap, which bounds the storm when the answer never comes in time)."""
    storm = Storm()

    async def keep_placing(client: GraphQLClient, account: str) -> None:
        after = 0
        for _ in range(PER_WORKER_CAP):
            started = time.monotonic()
            result = await place(client, account, **RESTING)
            order = result.get("order")
            took = time.monotonic() - started
            storm.attempts.append(
                Attempt(started, took, result["__typename"], result.get("scope"), order and order["id"])
            )
            if storm.answered is not None and started > storm.answered:
                after += 1
                if after == AFTER_ANSWER:
                    return

    loops = [
        asyncio.create_task(keep_placing(clients[i % len(clients)], account))
        for clients, account in traders
        for i in range(workers)
    ]
    try:
        await wait_until(lambda: storm.accepted >= warm_up, timeout=60, interval=0.005)
        storm.requested = time.monotonic()
        try:
            storm.answer = await activate()
        except httpx.TimeoutException:
            pytest.fail(f"the activation was not answered within {time.monotonic() - storm.requested:.0f} s")
        storm.answered = time.monotonic()
        storm.answered_at = datetime.now(UTC)
        await asyncio.wait_for(asyncio.gather(*loops), timeout=180)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    return storm


def _check_prompt(storm: Storm) -> None:
    """The activation is answered within 1 s of its request, plus three typical placements of the storm.

    1 s is the bound on a machine with CPU to spare, where a placement takes milliseconds. On a starved
    one (the shared test machine: load 10 on 2 cores, a placement answered in ~2 s) every request is
    slower, so the bound grows by what a few placements cost there: the activation's own work is about
    that (switch on, one placement per account at the barrier, the sweep). It does not grow with the
    length of the storm, which is what an activation queued behind the order flow did: it was answered
    only after the storm ended (1.7 s for 200 orders, 11 s for 800, over a minute here)."""
    assert storm.answered is not None
    typical = statistics.median(a.took for a in storm.attempts if a.started + a.took < storm.requested)
    took = storm.answered - storm.requested
    assert took < 1.0 + 3 * typical, f"activation answered after {took:.2f} s; a placement takes {typical:.2f} s"


def _check_refusals(storm: Storm, scope: str, sweepers: int, *, only_orders: bool) -> None:
    """Every placement sent after the answer was refused by the switch; the rest placed or refused.
    ``only_orders``: the storm's orders are the only working ones in the switch's scope."""
    assert storm.answer["__typename"] == "KillSwitchChanged", storm.answer
    assert storm.answer["state"] == {"scope": scope, "active": True}
    assert storm.answered is not None
    late = [a for a in storm.attempts if a.started > storm.answered]
    assert len(late) == sweepers * AFTER_ANSWER
    assert {(a.typename, a.scope) for a in late} == {("KillSwitchActive", scope)}
    assert {a.typename for a in storm.attempts} == {"OrderPlaced", "KillSwitchActive"}
    # What was accepted rested (a limit far under the mark) and committed before the sweep reached its
    # account, so the sweep cancelled each one of them.
    if only_orders:
        assert storm.answer["cancelledOrders"] == storm.accepted
    else:
        assert storm.answer["cancelledOrders"] >= storm.accepted


async def _check_rows(database_url: str, storm: Storm, user_ids: list[str]) -> None:
    """In the database: the accepted orders are exactly those answered OrderPlaced, none was created
    after the activation's answer, and none is still working."""
    assert storm.answered_at is not None
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, status, created_at FROM orders WHERE user_id = ANY($1::uuid[])", user_ids
        )
    finally:
        await conn.close()
    placed = {from_global_id(a.order_id)[1] for a in storm.attempts if a.order_id}
    assert {r["id"] for r in rows} == placed
    assert [r["id"] for r in rows if r["created_at"] > storm.answered_at] == []
    assert [r["id"] for r in rows if r["status"] in {s.value for s in WORKING}] == []


async def _register(url: str, name: str) -> Account:
    # Each its own address, so per-address registration limits never throttle the set-up.
    async with GraphQLClient(url, headers={"X-Forwarded-For": f"10.77.0.{next(_addresses) % 250 + 1}"}) as api:
        return await register(api, name=name)


async def _funded(urls: list[str], trader: Account) -> tuple[list[GraphQLClient], str]:
    clients = [GraphQLClient(url, headers=trader.headers, timeout=60) for url in urls]
    return clients, await paper_account(clients[0], "10000000")


def _user_pk(trader: Account) -> str:
    return from_global_id(trader.user_id)[1]


@pytest.mark.legs("postgres")
async def test_activation_is_prompt_and_exact_under_a_storm_across_two_processes(
    leg: LegConfig, tmp_path: Path
) -> None:
    """GLOBAL, then ACCOUNT scope, each activated in the middle of a sustained storm of placements sent
    to two server processes. The one behavioural bound: the activation is answered within 1 s of its
    request (it used to wait for the storm to end: 1.7 s for 200 orders, 11 s for 800)."""
    database_url = await own_database(leg, tmp_path, "cluster")
    # Development mode: registrations need no approval. Migrated first, so the processes never race to.
    env = leg.env(DATABASE_URL=database_url, BROADCAST_NAMESPACE="test-cluster", DATA_DIR=str(tmp_path))
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as procs:
        for proc in procs:
            await proc.wait_ready(timeout=120)  # a loaded machine imports slowly
        urls = [p.url for p in procs]
        admin = await _register(urls[0], "Storm Admin")
        assert admin.role == "ADMIN"
        traders = [await _register(urls[i % 2], f"Storm Trader {i}") for i in range(4)]
        funded = [await _funded(urls, t) for t in traders]
        try:
            async with GraphQLClient(urls[0], headers=admin.headers, timeout=60) as boss:

                async def activate_global() -> dict[str, Any]:
                    data = await boss.query(ACTIVATE, {"i": {"reason": "storm", "scope": "GLOBAL"}})
                    return dict(data["activateKillSwitch"])

                storm = await _storm(funded, workers=4, warm_up=40, activate=activate_global)
                try:
                    assert storm.answered is not None
                    _check_prompt(storm)
                    _check_refusals(storm, "GLOBAL", sweepers=4 * 4, only_orders=True)
                    await _check_rows(database_url, storm, [_user_pk(t) for t in traders])
                finally:
                    await boss.query(DEACTIVATE, {"i": {"reason": "storm over", "scope": "GLOBAL"}})

            # ACCOUNT scope: one trader's own switch, while that trader's orders keep flowing.
            solo = await _register(urls[1], "Storm Solo")
            solo_clients, solo_account = await _funded(urls, solo)
            funded.append((solo_clients, solo_account))

            async def activate_account() -> dict[str, Any]:
                data = await solo_clients[1].query(ACTIVATE, {"i": {"reason": "desk storm", "scope": "ACCOUNT"}})
                return dict(data["activateKillSwitch"])

            storm = await _storm([(solo_clients, solo_account)], workers=12, warm_up=30, activate=activate_account)
            _check_prompt(storm)
            _check_refusals(storm, "ACCOUNT", sweepers=12, only_orders=True)
            await _check_rows(database_url, storm, [_user_pk(solo)])
        finally:
            for clients, _ in funded:
                for client in clients:
                    await client.__aexit__(None, None, None)


async def test_no_order_lands_after_activation(server: ServerHandle, admin: Account, leg: LegConfig) -> None:
    """The same guarantee on each leg's own server (on SQLite writers are serialised): a storm from four
    traders, a GLOBAL activation in the middle, every later placement refused, no later order row."""
    traders = [await _register(server.url, f"Leg Trader {i}") for i in range(4)]
    funded = [await _funded([server.url], t) for t in traders]
    try:
        async with GraphQLClient(server.url, headers=admin.headers, timeout=60) as boss:

            async def activate() -> dict[str, Any]:
                data = await boss.query(ACTIVATE, {"i": {"reason": "leg storm", "scope": "GLOBAL"}})
                return dict(data["activateKillSwitch"])

            storm = await _storm(funded, workers=4, warm_up=20, activate=activate)
            try:
                _check_refusals(storm, "GLOBAL", sweepers=4 * 4, only_orders=False)
                pks = [_user_pk(t) for t in traders]
                ids = await OrderRow.filter(user_id__in=pks).values_list("id", flat=True)
                placed = {from_global_id(a.order_id)[1] for a in storm.attempts if a.order_id}
                assert {str(i) for i in ids} == placed
                assert await OrderRow.filter(user_id__in=pks, created_at__gt=storm.answered_at).count() == 0
                assert await OrderRow.filter(user_id__in=pks, status__in=list(WORKING)).count() == 0
            finally:
                await boss.query(DEACTIVATE, {"i": {"reason": "leg storm over", "scope": "GLOBAL"}})
    finally:
        for clients, _ in funded:
            for client in clients:
                await client.__aexit__(None, None, None)
