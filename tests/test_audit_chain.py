"""The audit log's hash chain and the admins' auditLog / verifyAuditChain: rows read and filtered over GraphQL,
the chain valid under concurrent writers, and an edited, a deleted and an inserted row each named exactly.

Tampering goes around the append-only triggers (as someone with the database's owner rights would) and is
undone at the end of each test, so the session's database keeps a valid chain for the other tests."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id, to_global_id
from models.audit import AuditChainHead, AuditEntry

from .accounts import LOGIN, Account, as_user, error_code, login, register
from .support import ServerHandle
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

AUDIT_LOG = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id sequence at actorId actorLabel action targetType targetId ip outcome detail
      prevHash hash } }
  }
}"""
VERIFY = "{ verifyAuditChain { ok checkedEntries firstBreak { kind entryId sequence message } } }"
RENAME = "mutation($n: String!) { updateProfile(input: {name: $n}) { __typename } }"

_SQLITE_TRIGGERS = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""


@asynccontextmanager
async def around_the_triggers(server: ServerHandle) -> AsyncIterator[BaseDBAsyncClient]:
    """One transaction in which the append-only triggers do not fire."""
    async with in_transaction() as conn:
        if server.settings.is_sqlite:
            await conn.execute_script("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            yield conn
            await conn.execute_script(_SQLITE_TRIGGERS)
        else:
            await conn.execute_script("SET LOCAL session_replication_role = replica;")
            yield conn


def _pk(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def _rename(account: Account, api: GraphQLClient, *names: str) -> None:
    async with as_user(api.base_url, account) as client:
        for name in names:
            assert (await client.query(RENAME, {"n": name}))["updateProfile"]["__typename"] == "UserUpdated"


async def _verify(api: GraphQLClient, admin: Account) -> dict[str, Any]:
    async with as_user(api.base_url, admin) as client:
        result: dict[str, Any] = (await client.query(VERIFY))["verifyAuditChain"]
        return result


async def _all_pages(client: GraphQLClient, filter: dict[str, Any], first: int = 2) -> list[dict[str, Any]]:
    nodes, after = [], None
    while True:
        page = (await client.query(AUDIT_LOG, {"filter": filter, "first": first, "after": after}))["auditLog"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def _documented_hash(row: AuditEntry) -> str:
    """The hash as the format is documented: SHA-256 of the row's content and prev_hash as one JSON object,
    keys sorted, no spaces, UTF-8, time in UTC ISO-8601 with microseconds."""
    content = {
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": str(row.actor_id) if row.actor_id is not None else None,
        "actor_label": row.actor_label,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "request_id": row.request_id,
        "outcome": str(row.outcome),
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def test_only_admins_read_the_audit_log(api: GraphQLClient, trader: Account) -> None:
    assert error_code(await api.execute(AUDIT_LOG)) == "UNAUTHENTICATED"
    assert error_code(await api.execute(VERIFY)) == "UNAUTHENTICATED"
    async with as_user(api.base_url, trader) as client:
        assert error_code(await client.execute(AUDIT_LOG)) == "FORBIDDEN"
        assert error_code(await client.execute(VERIFY)) == "FORBIDDEN"


async def test_audit_log_filters_and_pages(api: GraphQLClient, admin: Account) -> None:
    someone = await register(api)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await _rename(someone, api, "first", "second", "third")
    assert (await login(api, someone.email, "not the password 1"))["__typename"] != "AuthPayload"
    async with as_user(api.base_url, admin) as client:
        mine = await _all_pages(client, {"actor": someone.user_id})
        # Newest first: the failed sign-in, the three renames, the registration's session, the registration.
        assert [n["action"] for n in mine] == (
            ["auth.login"] + ["account.update_profile"] * 3 + ["auth.login", "auth.register"]
        )
        assert [n["outcome"] for n in mine] == ["FAILURE"] + ["SUCCESS"] * 5
        assert [n["detail"] for n in mine[1:4]] == [{"fields": ["name"]}] * 3
        assert all(n["actorLabel"] == someone.email and n["actorId"] == someone.user_id for n in mine)
        sequences = [n["sequence"] for n in mine]
        assert sequences == sorted(sequences, reverse=True)
        renames = await _all_pages(
            client, {"actor": someone.user_id, "action": "account.update_profile", "from": before.isoformat()}
        )
        assert [n["id"] for n in renames] == [n["id"] for n in mine[1:4]]
        failed = await _all_pages(client, {"actor": someone.user_id, "outcome": "FAILURE"})
        assert [(n["action"], n["detail"]) for n in failed] == [("auth.login", {"reason": "bad_credentials"})]
        on_target = await _all_pages(
            client, {"actor": someone.user_id, "targetType": "User", "targetId": _pk(someone.user_id)}
        )
        assert [n["id"] for n in on_target] == [n["id"] for n in mine if n["targetId"] == _pk(someone.user_id)]
        assert len(on_target) >= 4
        assert await _all_pages(client, {"actor": someone.user_id, "to": before.isoformat()}) == []
        bad = await client.execute(AUDIT_LOG, {"filter": {"action": "no.such_action"}})
        assert error_code(bad) == "BAD_USER_INPUT" and bad["errors"][0]["extensions"]["field"] == "filter.action"
        bad = await client.execute(AUDIT_LOG, {"filter": {"actor": "garbage"}})
        assert error_code(bad) == "BAD_USER_INPUT" and bad["errors"][0]["extensions"]["field"] == "filter.actor"


async def test_rows_are_chained_as_documented(api: GraphQLClient, admin: Account) -> None:
    someone = await register(api)
    await _rename(someone, api, "chained", "twice")
    rows = await AuditEntry.filter(actor_id=_pk(someone.user_id)).order_by("id")
    assert len(rows) == 4  # registered, its session, two renames
    for row in rows:
        assert row.hash == _documented_hash(row)
        before = await AuditEntry.get(seq=row.seq - 1)
        assert row.prev_hash == before.hash and before.id < row.id
    head = await AuditChainHead.get(id=1)
    last = await AuditEntry.all().order_by("-id").first()
    assert last is not None and (head.last_id, head.last_seq, head.last_hash) == (last.id, last.seq, last.hash)


async def test_the_chain_stays_valid_under_concurrent_writers(api: GraphQLClient, admin: Account) -> None:
    """Orders on one account (its lock), renames and failed logins from several users, all at once, with
    verifications running beside them: every write lands, in one unbroken chain, and nothing deadlocks."""
    users = [await register(api) for _ in range(4)]
    first = await AuditEntry.all().order_by("-id").first()
    start = first.seq if first is not None and first.seq is not None else 0
    async with as_user(api.base_url, users[0]) as trader:
        account = await paper_account(trader)

        async def orders() -> None:
            await asyncio.gather(*(placed(trader, account, quantity="0.001") for _ in range(10)))

        async def renames(user: Account) -> None:
            async with as_user(api.base_url, user) as client:
                results = await asyncio.gather(*(client.query(RENAME, {"n": f"n{i}"}) for i in range(8)))
                assert all(r["updateProfile"]["__typename"] == "UserUpdated" for r in results)

        async def failed_logins() -> None:
            wrong = {"input": {"email": users[1].email, "password": "wrong password 99"}}
            await asyncio.gather(*(api.execute(LOGIN, wrong) for _ in range(5)))

        verifications = asyncio.gather(*(_verify(api, admin) for _ in range(5)))
        await asyncio.gather(orders(), *(renames(u) for u in users[1:]), failed_logins())
        during = await verifications
    assert all(v["ok"] for v in during), during
    after = await _verify(api, admin)
    assert after["ok"] is True and after["firstBreak"] is None
    written = await AuditEntry.filter(seq__gt=start).order_by("id")
    assert len(written) >= 1 + 10 + 3 * 8 + 5  # connect, orders, renames, failed logins
    assert [r.seq for r in written] == list(range(start + 1, start + 1 + len(written)))
    for earlier, later in itertools.pairwise(written):
        assert later.prev_hash == earlier.hash
    assert after["checkedEntries"] >= written[-1].seq


async def _middle_row(api: GraphQLClient) -> tuple[AuditEntry, AuditEntry]:
    """A fresh row with another after it: (the row, the next one in the chain)."""
    someone = await register(api)
    await _rename(someone, api, "target", "after it")
    target, following = await AuditEntry.filter(
        actor_id=_pk(someone.user_id), action="account.update_profile"
    ).order_by("id")
    assert following.seq == target.seq + 1
    return target, following


async def test_an_edited_row_is_named(api: GraphQLClient, admin: Account, server: ServerHandle) -> None:
    target, _ = await _middle_row(api)
    assert (await _verify(api, admin))["ok"] is True
    async with around_the_triggers(server) as conn:
        await conn.execute_query(f"UPDATE audit_log SET outcome = 'DENIED' WHERE id = {target.id}")
    try:
        found = await _verify(api, admin)
        assert found["ok"] is False
        assert found["firstBreak"]["kind"] == "ALTERED"
        assert found["firstBreak"]["entryId"] == to_global_id("AuditEntry", target.id)
        assert found["firstBreak"]["sequence"] == target.seq
        assert found["checkedEntries"] == target.seq - 1
    finally:
        async with around_the_triggers(server) as conn:
            await conn.execute_query(f"UPDATE audit_log SET outcome = 'SUCCESS' WHERE id = {target.id}")
    assert (await _verify(api, admin))["ok"] is True


async def test_a_deleted_row_is_named(api: GraphQLClient, admin: Account, server: ServerHandle) -> None:
    target, following = await _middle_row(api)
    async with around_the_triggers(server) as conn:
        await conn.execute_query(f"DELETE FROM audit_log WHERE id = {target.id}")
    try:
        found = await _verify(api, admin)
        assert found["ok"] is False
        assert found["firstBreak"]["kind"] == "REMOVED"
        assert found["firstBreak"]["sequence"] == target.seq
        assert found["firstBreak"]["entryId"] == to_global_id("AuditEntry", following.id)
    finally:
        async with around_the_triggers(server) as conn:
            await AuditEntry.create(**{f: getattr(target, f) for f in target._meta.db_fields}, using_db=conn)
    assert (await AuditEntry.get(id=target.id)).hash == target.hash
    assert (await _verify(api, admin))["ok"] is True


@pytest.mark.parametrize("followed", [False, True], ids=["at-the-end", "in-the-middle"])
async def test_an_inserted_row_is_named(
    api: GraphQLClient, admin: Account, server: ServerHandle, followed: bool
) -> None:
    someone = await register(api)
    last = await AuditEntry.filter(actor_id=_pk(someone.user_id)).order_by("-id").first()
    assert last is not None
    async with around_the_triggers(server) as conn:
        forged = await AuditEntry.create(
            actor_id=last.actor_id,
            actor_label=last.actor_label,
            action="admin.set_user_role",
            target_type="User",
            target_id=last.target_id,
            outcome="SUCCESS",
            detail={"from": "TRADER", "to": "ADMIN"},
            prev_hash=last.hash,
            hash=last.hash,
            using_db=conn,
        )
    try:
        if followed:
            await _rename(someone, api, "after the forgery")  # a real row appended after the forged one
        found = await _verify(api, admin)
        assert found["ok"] is False
        assert found["firstBreak"]["kind"] == "INSERTED"
        assert found["firstBreak"]["entryId"] == to_global_id("AuditEntry", forged.id)
    finally:
        async with around_the_triggers(server) as conn:
            await conn.execute_query(f"DELETE FROM audit_log WHERE id = {forged.id}")
    assert (await _verify(api, admin))["ok"] is True
