"""Subscriptions authenticate in connection_init (or by cookie) and lose the stream when the session ends."""

from __future__ import annotations

import time

import jwt
import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.pagination import from_global_id

from .accounts import Account, as_user, login
from .support import TEST_SECRET, ServerHandle

pytestmark = pytest.mark.usefixtures("admin")

TICKS = 'subscription { priceTicks(symbols: ["BTC"]) { sequence } }'


async def _streaming(server: ServerHandle, **kwargs: object) -> GraphQLWSClient:
    client = GraphQLWSClient(server.ws_url, **kwargs)  # type: ignore[arg-type]
    await client.connect()
    sub = await client.subscribe(TICKS)
    assert (await sub.data())["priceTicks"]["sequence"] == 1
    return client


async def test_bad_token_is_closed_with_4403(server: ServerHandle) -> None:
    for params in ({"authorization": "Bearer not-a-token"}, {"authorization": "Basic x"}, {"authorization": 42}):
        client = GraphQLWSClient(server.ws_url, connection_params=params)
        with pytest.raises(ConnectionError):
            await client.connect()
        assert await client.wait_closed(5) == 4403


async def test_revoked_session_closes_the_socket(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    client = await _streaming(server, connection_params={"authorization": f"Bearer {trader.access_token}"})
    async with as_user(api.base_url, trader) as http:
        assert (await http.query("mutation { logout }"))["logout"] is True
    started = time.monotonic()
    assert await client.wait_closed(10) == 4403
    assert time.monotonic() - started < 5
    assert client.close_reason == "session revoked"


async def test_suspension_closes_the_socket(
    server: ServerHandle, api: GraphQLClient, admin: Account, trader: Account
) -> None:
    client = await _streaming(server, connection_params={"authorization": f"Bearer {trader.access_token}"})
    async with as_user(api.base_url, admin) as http:
        await http.query(
            'mutation($id: ID!) { suspendUser(input: {id: $id, reason: "test"}) { __typename } }',
            {"id": trader.user_id},
        )
    assert await client.wait_closed(10) == 4403
    assert client.close_reason == "account suspended"


async def test_expiring_token_closes_the_socket(server: ServerHandle, trader: Account) -> None:
    def pk(global_id: str) -> str:
        return from_global_id(global_id)[1]

    now = int(time.time())
    short = jwt.encode(
        {
            "iss": server.settings.jwt_issuer,
            "aud": server.settings.jwt_audience,
            "sub": pk(trader.user_id),
            "sid": pk(trader.session_id),
            "typ": "access",
            "iat": now,
            "exp": now + 2,
        },
        TEST_SECRET,
        algorithm="HS256",
    )
    client = await _streaming(server, connection_params={"authorization": f"Bearer {short}"})
    assert await client.wait_closed(10) == 4403
    assert client.close_reason == "access token expired"


async def test_cookie_authenticates_a_socket(server: ServerHandle, api: GraphQLClient, trader: Account) -> None:
    signed_in = await login(api, trader.email)
    client = await _streaming(server, headers={"Cookie": f"access_token={signed_in['accessToken']}"})
    async with as_user(api.base_url, signed_in["accessToken"]) as http:
        await http.query("mutation { logout }")
    assert await client.wait_closed(10) == 4403


async def test_anonymous_socket_streams_public_prices(server: ServerHandle) -> None:
    client = await _streaming(server)
    await client.close()
