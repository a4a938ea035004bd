"""Helpers for tests that need users: GraphQL documents, sign-up and sign-in through the real API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from graphql_api.client import GraphQLClient

PASSWORD = "correct horse 42 battery"

AUTH_FIELDS = """
  accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt tokenType
  user { id email name role status walletAddress twoFactorEnabled referralCode }
  session { id method device current }
"""

REGISTER = f"""
mutation($input: RegisterInput!) {{
  register(input: $input) {{
    __typename
    ... on AuthPayload {{ {AUTH_FIELDS} }}
    ... on RegistrationPending {{ message email }}
    ... on UserError {{ message code field }}
  }}
}}"""

LOGIN = f"""
mutation($input: LoginInput!) {{
  login(input: $input) {{
    __typename
    ... on AuthPayload {{ {AUTH_FIELDS} }}
    ... on AccountNotActive {{ status }}
    ... on UserError {{ message code field }}
  }}
}}"""

REFRESH = f"mutation($t: String) {{ refreshToken(refreshToken: $t) {{ {AUTH_FIELDS} }} }}"
ME = "{ me { id email name role status twoFactorEnabled timezone language referralCode } }"

_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"


@dataclass
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str
    session_id: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def account_from(payload: dict[str, Any], email: str, password: str) -> Account:
    assert payload["__typename"] == "AuthPayload", payload
    return Account(
        email=email,
        password=password,
        access_token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
        user_id=payload["user"]["id"],
        session_id=payload["session"]["id"],
        role=payload["user"]["role"],
    )


async def register(
    api: GraphQLClient,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "Test User",
    referral_code: str | None = None,
) -> Account:
    email = email or unique_email()
    fields = {"email": email, "password": password, "name": name}
    if referral_code is not None:
        fields["referralCode"] = referral_code
    data = await api.query(REGISTER, {"input": fields})
    return account_from(data["register"], email, password)


async def login(api: GraphQLClient, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    data = await api.query(LOGIN, {"input": {"email": email, "password": password, **extra}})
    result: dict[str, Any] = data["login"]
    return result


def as_user(base_url: str, account: Account | str, **headers: str) -> GraphQLClient:
    token = account if isinstance(account, str) else account.access_token
    return GraphQLClient(base_url, headers={"Authorization": f"Bearer {token}", **headers})


def error_code(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    assert errors, f"expected an error, got {body}"
    code: str = errors[0]["extensions"]["code"]
    return code
