"""Every HTTP answer is a GraphQL response: refusals of the transport carry an ``extensions.code`` and a
fitting status, every response carries the security headers, and a database outage is a 503 the client
can retry, never a 500 in plain text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tortoise.connection import get_connection

from graphql_api.client import GraphQLClient

from .accounts import register
from .support import LegConfig, ServerHandle, TcpProxy, migrate, own_database, production_sqlite_env, spawn_servers
from .trading import PLACE, paper_account, place

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] is None and len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return {"status": response.status_code, "message": error["message"], "code": error["extensions"]["code"]}


@pytest.fixture
async def http(server: ServerHandle) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def test_transport_refusals_are_graphql_errors_with_a_code(http: httpx.AsyncClient) -> None:
    answer = await http.post("/graphql", content=b"{ instruments { symbol } }", headers={"Content-Type": "text/plain"})
    assert _error(answer) == {"status": 400, "message": "Unsupported content type", "code": "BAD_REQUEST"}

    answer = await http.post("/graphql", json={"variables": {}})
    assert _error(answer) == {"status": 400, "message": "No GraphQL query found in the request", "code": "BAD_REQUEST"}

    answer = await http.get("/graphql", params={"query": "mutation { logout }"})
    assert _error(answer) == {
        "status": 405,
        "message": "mutations are not allowed when using GET",
        "code": "METHOD_NOT_ALLOWED",
    }
    assert answer.headers["allow"] == "POST"

    answer = await http.put("/graphql", json={"query": "{ __typename }"})
    assert _error(answer) == {"status": 405, "message": "Method Not Allowed", "code": "METHOD_NOT_ALLOWED"}
    assert (await http.get("/nowhere")).json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


NOT_AN_OBJECT = "the request body must be a JSON object with a query"
NOT_JSON = "Unable to parse request body as JSON"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"42", NOT_AN_OBJECT),
        (b'"x"', NOT_AN_OBJECT),
        (b"null", NOT_AN_OBJECT),
        (b"true", NOT_AN_OBJECT),
        (b"\xff\xfe{}", NOT_JSON),
        (b'{"query": "\xc3(', NOT_JSON),
    ],
    ids=repr,
)
async def test_a_body_that_is_not_a_json_object_is_a_400_and_the_connection_lives_on(
    http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    answer = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert _error(answer) == {"status": 400, "message": message, "code": "BAD_REQUEST"}
    # The same connection serves the next request.
    follow = await http.post("/graphql", json={"query": "{ __typename }"})
    assert follow.json()["data"] == {"__typename": "Query"}


async def test_syntax_and_validation_errors_carry_their_codes(api: GraphQLClient) -> None:
    body = await api.execute("{ instruments { ")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    body = await api.execute("{ instruments { nope } }")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    body = await api.execute("query($s: [String!]!) { prices(symbols: $s) { price } }")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_every_response_carries_the_security_headers(http: httpx.AsyncClient, server: ServerHandle) -> None:
    answers = [
        await http.post("/graphql", json={"query": "{ __typename }"}),
        await http.post("/graphql", content=b"42", headers={"Content-Type": "application/json"}),
        await http.get("/health"),
        await http.get("/ready"),
        await http.get("/nowhere"),
        await http.post("/graphql", content=b"#" * (server.settings.max_body_bytes + 1)),
    ]
    for answer in answers:
        assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS, answer.url
        # Development serves plain http on localhost: no HSTS there.
        assert "strict-transport-security" not in answer.headers


async def test_production_sends_hsts(tmp_path: Path) -> None:
    env = production_sqlite_env(tmp_path)
    migrate(env)
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready(timeout=120)
        async with httpx.AsyncClient() as client:
            answer = await client.post(proc.url + "/graphql", json={"query": "{ __typename }"})
    assert answer.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


@pytest.mark.legs("postgres")
async def test_a_database_outage_is_a_503_with_retry_after(leg: LegConfig, tmp_path: Path) -> None:
    database = urlsplit(await own_database(leg, tmp_path, "outage"))
    proxy = TcpProxy(database.hostname or "127.0.0.1", database.port or 5432)
    await proxy.start()
    env = leg.env(
        DATABASE_URL=f"postgresql://{database.username}@127.0.0.1:{proxy.port}{database.path}",
        BROADCAST_NAMESPACE="test-outage",
        DATA_DIR=str(tmp_path),
    )
    try:
        async with spawn_servers([env], tmp_path) as (proc,):
            await proc.wait_ready(timeout=120)
            async with GraphQLClient(proc.url) as api:
                account = await register(api)
            await proxy.cut()
            async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
                # Authenticated: the session check itself cannot reach the database.
                answer = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=account.headers)
                assert _error(answer) == {
                    "status": 503,
                    "message": "the database is unavailable; retry later",
                    "code": "SERVICE_UNAVAILABLE",
                }
                assert answer.headers["retry-after"] == "5"
                # Anonymous: the resolver's read fails the same way.
                answer = await client.post("/graphql", json={"query": "{ instruments { symbol } }"})
                assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
                assert [e["extensions"]["code"] for e in answer.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
            await proxy.restore()
            await proc.wait_ready(timeout=30)
            async with GraphQLClient(proc.url, headers=account.headers) as api:
                assert (await api.query("{ me { id } }"))["me"]["id"] == account.user_id
    finally:
        await proxy.cut()


@pytest.mark.legs("postgres")
async def test_an_order_past_its_deadline_is_answered_in_time_and_never_executed(
    leg: LegConfig, tmp_path: Path
) -> None:
    """PostgreSQL goes quiet (reachable, not refusing, not answering) while an order is placed: the client is
    told at its deadline that the order was not executed, and when the database answers again the order
    is indeed nowhere and the cash untouched."""
    database = urlsplit(await own_database(leg, tmp_path, "deadline"))
    proxy = TcpProxy(database.hostname or "127.0.0.1", database.port or 5432)
    await proxy.start()
    # Long enough for sign-up (argon2) on a loaded machine; the paused request must still end at it.
    deadline = 8.0
    env = leg.env(
        DATABASE_URL=f"postgresql://{database.username}@127.0.0.1:{proxy.port}{database.path}",
        BROADCAST_NAMESPACE="test-deadline",
        DATA_DIR=str(tmp_path),
        REQUEST_DEADLINE=str(deadline),
        FEED_ENABLED="false",  # the feed's own statements would hold the paused connections too
    )
    order = {"symbol": "BTC", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000"}
    try:
        async with spawn_servers([env], tmp_path) as (proc,):
            await proc.wait_ready(timeout=120)
            async with GraphQLClient(proc.url) as api:
                account = await register(api)
            async with GraphQLClient(proc.url, headers=account.headers) as api:
                venue_account = await paper_account(api)
                # In time, an order goes through.
                first = await place(api, venue_account, clientOrderId="in-time", **order)
                assert first["__typename"] == "OrderPlaced"

                proxy.pause()
                started = time.monotonic()
                body = await api.execute(
                    PLACE, {"input": {"venueAccountId": venue_account, "clientOrderId": "late", **order}}
                )
                answered = time.monotonic() - started
                assert body == {
                    "data": None,
                    "errors": [
                        {
                            "message": "the request did not complete within its deadline and was not executed; "
                            "it is safe to retry",
                            "extensions": {"code": "DEADLINE_EXCEEDED"},
                        }
                    ],
                }
                assert deadline - 0.5 <= answered < deadline + 4
                proxy.resume()
                await proc.wait_ready(timeout=30)
                orders = await api.query("{ orders(first: 10) { edges { node { clientOrderId } } } }")
                assert [e["node"]["clientOrderId"] for e in orders["orders"]["edges"]] == ["in-time"]
                # Retried with the same idempotency key, it is placed afresh: no earlier order holds the key.
                retry = await place(api, venue_account, clientOrderId="late", **order)
                assert (retry["__typename"], retry["replayed"]) == ("OrderPlaced", False)
    finally:
        proxy.resume()
        await proxy.cut()


@pytest.mark.legs("postgres")
async def test_postgres_connections_bound_statements_locks_and_idle_transactions(server: ServerHandle) -> None:
    rows = await get_connection("default").execute_query_dict(
        "SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock, "
        "current_setting('idle_in_transaction_session_timeout') AS idle"
    )
    assert rows == [{"statement": "30s", "lock": "30s", "idle": "30s"}]
