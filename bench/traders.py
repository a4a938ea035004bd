"""Signed-in users, each with a funded paper account, set up through the API before anything is timed.

Registration hashes the password with argon2 (50-100 ms of server CPU each), so a leg registers its traders
once, as the first measurement needs them, and every later one reuses them. Access tokens live 15 minutes;
a trader's token is exchanged for a fresh one (``refreshToken``, no argon2) once it is TOKEN_REFRESH_AFTER
old, before a measurement starts, never during one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from graphql_api.client import GraphQLClient

from .console import progress
from .server import ServerProcess

PASSWORD = "bench password 42 not secret"
STARTING_BALANCE = "10000000"  # the most a paper account may start with
VENUE = "binance"
# Well inside the server's ACCESS_TOKEN_TTL (900 s), leaving room for the longest measurement.
TOKEN_REFRESH_AFTER = 480.0
# Registrations in flight at once: argon2 runs in the server, which shares 2 cores with the bench.
SETUP_CONCURRENCY = 4

_TOKENS = "accessToken refreshToken user { id role }"
REGISTER = f"""
mutation($input: RegisterInput!) {{
  register(input: $input) {{
    __typename
    ... on AuthPayload {{ {_TOKENS} }}
    ... on RegistrationPending {{ message }}
    ... on UserError {{ message code field }}
  }}
}}"""
REFRESH = f"mutation($t: String) {{ refreshToken(refreshToken: $t) {{ {_TOKENS} }} }}"
CONNECT = """
mutation($input: ConnectVenueInput!) {
  connectVenue(input: $input) {
    __typename
    ... on VenueAccountChanged { account { id } }
    ... on UserError { message code field }
  }
}"""


@dataclass
class Trader:
    email: str
    user_id: str
    role: str
    access_token: str
    refresh_token: str
    issued_at: float  # time.monotonic() when the access token was issued
    account_id: str = ""

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_token}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


def _tokens(payload: dict[str, Any], email: str) -> Trader:
    if payload.get("__typename", "AuthPayload") != "AuthPayload":
        raise RuntimeError(f"signing up {email} did not sign in: {payload}")
    return Trader(
        email=email,
        user_id=payload["user"]["id"],
        role=payload["user"]["role"],
        access_token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
        issued_at=time.monotonic(),
    )


class TraderPool:
    """The leg's traders, registered as they are first needed; ``take(n)`` is always the same first n."""

    def __init__(self, server: ServerProcess, label: str) -> None:
        self._server = server
        self._label = label
        self._run = uuid.uuid4().hex[:8]
        self._traders: list[Trader] = []

    async def take(self, count: int) -> list[Trader]:
        """``count`` traders with a funded paper account each and a token good for TOKEN_REFRESH_AFTER."""
        missing = count - len(self._traders)
        async with GraphQLClient(self._server.url, timeout=60) as api:
            if missing > 0:
                progress(f"    registering {missing} traders with a paper account each (not timed)")
                slots = asyncio.Semaphore(SETUP_CONCURRENCY)
                start = len(self._traders)
                self._traders.extend(
                    await asyncio.gather(*(self._create(api, slots, start + i) for i in range(missing)))
                )
            stale = [t for t in self._traders[:count] if time.monotonic() - t.issued_at > TOKEN_REFRESH_AFTER]
            if stale:
                progress(f"    refreshing {len(stale)} access tokens")
                await asyncio.gather(*(self._refresh(api, t) for t in stale))
        return self._traders[:count]

    async def _create(self, api: GraphQLClient, slots: asyncio.Semaphore, index: int) -> Trader:
        email = f"bench-{self._label}-{self._run}-{index}@example.com"
        async with slots:
            data = await api.query(
                REGISTER, {"input": {"email": email, "password": PASSWORD, "name": f"Bench trader {index}"}}
            )
            trader = _tokens(data["register"], email)
            if trader.role not in ("TRADER", "ADMIN"):
                raise RuntimeError(f"{email} signed up as {trader.role}, which cannot trade")
            async with GraphQLClient(self._server.url, headers=trader.headers, timeout=60) as client:
                connected = (
                    await client.query(
                        CONNECT,
                        {"input": {"venueId": VENUE, "environment": "PAPER", "startingBalance": STARTING_BALANCE}},
                    )
                )["connectVenue"]
        if connected["__typename"] != "VenueAccountChanged":
            raise RuntimeError(f"connecting a paper account for {email} failed: {connected}")
        trader.account_id = connected["account"]["id"]
        return trader

    @staticmethod
    async def _refresh(api: GraphQLClient, trader: Trader) -> None:
        renewed = _tokens((await api.query(REFRESH, {"t": trader.refresh_token}))["refreshToken"], trader.email)
        trader.access_token, trader.refresh_token, trader.issued_at = (
            renewed.access_token,
            renewed.refresh_token,
            renewed.issued_at,
        )
