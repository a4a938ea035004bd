"""Admin user management, role checks, the audit log, and approval-mode registration."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncpg.exceptions import RaiseError
from tortoise import connections
from tortoise.exceptions import OperationalError

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry

from .accounts import REGISTER, Account, as_user, error_code, login, register, unique_email
from .support import LegConfig, ServerHandle, own_database, spawn_servers

pytestmark = pytest.mark.usefixtures("admin")

USERS = """
query($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id email role status } }
  }
}"""
ADMIN_RESULT = "__typename ... on UserUpdated { user { id role status } } ... on UserError { code field message }"
SUSPEND = f"mutation($id: ID!, $r: String!) {{ suspendUser(input: {{id: $id, reason: $r}}) {{ {ADMIN_RESULT} }} }}"
APPROVE = f"mutation($id: ID!) {{ approveUser(id: $id) {{ {ADMIN_RESULT} }} }}"
SET_ROLE = f"mutation($id: ID!, $role: Role!) {{ setUserRole(input: {{id: $id, role: $role}}) {{ {ADMIN_RESULT} }} }}"
DELETE = "mutation($id: ID!) { deleteUser(id: $id) { __typename ... on UserDeleted { id } ... on UserError { code } } }"
STATS = "{ adminStats { totalUsers activeSessions byRole { role count } byStatus { status count } } }"


async def test_non_admins_are_refused_admin_fields(api: GraphQLClient, trader: Account) -> None:
    assert error_code(await api.execute(STATS)) == "UNAUTHENTICATED"
    async with as_user(api.base_url, trader) as client:
        for document, variables in (
            (STATS, {}),
            (USERS, {}),
            (SUSPEND, {"id": trader.user_id, "r": "x"}),
            (SET_ROLE, {"id": trader.user_id, "role": "ADMIN"}),
        ):
            body = await client.execute(document, variables)
            assert error_code(body) == "FORBIDDEN", document
    assert (await login(api, trader.email))["user"]["role"] == "TRADER"  # nothing changed


async def test_users_paginate_with_keyset_cursors_and_filters(api: GraphQLClient, admin: Account) -> None:
    tag = unique_email("page").split("@")[0]
    made = [await register(api, f"{tag}-{i}@example.com") for i in range(5)]
    async with as_user(api.base_url, admin) as client:
        search = {"search": tag}
        first = (await client.query(USERS, {"filter": search, "first": 2}))["users"]
        assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] is True
        seen = [e["node"]["email"] for e in first["edges"]]
        after = first["pageInfo"]["endCursor"]
        while after:
            page = (await client.query(USERS, {"filter": search, "first": 2, "after": after}))["users"]
            assert page["pageInfo"]["hasPreviousPage"] is True
            seen += [e["node"]["email"] for e in page["edges"]]
            after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
        assert seen == [a.email for a in reversed(made)]  # newest first, each exactly once
        too_many = await client.execute(USERS, {"first": 10_000})
        assert error_code(too_many) == "BAD_USER_INPUT"
        assert too_many["errors"][0]["extensions"]["field"] == "first"
        bad_cursor = await client.execute(USERS, {"after": "garbage"})
        assert bad_cursor["errors"][0]["extensions"]["field"] == "after"
        admins = (await client.query(USERS, {"filter": {"role": "ADMIN"}}))["users"]
        assert {e["node"]["role"] for e in admins["edges"]} == {"ADMIN"}


async def test_suspend_blocks_sign_in_and_approve_reinstates(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    async with as_user(api.base_url, admin) as client:
        empty_reason = (await client.query(SUSPEND, {"id": trader.user_id, "r": " "}))["suspendUser"]
        assert empty_reason["field"] == "reason"
        done = (await client.query(SUSPEND, {"id": trader.user_id, "r": "fraud review"}))["suspendUser"]
        assert done["user"]["status"] == "SUSPENDED"
    async with as_user(api.base_url, trader) as client:
        body = await client.execute("{ me { id } }")
        assert error_code(body) == "UNAUTHENTICATED" and "suspended" in body["errors"][0]["message"]
    refused = await login(api, trader.email)
    assert (refused["__typename"], refused["code"], refused["status"]) == (
        "AccountNotActive",
        "ACCOUNT_SUSPENDED",
        "SUSPENDED",
    )
    async with as_user(api.base_url, admin) as client:
        back = (await client.query(APPROVE, {"id": trader.user_id}))["approveUser"]
        assert back["user"]["status"] == "ACTIVE"
        again = (await client.query(APPROVE, {"id": trader.user_id}))["approveUser"]
        assert again["code"] == "ALREADY_ACTIVE"
    assert (await login(api, trader.email))["__typename"] == "AuthPayload"
    actions = await AuditEntry.filter(target_id=_pk(trader.user_id)).values_list("action", flat=True)
    assert {"admin.suspend_user", "admin.approve_user"} <= set(actions)


async def test_roles_change_and_the_last_admin_stays(api: GraphQLClient, admin: Account, trader: Account) -> None:
    async with as_user(api.base_url, admin) as client:
        viewer = (await client.query(SET_ROLE, {"id": trader.user_id, "role": "VIEWER"}))["setUserRole"]
        assert viewer["user"]["role"] == "VIEWER"
        stats = (await client.query(STATS))["adminStats"]
        admins = next(r["count"] for r in stats["byRole"] if r["role"] == "ADMIN")
        if admins == 1:
            last = (await client.query(SET_ROLE, {"id": admin.user_id, "role": "TRADER"}))["setUserRole"]
            assert last["code"] == "LAST_ADMIN"
            assert (await client.query(DELETE, {"id": admin.user_id}))["deleteUser"]["code"] == "LAST_ADMIN"
            assert (await client.query(SUSPEND, {"id": admin.user_id, "r": "x"}))["suspendUser"]["code"] == "LAST_ADMIN"
        # With a second admin, the first may step down; then the second may not.
        promoted = (await client.query(SET_ROLE, {"id": trader.user_id, "role": "ADMIN"}))["setUserRole"]
        assert promoted["user"]["role"] == "ADMIN"
    audit = await AuditEntry.filter(action="admin.set_user_role", target_id=_pk(trader.user_id)).order_by("id")
    assert [e.detail for e in audit][-2:] == [{"from": "TRADER", "to": "VIEWER"}, {"from": "VIEWER", "to": "ADMIN"}]
    async with as_user(api.base_url, trader) as client:
        # The demoted/promoted user's token still works; permissions follow the stored role at once.
        assert (await client.query(STATS))["adminStats"]["totalUsers"] >= 2
        restored = (await client.query(SET_ROLE, {"id": trader.user_id, "role": "TRADER"}))["setUserRole"]
        assert restored["user"]["role"] == "TRADER"


async def test_delete_user_and_unknown_ids(api: GraphQLClient, admin: Account) -> None:
    doomed = await register(api)
    async with as_user(api.base_url, admin) as client:
        gone = (await client.query(DELETE, {"id": doomed.user_id}))["deleteUser"]
        assert gone == {"__typename": "UserDeleted", "id": doomed.user_id}
        assert (await client.query(DELETE, {"id": doomed.user_id}))["deleteUser"]["code"] == "NOT_FOUND"
        assert (await client.query("query($id: ID!) { user(id: $id) { id } }", {"id": doomed.user_id}))["user"] is None
        body = await client.execute(DELETE, {"id": "not-an-id"})
        assert error_code(body) == "BAD_USER_INPUT"
        body = await client.execute(DELETE, {"id": doomed.session_id})  # a Session ID where a User ID belongs
        assert error_code(body) == "BAD_USER_INPUT"
    async with as_user(api.base_url, doomed) as client:
        assert error_code(await client.execute("{ me { id } }")) == "UNAUTHENTICATED"


async def test_admin_stats(api: GraphQLClient, admin: Account) -> None:
    await register(api)
    async with as_user(api.base_url, admin) as client:
        stats = (await client.query(STATS))["adminStats"]
    assert stats["totalUsers"] == sum(r["count"] for r in stats["byRole"]) == sum(s["count"] for s in stats["byStatus"])
    assert stats["activeSessions"] >= 2
    assert {r["role"] for r in stats["byRole"]} == {"ADMIN", "TRADER", "VIEWER"}


async def test_audit_log_is_append_only(admin: Account, server: ServerHandle) -> None:
    entry = await AuditEntry.filter(action="auth.register").first()
    assert entry is not None
    conn = connections.get("default")
    # The trigger's refusal: SQLite's RAISE as tortoise reports it, PostgreSQL's RAISE EXCEPTION as asyncpg does.
    refused = OperationalError if server.settings.is_sqlite else RaiseError
    with pytest.raises(refused, match="append-only"):
        await conn.execute_query(f"UPDATE audit_log SET action = 'forged' WHERE id = {entry.id}")
    with pytest.raises(refused, match="append-only"):
        await conn.execute_query(f"DELETE FROM audit_log WHERE id = {entry.id}")
    assert (await AuditEntry.get(id=entry.id)).action == "auth.register"


async def test_approval_mode_holds_new_accounts_until_approved(leg: LegConfig, tmp_path: Path) -> None:
    """A server in approval mode (the production default) on its own database."""
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "approval"),
        BROADCAST_NAMESPACE="test-approval",
        DATA_DIR=str(tmp_path),
        REGISTRATION_MODE="approval",
        FEED_ENABLED="false",
    )
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready()
        async with GraphQLClient(proc.url) as api:
            first = await register(api, "boss@example.com")
            assert first.role == "ADMIN"  # the very first account is never held
            email = unique_email("held")
            held = await api.query(REGISTER, {"input": {"email": email, "password": "waiting list 1234", "name": "H"}})
            assert held["register"]["__typename"] == "RegistrationPending"
            refused = await login(api, email, "waiting list 1234")
            assert (refused["__typename"], refused["code"]) == ("AccountNotActive", "ACCOUNT_PENDING")
            async with as_user(proc.url, first) as boss:
                pending = (await boss.query(USERS, {"filter": {"status": "PENDING"}}))["users"]
                (edge,) = pending["edges"]
                assert edge["node"]["email"] == email
                approved = (await boss.query(APPROVE, {"id": edge["node"]["id"]}))["approveUser"]
                assert approved["user"]["status"] == "ACTIVE"
            assert (await login(api, email, "waiting list 1234"))["__typename"] == "AuthPayload"


def _pk(global_id: str) -> str:
    return from_global_id(global_id)[1]
