"""Accounts, password + TOTP sign-in, tokens and sessions, through the real API on both legs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
import pytest

from graphql_api.auth import SESSIONS as SESSION_CACHE
from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry
from models.identity import Session as SessionRow
from models.identity import User

from .accounts import (
    LOGIN,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    Account,
    as_user,
    error_code,
    login,
    register,
    unique_email,
)
from .support import TEST_SECRET, ServerHandle, wait_until

pytestmark = pytest.mark.usefixtures("admin")


async def test_first_account_is_admin_and_later_ones_traders(api: GraphQLClient, admin: Account) -> None:
    assert admin.role == "ADMIN"
    later = await register(api)
    assert later.role == "TRADER"
    async with as_user(api.base_url, later) as client:
        me = (await client.query(ME))["me"]
    assert me["email"] == later.email and me["status"] == "ACTIVE" and me["role"] == "TRADER"
    assert len(me["referralCode"]) == 8


@pytest.mark.parametrize(
    ("email", "password", "name", "field", "fragment"),
    [
        ("not-an-email", PASSWORD, "N", "email", "valid address"),
        ("{u}", "short1", "N", "password", "at least 10"),
        ("{u}", "nodigitsinhere", "N", "password", "letter and one digit"),
        ("{u}", "x" * 129 + "1", "N", "password", "at most 128"),
        ("{u}", PASSWORD, "   ", "name", "1 to 100"),
    ],
)
async def test_registration_input_is_validated_and_nothing_is_created(
    api: GraphQLClient, email: str, password: str, name: str, field: str, fragment: str
) -> None:
    address = unique_email() if email == "{u}" else email
    before = await User.all().count()
    data = await api.query(REGISTER, {"input": {"email": address, "password": password, "name": name}})
    result = data["register"]
    assert result["__typename"] == "InvalidInput"
    assert result["field"] == field and fragment in result["message"]
    assert await User.all().count() == before


async def test_email_is_normalised_and_unique(api: GraphQLClient) -> None:
    email = unique_email("Case")
    account = await register(api, email.upper())
    assert account.email == email.upper()
    again = await api.query(REGISTER, {"input": {"email": f"  {email}  ", "password": PASSWORD, "name": "X"}})
    assert again["register"]["code"] == "EMAIL_TAKEN" and again["register"]["field"] == "email"
    signed_in = await login(api, email.upper())
    assert signed_in["__typename"] == "AuthPayload"
    assert signed_in["user"]["email"] == email.lower()


async def test_wrong_password_and_unknown_email_look_the_same(api: GraphQLClient, trader: Account) -> None:
    wrong = await login(
        api,
        trader.email,
        "wrong password 123",
    )
    unknown = await login(api, unique_email("ghost"), PASSWORD)
    assert wrong["__typename"] == unknown["__typename"] == "InvalidCredentials"
    assert wrong["message"] == unknown["message"]
    failures = await AuditEntry.filter(action="auth.login", outcome="FAILURE", actor_label=trader.email).count()
    assert failures == 1


async def test_password_hash_is_argon2(trader: Account) -> None:
    user = await User.get(email=trader.email)
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_brute_force_across_aliases_in_one_request_counts_every_attempt(
    server: ServerHandle, admin: Account
) -> None:
    async with GraphQLClient(server.url, headers={"X-Forwarded-For": "203.0.113.7"}) as api:
        victim = await register(api)
        limit = server.settings.login_failures_per_account
        aliases = " ".join(
            f'a{i}: login(input: {{email: "{victim.email}", password: "guess-{i}-000000"}}) '
            "{ __typename ... on UserError { code } }"
            for i in range(limit + 3)
        )
        body = await api.execute(f"mutation {{ {aliases} }}")
        # Mutation fields run one after another: the first `limit` guesses were each checked and counted;
        # the next was refused before its password was looked at, and the refusal ends the document.
        assert body["data"] is None
        assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [("RATE_LIMITED", [f"a{limit}"])]
        tried = (
            await AuditEntry.filter(action="auth.login", actor_label=victim.email)
            .exclude(outcome="SUCCESS")
            .values_list("outcome", flat=True)
        )
        assert sorted(tried) == sorted(["FAILURE"] * limit + ["DENIED"])
        # The right password waits out the back-off too (LOGIN_BACKOFF_BASE, 1 s after the 5th wrong guess)
        # — and is then accepted: a stranger who knows the email slows the owner down, never locks them out.
        locked = await api.execute(LOGIN, {"input": {"email": victim.email, "password": PASSWORD}})
        assert error_code(locked) == "RATE_LIMITED"
        assert locked["errors"][0]["extensions"]["retryAfter"] == 1

        async def accepted() -> bool:
            body = await api.execute(LOGIN, {"input": {"email": victim.email, "password": PASSWORD}})
            return "errors" not in body and body["data"]["login"]["__typename"] == "AuthPayload"

        await wait_until(accepted, timeout=5, interval=0.2)


async def test_failures_are_limited_per_client_address(server: ServerHandle, admin: Account) -> None:
    async with GraphQLClient(server.url, headers={"X-Forwarded-For": "198.51.100.9"}) as api:
        limit = server.settings.login_failures_per_ip
        for i in range(limit):
            result = await login(api, unique_email(f"spray{i}"), "whatever 12345")
            assert result["__typename"] == "InvalidCredentials"
        body = await api.execute(LOGIN, {"input": {"email": unique_email("next"), "password": "whatever 12345"}})
        assert error_code(body) == "RATE_LIMITED"
    async with GraphQLClient(server.url, headers={"X-Forwarded-For": "198.51.100.10"}) as other:
        assert (await login(other, unique_email("elsewhere"), "whatever 12345"))["__typename"] == "InvalidCredentials"


def _code(secret: str, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(datetime.now(UTC) + timedelta(seconds=30 * offset_steps))


ENABLE = (
    "mutation { enableTwoFactor { __typename ... on TwoFactorSetup { secret otpauthUrl } ... on UserError { code } } }"
)
CONFIRM = (
    "mutation($c: String!) { confirmTwoFactor(code: $c) { __typename "
    "... on UserUpdated { user { twoFactorEnabled } } ... on UserError { code field } } }"
)
DISABLE = (
    "mutation($c: String!) { disableTwoFactor(code: $c) { __typename "
    "... on UserUpdated { user { twoFactorEnabled } } ... on UserError { code field } } }"
)


async def test_totp_enable_login_replay_and_disable(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        setup = (await client.query(ENABLE))["enableTwoFactor"]
        secret = setup["secret"]
        assert setup["otpauthUrl"].startswith("otpauth://totp/") and f"secret={secret}" in setup["otpauthUrl"]
        wrong = await client.query(CONFIRM, {"c": "000000" if _code(secret) != "000000" else "111111"})
        assert wrong["confirmTwoFactor"]["code"] == "INVALID_TWO_FACTOR_CODE"
        confirmed = (await client.query(CONFIRM, {"c": _code(secret, -1)}))["confirmTwoFactor"]
        assert confirmed == {"__typename": "UserUpdated", "user": {"twoFactorEnabled": True}}

    stored = await User.get(email=trader.email)
    assert stored.totp_secret is not None and secret not in stored.totp_secret  # encrypted at rest

    needs = await login(api, trader.email)
    assert needs["__typename"] == "TwoFactorRequired" and needs["field"] == "totpCode"
    bad = await login(api, trader.email, totpCode="12345x")
    assert bad["__typename"] == "InvalidTwoFactorCode"
    code = _code(secret)
    ok = await login(api, trader.email, totpCode=code)
    assert ok["__typename"] == "AuthPayload" and ok["user"]["twoFactorEnabled"] is True
    replay = await login(api, trader.email, totpCode=code)
    assert replay["__typename"] == "InvalidTwoFactorCode"

    async with as_user(api.base_url, ok["accessToken"]) as client:
        off = (await client.query(DISABLE, {"c": _code(secret, 1)}))["disableTwoFactor"]
        assert off == {"__typename": "UserUpdated", "user": {"twoFactorEnabled": False}}
    assert (await login(api, trader.email))["__typename"] == "AuthPayload"


def _token(account: Account, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "graphql-trading-api",
        "aud": "graphql-trading-api",
        "sub": _pk(account.user_id),
        "sid": _pk(account.session_id),
        "typ": "access",
        "iat": now,
        "exp": now + 600,
    }
    key = str(overrides.pop("key", TEST_SECRET))
    algorithm = str(overrides.pop("alg", "HS256"))
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key, algorithm=algorithm)


def _pk(global_id: str) -> str:
    return from_global_id(global_id)[1]


def _alg_none(account: Account) -> str:
    import base64
    import json

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "iss": "graphql-trading-api",
        "aud": "graphql-trading-api",
        "sub": _pk(account.user_id),
        "sid": _pk(account.session_id),
        "typ": "access",
        "iat": now,
        "exp": now + 600,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_token_attacks_are_unauthenticated(api: GraphQLClient, trader: Account) -> None:
    assert _token(trader)  # the forging helper itself produces an accepted token:
    async with as_user(api.base_url, _token(trader)) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email

    forged = {
        "alg none": _alg_none(trader),
        "wrong key": _token(trader, key="another-secret-key-that-is-long-enough-000"),
        "wrong issuer": _token(trader, iss="someone-else"),
        "wrong audience": _token(trader, aud="another-api"),
        "expired": _token(trader, iat=int(time.time()) - 3600, exp=int(time.time()) - 60),
        "refresh as access": trader.refresh_token,
        "refresh typ": _token(trader, typ="refresh"),
        "no session claim": _token(trader, sid=None),
        "no expiry": _token(trader, exp=None),
        "other user's session": _token(trader, sid="00000000-0000-0000-0000-000000000000"),
        "garbage": "not.a.jwt",
    }
    for label, token in forged.items():
        async with as_user(api.base_url, token) as client:
            body = await client.execute(ME)
        assert error_code(body) == "UNAUTHENTICATED", label
        assert body["data"] is None, label


async def test_anonymous_and_malformed_authorization(api: GraphQLClient) -> None:
    assert error_code(await api.execute(ME)) == "UNAUTHENTICATED"
    async with GraphQLClient(api.base_url, headers={"Authorization": "Basic abc"}) as client:
        body = await client.execute(ME)
    assert error_code(body) == "UNAUTHENTICATED" and "Bearer" in body["errors"][0]["message"]
    # Public data needs no sign-in, even with a bad token attached.
    async with as_user(api.base_url, "bogus") as client:
        assert (await client.query("{ instruments { symbol } }"))["instruments"]


async def test_refresh_rotates_and_reuse_revokes_the_session(api: GraphQLClient, trader: Account) -> None:
    first = (await api.query(REFRESH, {"t": trader.refresh_token}))["refreshToken"]
    assert first["refreshToken"] != trader.refresh_token
    assert first["session"]["id"] == trader.session_id
    async with as_user(api.base_url, first["accessToken"]) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email

    reused = await api.execute(REFRESH, {"t": trader.refresh_token})
    assert error_code(reused) == "UNAUTHENTICATED"
    assert "revoked" in reused["errors"][0]["message"]
    # The whole session is gone: the newest tokens no longer work either.
    async with as_user(api.base_url, first["accessToken"]) as client:
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"
    assert error_code(await api.execute(REFRESH, {"t": first["refreshToken"]})) == "UNAUTHENTICATED"
    session = await SessionRow.get(id=_pk(trader.session_id))
    assert session.revoked_reason == "refresh token reuse"
    assert await AuditEntry.filter(action="auth.refresh_token_reused", target_id=str(session.id)).exists()


async def test_refresh_with_unknown_token(api: GraphQLClient) -> None:
    assert error_code(await api.execute(REFRESH, {"t": "nope"})) == "UNAUTHENTICATED"
    assert error_code(await api.execute(REFRESH, {})) == "UNAUTHENTICATED"


SESSIONS = "{ mySessions(first: 10) { totalCount edges { cursor node { id device current method } } } }"
REVOKE = (
    "mutation($id: ID!) { revokeSession(id: $id) { __typename "
    "... on SessionRevoked { session { id } } ... on UserError { code } } }"
)


async def test_sessions_are_listed_revoked_and_private(api: GraphQLClient, trader: Account) -> None:
    phone = await login(api, trader.email, device="Work phone")
    async with as_user(api.base_url, trader) as client:
        listed = (await client.query(SESSIONS))["mySessions"]
        assert listed["totalCount"] == 2
        current = {e["node"]["device"]: e["node"]["current"] for e in listed["edges"]}
        assert current["Work phone"] is False
        revoked = (await client.query(REVOKE, {"id": phone["session"]["id"]}))["revokeSession"]
        assert revoked["__typename"] == "SessionRevoked"
    async with as_user(api.base_url, phone["accessToken"]) as client:
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"

    other = await register(api)
    async with as_user(api.base_url, other) as client:
        # Another user's session cannot be revoked, nor read through node(id:).
        assert (await client.query(REVOKE, {"id": trader.session_id}))["revokeSession"]["code"] == "NOT_FOUND"
        body = await client.query("query($id: ID!) { node(id: $id) { id } }", {"id": trader.session_id})
        assert body["node"] is None
        own = await client.query(
            "query($id: ID!) { node(id: $id) { id ... on User { email } } }", {"id": other.user_id}
        )
        assert own["node"]["email"] == other.email
    async with as_user(api.base_url, trader) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email


async def test_logout_ends_the_session_and_clears_cookies(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        response = await client.http.post("/graphql", json={"query": "mutation { logout }"})
        assert response.json() == {"data": {"logout": True}, "extensions": {"cost": {"requested": 0, "limit": 10_000}}}
        # Both cookies are overwritten empty and expire at once.
        cleared = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
        assert set(cleared) == {"access_token", "refresh_token"}
        for cookie in cleared.values():
            assert '=""; ' in cookie and "; Max-Age=0; " in cookie, cookie
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"
    assert error_code(await api.execute(REFRESH, {"t": trader.refresh_token})) == "UNAUTHENTICATED"


async def test_browser_cookies_and_csrf_rule(server: ServerHandle, trader: Account) -> None:
    async with GraphQLClient(server.url, keep_cookies=True) as browser:
        response = await browser.http.post(
            "/graphql", json={"query": LOGIN, "variables": {"input": {"email": trader.email, "password": PASSWORD}}}
        )
        cookies = response.headers.get_list("set-cookie")
        access = next(c for c in cookies if c.startswith("access_token="))
        refresh = next(c for c in cookies if c.startswith("refresh_token="))
        assert "HttpOnly" in access and "SameSite=lax" in access
        assert "HttpOnly" in refresh and "Path=/graphql" in refresh
        # The cookie jar now authenticates JSON requests (a content type cross-site forms cannot send).
        me = await browser.http.post("/graphql", json={"query": ME})
        assert me.json()["data"]["me"]["email"] == trader.email
        # Refresh through the cookie alone.
        refreshed = await browser.http.post("/graphql", json={"query": "mutation { refreshToken { tokenType } }"})
        assert refreshed.json()["data"]["refreshToken"]["tokenType"] == "Bearer"


def test_csrf_rule_refuses_simple_requests() -> None:
    from starlette.requests import Request

    from graphql_api.sessions import csrf_safe

    def request(method: str, headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": method, "headers": raw, "path": "/graphql"})

    assert csrf_safe(request("POST", {"Content-Type": "application/json; charset=utf-8"}))
    assert csrf_safe(request("POST", {"Content-Type": "text/plain", "X-CSRF-Token": "1"}))
    assert csrf_safe(request("POST", {"Content-Type": "text/plain", "Apollo-Require-Preflight": "true"}))
    assert csrf_safe(request("GET", {}))
    assert not csrf_safe(request("POST", {"Content-Type": "text/plain"}))
    assert not csrf_safe(request("POST", {"Content-Type": "application/x-www-form-urlencoded"}))
    assert not csrf_safe(request("POST", {"Content-Type": "multipart/form-data; boundary=x"}))


async def test_idle_sessions_expire_and_activity_extends_them(
    api: GraphQLClient, trader: Account, server: ServerHandle
) -> None:
    pk = _pk(trader.session_id)
    idle = timedelta(seconds=server.settings.session_idle_timeout)
    # The edits below go behind the app's back, as an operator's SQL would: a process sees them once its
    # cached copy of the session (at most a second old) goes, here at once (the server runs in this process).
    # Just inside the idle window: allowed, and the activity moves last_seen forward.
    await SessionRow.filter(id=pk).update(last_seen_at=datetime.now(UTC) - idle + timedelta(seconds=20))
    SESSION_CACHE.clear()
    async with as_user(api.base_url, trader) as client:
        assert (await client.query(ME))["me"]["email"] == trader.email
    assert (datetime.now(UTC) - (await SessionRow.get(id=pk)).last_seen_at) < timedelta(seconds=5)
    # Past the idle window: refused.
    await SessionRow.filter(id=pk).update(last_seen_at=datetime.now(UTC) - idle - timedelta(seconds=1))
    SESSION_CACHE.clear()
    async with as_user(api.base_url, trader) as client:
        body = await client.execute(ME)
    assert error_code(body) == "UNAUTHENTICATED" and "inactivity" in body["errors"][0]["message"]


PROFILE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { __typename ... on UserUpdated { user { name timezone language } }
    ... on UserError { code field message } }
}"""


async def test_profile_settings_and_notifications(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        ok = await client.query(PROFILE, {"input": {"name": "Ada", "timezone": "Europe/Zurich", "language": "de-CH"}})
        assert ok["updateProfile"]["user"] == {"name": "Ada", "timezone": "Europe/Zurich", "language": "de-CH"}
        bad_tz = (await client.query(PROFILE, {"input": {"timezone": "Mars/Olympus"}}))["updateProfile"]
        assert bad_tz["field"] == "timezone"
        bad_lang = (await client.query(PROFILE, {"input": {"language": "english!"}}))["updateProfile"]
        assert bad_lang["field"] == "language"
        me = (await client.query(ME))["me"]
        assert (me["timezone"], me["language"]) == ("Europe/Zurich", "de-CH")  # failed updates changed nothing
        prefs = await client.query(
            "mutation { updateNotificationPreferences(input: {push: true, priceAlerts: false}) { "
            "... on UserUpdated { user { notificationPreferences { email push priceAlerts } } } } }"
        )
        assert prefs["updateNotificationPreferences"]["user"]["notificationPreferences"] == {
            "email": True,
            "push": True,
            "priceAlerts": False,
        }


CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) { __typename ... on PasswordChanged { revokedSessions }
    ... on UserError { code field } }
}"""


async def test_change_password_ends_other_sessions(api: GraphQLClient, trader: Account) -> None:
    other = await login(api, trader.email)
    async with as_user(api.base_url, trader) as client:
        wrong = await client.query(
            CHANGE_PASSWORD, {"input": {"currentPassword": "nope", "newPassword": "another pass 99"}}
        )
        assert wrong["changePassword"]["code"] == "INVALID_CREDENTIALS"
        weak = await client.query(CHANGE_PASSWORD, {"input": {"currentPassword": PASSWORD, "newPassword": "weak"}})
        assert weak["changePassword"]["field"] == "newPassword"
        done = await client.query(
            CHANGE_PASSWORD, {"input": {"currentPassword": PASSWORD, "newPassword": "another pass 99"}}
        )
        assert done["changePassword"] == {"__typename": "PasswordChanged", "revokedSessions": 1}
        assert (await client.query(ME))["me"]["email"] == trader.email  # this session lives on
    async with as_user(api.base_url, other["accessToken"]) as client:
        assert error_code(await client.execute(ME)) == "UNAUTHENTICATED"
    assert (await login(api, trader.email))["__typename"] == "InvalidCredentials"
    assert (await login(api, trader.email, "another pass 99"))["__typename"] == "AuthPayload"
