"""GET /exports/audit-log: admins only, authenticated as the API is, the auditLog filter as query parameters,
CSV or JSON lines streamed in batches, each parsed back equal to the auditLog query's pages."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import orjson
import pytest
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.client import GraphQLClient
from graphql_api.exports import EXPORT_BATCH
from graphql_api.pagination import from_global_id
from models.audit import Outcome
from models.identity import User

from .accounts import LOGIN, Account, as_user, register
from .support import ServerHandle

pytestmark = pytest.mark.usefixtures("admin")

AUDIT_LOG = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id sequence at actorId actorLabel action targetType targetId ip requestId outcome detail
      prevHash hash } }
  }
}"""
VERIFY = "{ verifyAuditChain { ok } }"


async def _pages(client: GraphQLClient, filter: dict[str, Any]) -> list[dict[str, Any]]:
    nodes, after = [], None
    while True:
        page = (await client.query(AUDIT_LOG, {"filter": filter, "first": 100, "after": after}))["auditLog"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _export(
    server: ServerHandle, params: dict[str, str], headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[httpx.Response, list[str]]:
    """The response and its body's lines, read as they stream."""
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30, **kwargs) as http,
        http.stream("GET", "/exports/audit-log", params=params, headers=headers) as response,
    ):
        lines = [line async for line in response.aiter_lines()]
    return response, lines


def _from_csv(lines: list[str]) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO("\n".join(lines) + "\n")))
    for row in rows:
        row["sequence"] = int(row["sequence"])
        row["detail"] = json.loads(row["detail"])
        row["actorId"] = row["actorId"] or None
    return rows


async def test_only_admins_export(server: ServerHandle, admin: Account, trader: Account) -> None:
    response, lines = await _export(server, {"format": "csv"})
    assert response.status_code == 401 and json.loads(lines[0])["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response, lines = await _export(server, {"format": "csv"}, trader.headers)
    assert response.status_code == 403 and json.loads(lines[0])["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for params, field in (
        ({"format": "xml"}, "format"),
        ({}, "format"),
        ({"format": "csv", "outcome": "MAYBE"}, "outcome"),
        ({"format": "csv", "from": "yesterday"}, "from"),
        ({"format": "csv", "actor": "garbage"}, "actor"),
        ({"format": "csv", "action": "no.such_action"}, "action"),
        ({"format": "csv", "colour": "red"}, "colour"),
    ):
        response, lines = await _export(server, params, admin.headers)
        error = json.loads(lines[0])["errors"][0]
        assert (response.status_code, error["extensions"]["code"], error["extensions"]["field"]) == (
            400,
            "BAD_USER_INPUT",
            field,
        ), params


async def test_exports_equal_the_audit_log_pages_beyond_one_batch(
    api: GraphQLClient, server: ServerHandle, admin: Account
) -> None:
    someone = await register(api)
    user = await User.get(id=from_global_id(someone.user_id)[1])
    tag = uuid.uuid4().hex
    count = 2 * EXPORT_BATCH + 7
    async with in_transaction() as conn:
        for i in range(count):
            detail = {"i": i, "note": 'naïve, "quoted"\nnew line', "nested": {"b": [1, 2.5], "a": None}}
            await audit.record(
                Action.ACCOUNT_UPDATE_PROFILE,
                Outcome.SUCCESS,
                actor=user,
                target_type="User",
                target_id=tag,
                ip="10.1.2.3",
                detail=detail,
                conn=conn,
            )
    async with as_user(api.base_url, admin) as client:
        expected = await _pages(client, {"targetId": tag})
        assert len(expected) == count
        assert [n["detail"]["i"] for n in expected] == list(range(count - 1, -1, -1))  # newest first
        params = {"targetId": tag, "actor": someone.user_id, "outcome": "SUCCESS"}
        response, lines = await _export(server, {"format": "jsonl", **params}, admin.headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jsonl")
        assert "content-length" not in response.headers  # streamed, not built whole
        assert [orjson.loads(line) for line in lines] == expected
        response, lines = await _export(server, {"format": "csv", **params}, admin.headers)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers
        assert lines[0].split(",")[:3] == ["id", "sequence", "at"]
        assert _from_csv(lines) == expected
        assert (await client.query(VERIFY))["verifyAuditChain"]["ok"] is True


async def test_export_by_cookie_is_audited(api: GraphQLClient, server: ServerHandle, admin: Account) -> None:
    async with GraphQLClient(server.url, keep_cookies=True) as browser:
        signed_in = await browser.query(LOGIN, {"input": {"email": admin.email, "password": admin.password}})
        assert signed_in["login"]["__typename"] == "AuthPayload"
        cookies = dict(browser.http.cookies)
    someone = await register(api)
    response, lines = await _export(server, {"format": "jsonl", "actor": someone.user_id}, cookies=cookies)
    assert response.status_code == 200
    assert [orjson.loads(line)["action"] for line in lines] == ["auth.login", "auth.register"]
    async with as_user(api.base_url, admin) as client:
        exports = await _pages(client, {"action": "audit.export", "actor": admin.user_id})
    assert exports[0]["detail"] == {"format": "jsonl", "actor": someone.user_id}
    assert exports[0]["targetType"] == "AuditLog"
