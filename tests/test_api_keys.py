"""API keys: made with a secret shown once and stored as its SHA-256, listed, revoked; usable as
`Authorization: ApiKey <secret>` over HTTP and in a socket's connection_init, with READ running queries and
subscriptions, TRADE the trading mutations, the IP allow-list and the expiry enforced, and a revocation
refused at once and closing the key's sockets."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLResponseError, GraphQLWSClient, SubscriptionError
from graphql_api.pagination import to_global_id
from models.apikeys import ApiKey as ApiKeyRow
from models.audit import AuditEntry

from .accounts import Account, as_user, error_code
from .compliance_support import pk
from .support import ServerHandle, wait_until
from .trading import PLACE, paper_account

pytestmark = pytest.mark.usefixtures("admin")

CREATE = """mutation($n: String!, $s: [ApiKeyScope!]!, $ips: [String!], $exp: DateTime) {
  createApiKey(name: $n, scopes: $s, ipAllowList: $ips, expiresAt: $exp) { __typename
    ... on ApiKeyCreated { secret apiKey { id name prefix scopes ipAllowList expiresAt active revokedAt } }
    ... on UserError { code field } } }"""
REVOKE = """mutation($id: ID!) { revokeApiKey(id: $id) { __typename ... on ApiKeyRevoked { apiKey { active revokedAt } }
  ... on UserError { code field } } }"""
LIST = "{ apiKeys { id name prefix scopes active lastUsedAt } }"
ME = "{ me { id email } }"
STREAM = "subscription { alertRaised { sequence snapshot } }"


async def _key(client: GraphQLClient, name: str, scopes: list[str], **extra: Any) -> tuple[str, str]:
    made = (await client.query(CREATE, {"n": name, "s": scopes, **extra}))["createApiKey"]
    assert made["__typename"] == "ApiKeyCreated", made
    return made["apiKey"]["id"], made["secret"]


def _with_key(server: ServerHandle, secret: str, address: str = "10.20.30.40") -> GraphQLClient:
    return GraphQLClient(server.url, headers={"Authorization": f"ApiKey {secret}", "X-Forwarded-For": address})


async def test_a_key_is_shown_once_stored_hashed_and_scoped(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as owner:
        account = await paper_account(owner)
        made = (await owner.query(CREATE, {"n": " reader ", "s": ["READ"]}))["createApiKey"]
        reader_id, reader = made["apiKey"]["id"], made["secret"]
        assert made["apiKey"]["name"] == "reader" and made["apiKey"]["scopes"] == ["READ"]
        assert made["apiKey"]["prefix"] == reader[:12] and made["apiKey"]["active"] is True
        row = await ApiKeyRow.get(id=pk(reader_id))
        assert row.key_hash == hashlib.sha256(reader.encode()).hexdigest()
        assert reader not in str({k: getattr(row, k) for k in row._meta.fields_map})
        listed = (await owner.query(LIST))["apiKeys"]
        assert [(k["id"], k["prefix"]) for k in listed] == [(reader_id, reader[:12])]
        assert "secret" not in listed[0]
        _, trader_key = await _key(owner, "bot", ["READ", "TRADE"])
        _, trade_only = await _key(owner, "trade only", ["TRADE"])

    order = {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    async with _with_key(server, reader) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email
        refused = await client.execute(PLACE, {"input": order})
        assert error_code(refused) == "FORBIDDEN"
        assert refused["errors"][0]["message"] == "this API key lacks the TRADE scope"
        minted = await client.execute(CREATE, {"n": "more", "s": ["READ"]})
        assert error_code(minted) == "FORBIDDEN"
        assert minted["errors"][0]["message"] == "createApiKey cannot be called with an API key"
    async with _with_key(server, trader_key) as client:
        placed = (await client.query(PLACE, {"input": order}))["placeOrder"]
        assert (placed["__typename"], placed["order"]["status"]) == ("OrderPlaced", "FILLED")
        assert (await client.query(ME))["me"]["email"] == trader.email
        logout = await client.execute("mutation { logout }")
        assert error_code(logout) == "FORBIDDEN"
    async with _with_key(server, trade_only) as client:
        assert (await client.query(PLACE, {"input": order}))["placeOrder"]["__typename"] == "OrderPlaced"
        read = await client.execute(ME)
        assert error_code(read) == "FORBIDDEN"
        assert read["errors"][0]["message"] == "this API key lacks the READ scope"
    async with _with_key(server, "tak_not-a-key") as client:
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"
    async with as_user(api.base_url, trader) as owner:
        used = {k["name"]: k["lastUsedAt"] for k in (await owner.query(LIST))["apiKeys"]}
        assert used["reader"] is not None and used["bot"] is not None


async def test_allow_list_and_expiry_are_enforced(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as owner:
        _, office = await _key(owner, "office", ["READ"], ips=["10.1.2.0/24", "192.0.2.7"])
        key_id, expiring = await _key(
            owner, "expiring", ["READ"], exp=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
        )
    for address, allowed in [("10.1.2.3", True), ("10.1.2.254", True), ("192.0.2.7", True), ("10.1.3.1", False)]:
        async with _with_key(server, office, address) as client:
            body = await client.execute(ME)
            if allowed:
                assert body["data"]["me"]["email"] == trader.email, address
            else:
                assert error_code(body) == "UNAUTHENTICATED"
                assert body["errors"][0]["message"] == "this API key may not be used from this address"
    async with _with_key(server, expiring) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email
        await ApiKeyRow.filter(id=pk(key_id)).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

        async def refused() -> bool:
            body = await client.execute(ME)
            return bool(body.get("errors")) and body["errors"][0]["message"] == "API key expired"

        # A key is read again at most one cache ttl (a second) after it was last read.
        await wait_until(refused, timeout=3, interval=0.1)


async def test_revocation_refuses_at_once_and_closes_sockets(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as owner:
        key_id, secret = await _key(owner, "streamer", ["READ"])
        socket = GraphQLWSClient(server.ws_url, connection_params={"authorization": f"ApiKey {secret}"})
        await socket.connect()
        sub = await socket.subscribe(STREAM)
        assert (await sub.data())["alertRaised"] == {"sequence": 1, "snapshot": True}
        async with _with_key(server, secret) as client:
            assert (await client.query(ME))["me"]["email"] == trader.email
            revoked = (await owner.query(REVOKE, {"id": key_id}))["revokeApiKey"]
            started = time.monotonic()
            assert revoked["__typename"] == "ApiKeyRevoked" and revoked["apiKey"]["active"] is False
            with pytest.raises(GraphQLResponseError):
                await client.query(ME)
            assert (await client.execute(ME))["errors"][0]["message"] == "API key revoked"
        assert await socket.wait_closed(1) == 4403
        assert time.monotonic() - started < 1
        assert socket.close_reason == "API key revoked"
        await socket.close()
        again = await owner.query(REVOKE, {"id": to_global_id("ApiKey", "00000000-0000-0000-0000-000000000000")})
        assert (again["revokeApiKey"]["__typename"], again["revokeApiKey"]["field"]) == ("NotFound", "id")
    rows = AuditEntry.filter(actor_id=pk(trader.user_id), action__in=["api_key.create", "api_key.revoke"])
    assert sorted(await rows.values_list("action", "outcome")) == [
        ("api_key.create", "SUCCESS"),
        ("api_key.revoke", "DENIED"),
        ("api_key.revoke", "SUCCESS"),
    ]


async def test_a_socket_with_a_key_needs_read(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as owner:
        _, secret = await _key(owner, "trade only", ["TRADE"])
    async with GraphQLWSClient(server.ws_url, connection_params={"authorization": f"ApiKey {secret}"}) as socket:
        sub = await socket.subscribe(STREAM)
        with pytest.raises(SubscriptionError) as refused:
            await sub.data()
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
        assert refused.value.errors[0]["message"] == "this API key lacks the READ scope"


async def test_key_input_is_checked(api: GraphQLClient, trader: Account) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    async with as_user(api.base_url, trader) as owner:
        for variables, field in [
            ({"n": "  ", "s": ["READ"]}, "name"),
            ({"n": "k", "s": []}, "scopes"),
            ({"n": "k", "s": ["READ"], "ips": ["10.0.0.1", "not-an-ip"]}, "ipAllowList.1"),
            ({"n": "k", "s": ["READ"], "exp": past}, "expiresAt"),
        ]:
            refused = (await owner.query(CREATE, variables))["createApiKey"]
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)
        assert (await owner.query(LIST))["apiKeys"] == []
