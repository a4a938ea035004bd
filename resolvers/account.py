"""The signed-in user's own account: profile, settings, password, two-factor, sessions (devices)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pyotp
import strawberry
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.auth import hash_password, utcnow, verify_password
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id
from graphql_api.permissions import require_principal
from graphql_api.ratelimit import guess_failed, reserve_guess
from graphql_api.sessions import announce_session_ended
from models.audit import Outcome
from models.identity import Session as SessionRow
from models.identity import User
from schema.common import After, Connection, First, GlobalID, NotFound, invalid
from schema.identity import (
    NOTIFICATION_DEFAULTS,
    ChangePasswordInput,
    ChangePasswordResult,
    InvalidCredentials,
    InvalidTwoFactorCode,
    NotificationPreferencesInput,
    PasswordChanged,
    RevokeSessionResult,
    Session,
    SessionRevoked,
    TwoFactorChangeResult,
    TwoFactorSetup,
    TwoFactorSetupResult,
    UpdateProfileInput,
    UpdateUserResult,
    UserUpdated,
)
from schema.identity import User as UserType

from .auth import consume_totp, password_problem, totp_cipher

TotpCode = Annotated[str, strawberry.argument(description="The 6-digit code the authenticator app shows now.")]
_INPUT = strawberry.argument(description="What to change.")
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


async def _me_row(info: Info) -> User:
    principal = require_principal(info.context)
    row: User = await User.get(id=principal.user.id)
    return row


async def me(info: Info) -> UserType:
    return UserType.from_model(require_principal(info.context).user)


async def _audit(
    info: Info, user: User, action: Action, outcome: Outcome, detail: dict[str, Any] | None = None, conn: Any = None
) -> None:
    """Every row of the caller's own account actions targets the caller."""
    await audit.record(
        action,
        outcome,
        actor=user,
        target_type="User",
        target_id=user.id,
        ip=info.context.client.ip,
        detail=detail,
        conn=conn,
    )


async def update_profile(info: Info, input: Annotated[UpdateProfileInput, _INPUT]) -> UpdateUserResult:
    user = await _me_row(info)
    changes: dict[str, str] = {}
    if input.name is not None:
        name = input.name.strip()
        if not 1 <= len(name) <= 100:
            return invalid("name must be 1 to 100 characters", "name")
        changes["name"] = name
    if input.timezone is not None:
        try:
            ZoneInfo(input.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return invalid("timezone is not an IANA time zone (e.g. Europe/Zurich)", "timezone")
        if input.timezone not in available_timezones():
            return invalid("timezone is not an IANA time zone (e.g. Europe/Zurich)", "timezone")
        changes["timezone"] = input.timezone
    if input.language is not None:
        if not _LANGUAGE.match(input.language):
            return invalid("language must be a BCP 47 tag such as en or pt-BR", "language")
        changes["language"] = input.language
    if changes:
        async with in_transaction() as conn:
            await User.filter(id=user.id).using_db(conn).update(**changes)
            await _audit(
                info, user, Action.ACCOUNT_UPDATE_PROFILE, Outcome.SUCCESS, {"fields": sorted(changes)}, conn=conn
            )
    return UserUpdated(user=UserType.from_model(await User.get(id=user.id)))


async def update_notification_preferences(
    info: Info, input: Annotated[NotificationPreferencesInput, _INPUT]
) -> UpdateUserResult:
    user = await _me_row(info)
    given = {k: v for k, v in strawberry.asdict(input).items() if v is not None}
    merged = {**NOTIFICATION_DEFAULTS, **(user.notification_preferences or {}), **given}
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(notification_preferences=merged)
        await _audit(
            info, user, Action.ACCOUNT_UPDATE_NOTIFICATIONS, Outcome.SUCCESS, {"fields": sorted(given)}, conn=conn
        )
    return UserUpdated(user=UserType.from_model(await User.get(id=user.id)))


async def change_password(info: Info, input: Annotated[ChangePasswordInput, _INPUT]) -> ChangePasswordResult:
    ctx = info.context
    principal = require_principal(ctx)
    user = await _me_row(info)
    guesses = f"password:user:{user.id}"
    await reserve_guess(ctx, guesses)
    if not verify_password(user.password_hash, input.current_password):
        await guess_failed(ctx, guesses)
        await _audit(info, user, Action.ACCOUNT_CHANGE_PASSWORD, Outcome.FAILURE)
        return InvalidCredentials(
            message="current password is wrong", code="INVALID_CREDENTIALS", field="currentPassword"
        )
    await ctx.counters.forget_guesses(guesses)
    problem = password_problem(input.new_password, "newPassword", user.email)
    if problem:
        return problem
    now = utcnow()
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(password_hash=hash_password(input.new_password))
        others = (
            await SessionRow.filter(user_id=user.id, revoked_at=None)
            .exclude(id=principal.session.id)
            .using_db(conn)
            .values_list("id", flat=True)
        )
        await (
            SessionRow.filter(id__in=list(others))
            .using_db(conn)
            .update(revoked_at=now, revoked_reason="password changed")
        )
        await _audit(
            info, user, Action.ACCOUNT_CHANGE_PASSWORD, Outcome.SUCCESS, {"revokedSessions": len(others)}, conn=conn
        )
    for session_id in others:
        await announce_session_ended(ctx.bus, session_id, "password changed")
    return PasswordChanged(user=UserType.from_model(await User.get(id=user.id)), revoked_sessions=len(others))


async def enable_two_factor(info: Info) -> TwoFactorSetupResult:
    ctx = info.context
    user = await _me_row(info)
    if user.totp_secret:
        return invalid("two-factor authentication is already enabled", None, code="TWO_FACTOR_ALREADY_ENABLED")
    secret = pyotp.random_base32()
    label = user.email or user.wallet_address or str(user.id)
    url = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ctx.settings.jwt_issuer)
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(totp_pending_secret=totp_cipher(ctx).encrypt(secret))
        await _audit(info, user, Action.ACCOUNT_TWO_FACTOR_SETUP, Outcome.SUCCESS, conn=conn)
    return TwoFactorSetup(secret=secret, otpauth_url=url)


async def confirm_two_factor(info: Info, code: TotpCode) -> TwoFactorChangeResult:
    ctx = info.context
    user = await _me_row(info)
    if not user.totp_pending_secret:
        return invalid("call enableTwoFactor first", None, code="TWO_FACTOR_NOT_STARTED")
    await reserve_guess(ctx, f"totp:user:{user.id}")
    if not await consume_totp(ctx, user, code, pending=True):
        await guess_failed(ctx, f"totp:user:{user.id}")
        await _audit(info, user, Action.ACCOUNT_TWO_FACTOR_ENABLE, Outcome.FAILURE)
        return InvalidTwoFactorCode(
            message="the code is wrong or expired", code="INVALID_TWO_FACTOR_CODE", field="code"
        )
    await ctx.counters.forget_guesses(f"totp:user:{user.id}")
    async with in_transaction() as conn:
        await (
            User.filter(id=user.id)
            .using_db(conn)
            .update(totp_secret=user.totp_pending_secret, totp_pending_secret=None)
        )
        await _audit(info, user, Action.ACCOUNT_TWO_FACTOR_ENABLE, Outcome.SUCCESS, conn=conn)
    return UserUpdated(user=UserType.from_model(await User.get(id=user.id)))


async def disable_two_factor(info: Info, code: TotpCode) -> TwoFactorChangeResult:
    ctx = info.context
    user = await _me_row(info)
    if not user.totp_secret:
        return invalid("two-factor authentication is not enabled", None, code="TWO_FACTOR_NOT_ENABLED")
    await reserve_guess(ctx, f"totp:user:{user.id}")
    if not await consume_totp(ctx, user, code):
        await guess_failed(ctx, f"totp:user:{user.id}")
        await _audit(info, user, Action.ACCOUNT_TWO_FACTOR_DISABLE, Outcome.FAILURE)
        return InvalidTwoFactorCode(
            message="the code is wrong or expired", code="INVALID_TWO_FACTOR_CODE", field="code"
        )
    await ctx.counters.forget_guesses(f"totp:user:{user.id}")
    async with in_transaction() as conn:
        await User.filter(id=user.id).using_db(conn).update(totp_secret=None, totp_pending_secret=None)
        await _audit(info, user, Action.ACCOUNT_TWO_FACTOR_DISABLE, Outcome.SUCCESS, conn=conn)
    return UserUpdated(user=UserType.from_model(await User.get(id=user.id)))


async def my_sessions(info: Info, first: First = None, after: After = None) -> Connection[Session]:
    principal = require_principal(info.context)
    live = SessionRow.filter(user_id=principal.user.id, revoked_at=None, expires_at__gt=utcnow())
    return Connection.of(
        await paginate(
            live,
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=lambda row: Session.from_model(row, principal.session_id),
        )
    )


async def revoke_session(info: Info, id: GlobalID) -> RevokeSessionResult:
    ctx = info.context
    principal = require_principal(ctx)
    pk = parse_id(id, "Session")
    # Only your own sessions are visible here: another user's session is simply not found.
    row = await SessionRow.get_or_none(id=pk, user_id=principal.user.id, revoked_at=None)
    if row is None:
        return NotFound(message="no such session among yours", code="NOT_FOUND", field="id")
    now = utcnow()
    async with in_transaction() as conn:
        await SessionRow.filter(id=row.id).using_db(conn).update(revoked_at=now, revoked_reason="revoked by user")
        await audit.record(
            Action.ACCOUNT_REVOKE_SESSION,
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="Session",
            target_id=row.id,
            ip=ctx.client.ip,
            conn=conn,
        )
    await announce_session_ended(ctx.bus, row.id, "revoked")
    row.revoked_at = now
    return SessionRevoked(session=Session.from_model(row, principal.session_id))
