"""Signing in and out with a password: register, login (with TOTP once enabled), refresh, logout."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import AuthMethod, Role, User, UserStatus
from models.identity import Session as SessionRow

from ... import audit
from ...audit import Action
from ...auth import (
    AuthenticationFailed,
    ClientInfo,
    IssuedTokens,
    RefreshTokenReused,
    end_session,
    hash_password,
    open_session,
    rotate_refresh_token,
    verify_password,
)
from ...errors import RateLimited
from ...ownership import Actor
from ...ratelimit import guess_failed, reserve_guess
from ...rejections import BadCredentials, BadTwoFactorCode, Invalid, NotActive, SignInRequired, TwoFactorNeeded
from ...sessions import announce_session_ended
from .. import referrals
from ..deps import Deps
from .credentials import check_name, check_password, consume_totp, create_user, lock_users, normalise_email


@dataclass(frozen=True)
class SignedIn:
    """A new session and its tokens: what every successful sign-in returns."""

    user: User
    session: SessionRow
    tokens: IssuedTokens


@dataclass(frozen=True)
class Registered:
    """A new account; ``signed_in`` is None while it waits for an administrator's approval."""

    user: User
    signed_in: SignedIn | None


def not_active(user: User) -> NotActive:
    pending = user.status == UserStatus.PENDING
    return NotActive(
        "the account is awaiting approval" if pending else "the account is suspended",
        code="ACCOUNT_PENDING" if pending else "ACCOUNT_SUSPENDED",
        status=str(user.status),
    )


async def register(
    deps: Deps, client: ClientInfo, email: str, password: str, name: str, referral_code: str | None = None
) -> Registered:
    """The first account becomes ADMIN; later ones TRADER, ACTIVE in open registration mode, else PENDING.
    A referral code, when given, must be an active user's: the new user is then theirs (referred_by)."""
    email = normalise_email(email)
    check_password(password, "password", email)
    name = check_name(name)
    referrer = await referrals.referrer(referral_code) if referral_code else None
    password_hash = hash_password(password)
    async with in_transaction() as conn:
        await lock_users(conn)
        if await User.filter(email=email).using_db(conn).exists():
            raise Invalid("an account with this email already exists", code="EMAIL_TAKEN", field="email")
        first = not await User.all().using_db(conn).exists()
        role = Role.ADMIN if first else Role.TRADER
        active = first or deps.settings.registration_mode == "open"
        status = UserStatus.ACTIVE if active else UserStatus.PENDING
        user = await create_user(
            conn,
            client.ip,
            {"role": role.value, "status": status.value},
            email=email,
            password_hash=password_hash,
            name=name,
            role=role,
            status=status,
            referred_by_id=referrer.id if referrer else None,
        )
        if not active:
            return Registered(user, None)
        session, tokens = await open_session(deps.settings, user, AuthMethod.PASSWORD, client, None, conn)
    return Registered(user, SignedIn(user, session, tokens))


async def login(
    deps: Deps, client: ClientInfo, email: str, password: str, totp_code: str | None, device: str | None
) -> SignedIn:
    """Password (and TOTP) sign-in, with guesses limited per address and backed off per account."""
    settings = deps.settings
    email = normalise_email(email)
    account_key, ip_key = f"login:account:{email}", f"login:ip:{client.ip}"

    async def denied(exc: RateLimited) -> RateLimited:
        await audit.record(
            Action.AUTH_LOGIN, Outcome.DENIED, actor_label=email, ip=client.ip, detail={"reason": "rate_limited"}
        )
        return exc

    # Both reservations happen before the password is looked at, atomically: concurrent guesses cannot all
    # pass a check that counts only after them. The account's back-off holds whatever address guesses.
    per_address = await deps.counters.take(ip_key, settings.login_failures_per_ip, settings.login_failure_window)
    if not per_address.allowed:
        raise await denied(
            RateLimited(
                "too many sign-in attempts from this address; try again later", retryAfter=per_address.retry_after()
            )
        )
    try:
        await reserve_guess(deps, account_key)
    except RateLimited as exc:
        raise await denied(exc) from None

    user = await User.get_or_none(email=email)

    async def failed(reason: str) -> None:
        await guess_failed(deps, account_key)
        await audit.record(
            Action.AUTH_LOGIN,
            Outcome.FAILURE,
            actor=user,
            actor_label=email,
            target_type="User" if user else "",
            target_id=user.id if user else "",
            ip=client.ip,
            detail={"reason": reason},
        )

    if not verify_password(user.password_hash if user else None, password) or user is None:
        await failed("bad_credentials")
        raise BadCredentials("email or password is wrong")
    if user.totp_secret:
        if not totp_code:
            # The password was right, but the sign-in is not done: a guess that ends here still counts,
            # or asking without a code would reset the count of wrong codes.
            await guess_failed(deps, account_key)
            raise TwoFactorNeeded("this account needs a TOTP code")
        if not await consume_totp(settings, user, totp_code):
            await failed("bad_totp")
            raise BadTwoFactorCode("the TOTP code is wrong, expired or already used", field="totpCode")
    if user.status != UserStatus.ACTIVE:
        await deps.counters.forget_guesses(account_key)
        await audit.record(
            Action.AUTH_LOGIN, Outcome.DENIED, actor=user, ip=client.ip, detail={"reason": f"status_{user.status}"}
        )
        raise not_active(user)

    await deps.counters.forget_guesses(account_key)
    await deps.counters.give_back(ip_key, settings.login_failure_window)
    async with in_transaction() as conn:
        session, tokens = await open_session(settings, user, AuthMethod.PASSWORD, client, device, conn)
    return SignedIn(user, session, tokens)


@dataclass(eq=False)
class SessionEnded(SignInRequired):
    """A rotated refresh token came back: its session has been ended (the cookies should go too)."""


async def refresh(deps: Deps, client: ClientInfo, presented: str) -> SignedIn:
    """New tokens for a refresh token; each works once, and presenting a used one ends its session."""
    try:
        session, tokens = await rotate_refresh_token(deps.settings, presented, client)
    except RefreshTokenReused as exc:
        await announce_session_ended(deps.bus, exc.session_id, "refresh token reuse")
        raise SessionEnded(str(exc)) from None
    except AuthenticationFailed as exc:
        raise SignInRequired(str(exc)) from None
    return SignedIn(session.user, session, tokens)


async def logout(deps: Deps, actor: Actor, session_id: str) -> None:
    """End the actor's session ``session_id`` and close its sockets."""
    async with in_transaction() as conn:
        await end_session(conn, session_id, "logout", Action.AUTH_LOGOUT, actor.user, actor.ip, outcome=Outcome.SUCCESS)
    await announce_session_ended(deps.bus, session_id, "logout")
