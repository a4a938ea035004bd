"""The signed-in user's own account: profile, notification choices, password, two-factor, sessions.

Every row these actions audit targets the caller; ``session_id`` is the session the caller acts from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pyotp
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import NOTIFICATION_DEFAULTS, User
from models.identity import Session as SessionRow

from ... import audit
from ...audit import Action
from ...auth import end_session, hash_password, utcnow, verify_password
from ...ownership import Actor
from ...ratelimit import guess_failed, reserve_guess
from ...rejections import BadCredentials, BadTwoFactorCode, Invalid, Missing
from ...sessions import announce_session_ended, announce_user_changed
from ..alerts import channels
from ..deps import Deps
from .credentials import check_name, check_password, consume_totp, totp_cipher

_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
_NOT_A_ZONE = "timezone is not an IANA time zone (e.g. Europe/Zurich)"


@dataclass(frozen=True)
class PasswordChange:
    user: User
    revoked_sessions: int


@dataclass(frozen=True)
class TwoFactorSecret:
    secret: str
    otpauth_url: str


async def _fresh(actor: Actor) -> User:
    row: User = await User.get(id=actor.user_id)
    return row


async def _audit(
    actor: Actor, action: Action, outcome: Outcome, detail: dict[str, Any] | None = None, conn: Any = None
) -> None:
    await audit.record(
        action,
        outcome,
        actor=actor.user,
        target_type="User",
        target_id=actor.user_id,
        ip=actor.ip,
        detail=detail,
        conn=conn,
    )


def check_timezone(value: str, field: str = "timezone") -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(_NOT_A_ZONE, field=field) from None
    if value not in available_timezones():
        raise Invalid(_NOT_A_ZONE, field=field)
    return value


def check_language(value: str, field: str = "language") -> str:
    if not _LANGUAGE.match(value):
        raise Invalid("language must be a BCP 47 tag such as en or pt-BR", field=field)
    return value


def check_notifications(given: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Known notification choices with boolean values (and the channel matrix, ``channels``); the first other
    one is refused, named."""
    for key, value in given.items():
        if key == channels.CHANNELS_KEY:
            channels.check_channels(value, prefix)
            continue
        if key not in NOTIFICATION_DEFAULTS:
            raise Invalid(f"unknown notification choice {key}", field=prefix + key)
        if not isinstance(value, bool):
            raise Invalid(f"{key} must be true or false", field=prefix + key)
    return dict(given)


async def update_profile(
    deps: Deps, actor: Actor, *, name: str | None = None, timezone: str | None = None, language: str | None = None
) -> User:
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = check_name(name)
    if timezone is not None:
        changes["timezone"] = check_timezone(timezone)
    if language is not None:
        changes["language"] = check_language(language)
    if changes:
        async with in_transaction() as conn:
            await User.filter(id=actor.user_id).using_db(conn).update(**changes)
            await _audit(actor, Action.ACCOUNT_UPDATE_PROFILE, Outcome.SUCCESS, {"fields": sorted(changes)}, conn)
        await announce_user_changed(deps.bus, actor.user_id, "profile updated")
    return await _fresh(actor)


async def update_notification_preferences(deps: Deps, actor: Actor, given: dict[str, Any]) -> User:
    """Merge ``given`` choices over the stored ones (and the defaults for any never set); the channel matrix
    cell by cell."""
    check_notifications(given)
    stored = (await _fresh(actor)).notification_preferences or {}
    merged = {**NOTIFICATION_DEFAULTS, **stored, **given}
    if channels.CHANNELS_KEY in given:
        merged[channels.CHANNELS_KEY] = channels.merge_channels(stored, given[channels.CHANNELS_KEY])
    async with in_transaction() as conn:
        await User.filter(id=actor.user_id).using_db(conn).update(notification_preferences=merged)
        await _audit(actor, Action.ACCOUNT_UPDATE_NOTIFICATIONS, Outcome.SUCCESS, {"fields": sorted(given)}, conn)
    await announce_user_changed(deps.bus, actor.user_id, "notification preferences updated")
    return await _fresh(actor)


async def change_password(deps: Deps, actor: Actor, session_id: str, current: str, new: str) -> PasswordChange:
    """Change the password after checking the current one (guesses backed off); ends every other session."""
    user = await _fresh(actor)
    guesses = f"password:user:{user.id}"
    await reserve_guess(deps, guesses)
    if not verify_password(user.password_hash, current):
        await guess_failed(deps, guesses)
        await _audit(actor, Action.ACCOUNT_CHANGE_PASSWORD, Outcome.FAILURE)
        raise BadCredentials("current password is wrong", field="currentPassword")
    await deps.counters.forget_guesses(guesses)
    check_password(new, "newPassword", user.email)
    now = utcnow()
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(password_hash=hash_password(new))
        others = (
            await SessionRow.filter(user_id=user.id, revoked_at=None)
            .exclude(id=session_id)
            .using_db(conn)
            .values_list("id", flat=True)
        )
        await (
            SessionRow.filter(id__in=list(others))
            .using_db(conn)
            .update(revoked_at=now, revoked_reason="password changed")
        )
        await _audit(actor, Action.ACCOUNT_CHANGE_PASSWORD, Outcome.SUCCESS, {"revokedSessions": len(others)}, conn)
    for other in others:
        await announce_session_ended(deps.bus, other, "password changed")
    await announce_user_changed(deps.bus, actor.user_id, "password changed")
    return PasswordChange(await _fresh(actor), len(others))


async def enable_two_factor(deps: Deps, actor: Actor) -> TwoFactorSecret:
    """A new TOTP secret, pending until a code from it confirms it."""
    user = await _fresh(actor)
    if user.totp_secret:
        raise Invalid("two-factor authentication is already enabled", code="TWO_FACTOR_ALREADY_ENABLED")
    secret = pyotp.random_base32()
    label = user.email or user.wallet_address or str(user.id)
    url = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=deps.settings.jwt_issuer)
    async with in_transaction() as conn:
        encrypted = totp_cipher(deps.settings).encrypt(secret)
        await User.filter(id=user.id).using_db(conn).update(totp_pending_secret=encrypted)
        await _audit(actor, Action.ACCOUNT_TWO_FACTOR_SETUP, Outcome.SUCCESS, conn=conn)
    return TwoFactorSecret(secret, url)


async def _switch_two_factor(
    deps: Deps, actor: Actor, user: User, code: str, action: Action, *, pending: bool, secret: str | None
) -> User:
    """Check a code from the (pending) secret, its guesses backed off — a wrong one is audited and refused —
    then make ``secret`` the user's TOTP secret (None turns two-factor off) and audit the change."""
    guesses = f"totp:user:{user.id}"
    await reserve_guess(deps, guesses)
    if not await consume_totp(deps.settings, user, code, pending=pending):
        await guess_failed(deps, guesses)
        await _audit(actor, action, Outcome.FAILURE)
        raise BadTwoFactorCode("the code is wrong or expired", field="code")
    await deps.counters.forget_guesses(guesses)
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(totp_secret=secret, totp_pending_secret=None)
        await _audit(actor, action, Outcome.SUCCESS, conn=conn)
    await announce_user_changed(deps.bus, actor.user_id, "two-factor changed")
    return await _fresh(actor)


async def confirm_two_factor(deps: Deps, actor: Actor, code: str) -> User:
    user = await _fresh(actor)
    if not user.totp_pending_secret:
        raise Invalid("call enableTwoFactor first", code="TWO_FACTOR_NOT_STARTED")
    action = Action.ACCOUNT_TWO_FACTOR_ENABLE
    return await _switch_two_factor(deps, actor, user, code, action, pending=True, secret=user.totp_pending_secret)


async def disable_two_factor(deps: Deps, actor: Actor, code: str) -> User:
    user = await _fresh(actor)
    if not user.totp_secret:
        raise Invalid("two-factor authentication is not enabled", code="TWO_FACTOR_NOT_ENABLED")
    action = Action.ACCOUNT_TWO_FACTOR_DISABLE
    return await _switch_two_factor(deps, actor, user, code, action, pending=False, secret=None)


async def revoke_session(deps: Deps, actor: Actor, session_pk: str) -> SessionRow:
    """End one of the actor's own sessions (another user's is simply not found) and close its sockets."""
    row = await SessionRow.get_or_none(id=session_pk, user_id=actor.user_id, revoked_at=None)
    if row is None:
        raise Missing("no such session among yours", field="id")
    async with in_transaction() as conn:
        await end_session(
            conn,
            row.id,
            "revoked by user",
            Action.ACCOUNT_REVOKE_SESSION,
            actor.user,
            actor.ip,
            outcome=Outcome.SUCCESS,
        )
    await announce_session_ended(deps.bus, row.id, "revoked")
    await row.refresh_from_db(fields=["revoked_at"])
    return row
