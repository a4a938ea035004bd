"""Abuse limits, on servers configured with low limits: request categories, guesses of secrets, sockets.

The leg's shared server runs with limits high enough for the rest of the suite (tests/support.py); here
``python -m graphql_api`` processes run with the low values below. On the postgres leg there are two of
them sharing Redis, and requests alternate between them: a bucket is one bucket across processes.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from websockets.exceptions import ConnectionClosed

from graphql_api.client import GraphQLClient, GraphQLWSClient, SubscriptionError

from .accounts import LOGIN, PASSWORD, REGISTER, Account, as_user, register, unique_email
from .support import NAMESPACE, LegConfig, ServerHandle, ServerProcess, migrate, own_database, spawn_servers, wait_until

TIGHT = {
    "RATE_LIMIT_WINDOW": "86400",  # one window for the whole run: no test straddles a window's end
    "RATE_LIMIT_GENERAL": "20",
    "RATE_LIMIT_MARKET_DATA": "4",
    "RATE_LIMIT_AUTH": "3",
    "LOGIN_BACKOFF_BASE": "3",
    "MAX_BODY_BYTES": "2048",
    "MAX_SUBSCRIPTIONS_PER_SOCKET": "2",
    "MAX_SOCKETS_PER_USER": "2",
    "MAX_SOCKETS_PER_IP": "3",
    "WS_MESSAGES_PER_SECOND": "8",
}
TICKS = 'subscription { priceTicks(symbols: ["BTC"]) { sequence } }'


@pytest.fixture(scope="module")
async def tight(leg: LegConfig, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[ServerProcess]]:
    directory = tmp_path_factory.mktemp("tight")
    env = leg.env(
        DATABASE_URL=await own_database(leg, directory, "tight"),
        DATA_DIR=str(directory),
        BROADCAST_NAMESPACE=f"{NAMESPACE}-tight",
        **TIGHT,
    )
    migrate(env)
    async with spawn_servers([env] * (2 if leg.is_postgres else 1), directory) as procs:
        for proc in procs:
            await proc.wait_ready(timeout=90)  # a loaded CI machine starts a process slowly
        # The first account is the ADMIN; made here so that no test's account depends on the order.
        async with GraphQLClient(procs[0].url, headers={"X-Forwarded-For": _address()}) as client:
            await register(client, unique_email("admin"))
        yield procs


def _address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _urls(procs: list[ServerProcess]) -> itertools.cycle[str]:
    return itertools.cycle([p.url for p in procs])


async def _post(url: str, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(url + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


async def test_market_data_is_limited_per_address_with_headers_across_processes(tight: list[ServerProcess]) -> None:
    urls, address = _urls(tight), _address()
    for remaining in (3, 2, 1, 0):
        response = await _post(next(urls), "{ instruments { symbol } }", **{"X-Forwarded-For": address})
        assert response.json()["data"]["instruments"][0]["symbol"] == "BTC"
        assert response.headers["X-RateLimit-Limit"] == "4"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        reset = int(response.headers["X-RateLimit-Reset"])
        assert reset % 86400 == 0  # the end of the current (day-long) window, in epoch seconds
    refused = await _post(next(urls), '{ price(symbol: "BTC") { price } }', **{"X-Forwarded-For": address})
    body = refused.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["category"] == "MARKET_DATA"
    assert error["extensions"]["limit"] == 4
    assert 0 < error["extensions"]["retryAfter"] <= 86400
    assert refused.headers["Retry-After"] == str(error["extensions"]["retryAfter"])
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Another category keeps its own bucket (`node` is general: 20), and so does another address.
    general = await _post(next(urls), '{ node(id: "VXNlcjox") { id } }', **{"X-Forwarded-For": address})
    assert general.headers["X-RateLimit-Limit"] == "20"
    assert general.headers["X-RateLimit-Remaining"] == "19"
    other = await _post(next(urls), "{ instruments { symbol } }", **{"X-Forwarded-For": _address()})
    assert other.headers["X-RateLimit-Remaining"] == "3"


async def test_signed_in_callers_are_limited_per_user(tight: list[ServerProcess]) -> None:
    urls = _urls(tight)
    async with GraphQLClient(tight[0].url, headers={"X-Forwarded-For": _address()}) as client:
        user = await register(client)
    for _ in range(4):
        address = _address()  # a new address for every call: the bucket is the user's
        response = await _post(next(urls), "{ instruments { symbol } }", **user.headers, **{"X-Forwarded-For": address})
        assert "errors" not in response.json()
    refused = await _post(next(urls), "{ instruments { symbol } }", **user.headers, **{"X-Forwarded-For": _address()})
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_register_is_limited_per_address(tight: list[ServerProcess]) -> None:
    urls, address = _urls(tight), _address()
    emails = [unique_email("burst") for _ in range(4)]
    answers = []
    for email in emails:
        response = await _post(
            next(urls),
            REGISTER,
            {"input": {"email": email, "password": PASSWORD, "name": "Burst"}},
            **{"X-Forwarded-For": address},
        )
        answers.append(response.json())
    assert [a["data"]["register"]["__typename"] for a in answers[:3]] == ["AuthPayload"] * 3
    assert answers[3]["data"] is None
    assert answers[3]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert answers[3]["errors"][0]["extensions"]["category"] == "AUTH"
    # Refused before any work: the fourth account does not exist (its login is an unknown email).
    response = await _post(
        next(urls), LOGIN, {"input": {"email": emails[3], "password": PASSWORD}}, **{"X-Forwarded-For": _address()}
    )
    assert response.json()["data"]["login"]["__typename"] == "InvalidCredentials"


async def test_concurrent_wrong_passwords_from_rotating_addresses_are_reserved_before_checking(
    tight: list[ServerProcess],
) -> None:
    urls = _urls(tight)
    async with GraphQLClient(tight[0].url, headers={"X-Forwarded-For": _address()}) as client:
        victim = await register(client)
    prefix = f"10.{random.randrange(256)}"
    addresses = [f"{prefix}.{i // 250}.{i % 250 + 1}" for i in range(100)]

    async def guess(i: int) -> dict[str, Any]:
        response = await _post(
            next(urls),
            LOGIN,
            {"input": {"email": victim.email, "password": f"wrong guess {i:04d}"}},
            **{"X-Forwarded-For": addresses[i]},
        )
        body: dict[str, Any] = response.json()
        return body

    answers = await asyncio.gather(*(guess(i) for i in range(100)))
    outcomes = sorted(
        a["data"]["login"]["__typename"] if a.get("data") else a["errors"][0]["extensions"]["code"] for a in answers
    )
    # LOGIN_FAILURES_PER_ACCOUNT (5) guesses were checked, whatever address each came from; 95 never were.
    assert outcomes == ["InvalidCredentials"] * 5 + ["RATE_LIMITED"] * 95
    refused = [a["errors"][0]["extensions"]["retryAfter"] for a in answers if not a.get("data")]
    assert all(wait >= 1 for wait in refused)

    # The right password is accepted once the back-off (LOGIN_BACKOFF_BASE, 3 s) has run: back-off, not a
    # lock a stranger could hold. (That it is refused during the back-off: test_identity and below.)
    async def accepted() -> bool:
        response = await _post(
            next(urls),
            LOGIN,
            {"input": {"email": victim.email, "password": PASSWORD}},
            **{"X-Forwarded-For": _address()},
        )
        return bool(response.json().get("data")) and response.json()["data"]["login"]["__typename"] == "AuthPayload"

    await wait_until(accepted, timeout=15, interval=0.5)


async def test_the_address_is_the_hop_the_trusted_proxy_appended(tight: list[ServerProcess]) -> None:
    """A client behind the trusted proxy (loopback) writes any X-Forwarded-For it likes; the proxy appends
    the address it saw. Only that last hop counts, so rotating the rest changes nothing."""
    urls, real = _urls(tight), _address()
    codes = []
    for i in range(4):
        response = await _post(
            next(urls),
            LOGIN,
            {"input": {"email": unique_email("spray"), "password": "whatever 12345"}},
            **{"X-Forwarded-For": f"203.0.113.{i + 1}, {real}"},
        )
        body = response.json()
        codes.append(
            body["data"]["login"]["__typename"] if body.get("data") else body["errors"][0]["extensions"]["code"]
        )
    assert codes == ["InvalidCredentials"] * 3 + ["RATE_LIMITED"]  # RATE_LIMIT_AUTH is 3 per address


CHANGE = (
    'mutation($c: String!) { changePassword(input: {currentPassword: $c, newPassword: "another pass 123"}) '
    "{ __typename ... on UserError { code } } }"
)
DISABLE = "mutation($c: String!) { disableTwoFactor(code: $c) { __typename ... on UserError { code } } }"
ENABLE = "mutation { enableTwoFactor { ... on TwoFactorSetup { secret } } }"
CONFIRM = "mutation($c: String!) { confirmTwoFactor(code: $c) { __typename } }"


async def _guesses(url: str, user: Account, query: str, count: int) -> list[str]:
    outcomes = []
    async with as_user(url, user, **{"X-Forwarded-For": _address()}) as client:
        for i in range(count):
            body = await client.execute(query, {"c": f"{i:06d}" if "Two" in query else f"not my password {i}"})
            if body.get("data"):
                outcomes.append(next(iter(body["data"].values()))["code"])
            else:
                error = body["errors"][0]["extensions"]
                outcomes.append(f"{error['code']} {error['retryAfter']}")
    return outcomes


async def test_change_password_and_disable_two_factor_guesses_back_off(tight: list[ServerProcess]) -> None:
    async with GraphQLClient(tight[0].url, headers={"X-Forwarded-For": _address()}) as client:
        user = await register(client)
    assert await _guesses(tight[-1].url, user, CHANGE, 6) == ["INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED 3"]

    async with as_user(tight[0].url, user, **{"X-Forwarded-For": _address()}) as client:
        secret = (await client.query(ENABLE))["enableTwoFactor"]["secret"]
        assert (await client.query(CONFIRM, {"c": pyotp.TOTP(secret).now()}))["confirmTwoFactor"]["__typename"] == (
            "UserUpdated"
        )
    codes = {pyotp.TOTP(secret).at(time.time() + offset) for offset in (-30, 0, 30, 60)}
    assert not codes & {f"{i:06d}" for i in range(6)}, "a guess happens to be a valid code; run again"
    assert await _guesses(tight[-1].url, user, DISABLE, 6) == ["INVALID_TWO_FACTOR_CODE"] * 5 + ["RATE_LIMITED 3"]


# --- WebSockets ---------------------------------------------------------------------------------------------


async def test_a_message_over_the_body_limit_closes_the_socket(server: ServerHandle) -> None:
    """The shared server's uvicorn has no frame limit of its own: the application enforces MAX_BODY_BYTES."""
    async with GraphQLWSClient(server.ws_url) as client:
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": "#" * 1_500_000 + TICKS}})
        assert await client.wait_closed(10) == 1009


async def test_a_message_over_the_body_limit_is_refused_by_the_server_process(tight: list[ServerProcess]) -> None:
    async with GraphQLWSClient(tight[0].ws_url) as client:
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": "#" * 4096 + TICKS}})
        assert await client.wait_closed(10) == 1009


async def test_subscriptions_per_socket_are_capped(tight: list[ServerProcess]) -> None:
    async with GraphQLWSClient(tight[0].ws_url, headers={"X-Forwarded-For": _address()}) as client:
        first = await client.subscribe(TICKS)
        second = await client.subscribe(TICKS)
        assert (await first.data())["priceTicks"]["sequence"] == 1
        assert (await second.data())["priceTicks"]["sequence"] == 1
        third = await client.subscribe(TICKS)
        with pytest.raises(SubscriptionError) as refused:
            await third.next(timeout=10)
        assert refused.value.errors[0]["extensions"] == {"code": "SUBSCRIPTION_LIMIT_EXCEEDED", "limit": 2}
        await first.stop()
        fourth = await client.subscribe(TICKS)
        assert (await fourth.data())["priceTicks"]["sequence"] == 1


async def test_sockets_per_user_and_per_address_are_capped(tight: list[ServerProcess]) -> None:
    async with GraphQLClient(tight[0].url, headers={"X-Forwarded-For": _address()}) as client:
        user = await register(client)
    params = {"authorization": f"Bearer {user.access_token}"}
    # Sockets are counted by the process that holds them (a socket lives in one process).
    sockets = [
        GraphQLWSClient(tight[0].ws_url, connection_params=params, headers={"X-Forwarded-For": _address()})
        for _ in range(2)
    ]
    extra = GraphQLWSClient(tight[0].ws_url, connection_params=params, headers={"X-Forwarded-For": _address()})
    address = _address()
    anonymous = [GraphQLWSClient(tight[0].ws_url, headers={"X-Forwarded-For": address}) for _ in range(4)]
    try:
        for socket in sockets:
            await socket.connect()
        # A third socket of the same user, from yet another address, is closed with 4429 once it authenticates.
        with pytest.raises((ConnectionError, ConnectionClosed)):
            await extra.connect()
        assert await extra.wait_closed(5) == 4429
        assert extra.close_reason == "at most 2 sockets per user"
        for socket in anonymous[:3]:
            await socket.connect()
        with pytest.raises((ConnectionError, ConnectionClosed)):
            await anonymous[3].connect()
        assert await anonymous[3].wait_closed(5) == 4429
        assert anonymous[3].close_reason == "at most 3 sockets per client address"
        # A socket that ends frees its place.
        await anonymous[0].close()

        async def admitted() -> bool:
            replacement = GraphQLWSClient(tight[0].ws_url, headers={"X-Forwarded-For": address})
            try:
                await replacement.connect()
            except (ConnectionError, ConnectionClosed):
                return False
            finally:
                await replacement.close()
            return True

        await wait_until(admitted, timeout=10, interval=0.2)
    finally:
        for socket in [*sockets, extra, *anonymous]:
            await socket.close()


async def test_too_many_messages_a_second_close_the_socket(tight: list[ServerProcess]) -> None:
    async with GraphQLWSClient(tight[0].ws_url, headers={"X-Forwarded-For": _address()}) as client:
        for _ in range(30):
            await client.send({"type": "ping"})
            if client.closed.is_set():
                break
        assert await client.wait_closed(10) == 4429
        assert client.close_reason == "more than 8 messages a second"
