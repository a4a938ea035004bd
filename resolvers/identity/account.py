"""The signed-in user's own account over GraphQL: each field maps its input to the action in
graphql_api/services/identity/account.py and its result to the payload."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graphql_api.auth import utcnow
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id
from graphql_api.permissions import require_principal
from graphql_api.services.identity import account
from models.identity import Session as SessionRow
from models.identity import User
from schema.common import After, Connection, First, GlobalID
from schema.identity import (
    ChangePasswordInput,
    ChangePasswordResult,
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

from ..results import actor, result

TotpCode = Annotated[str, strawberry.argument(description="The 6-digit code the authenticator app shows now.")]
_INPUT = strawberry.argument(description="What to change.")


def _updated(row: User) -> UserUpdated:
    return UserUpdated(user=UserType.from_model(row))


async def me(info: Info) -> UserType:
    return UserType.from_model(require_principal(info.context).user)


async def update_profile(info: Info, input: Annotated[UpdateProfileInput, _INPUT]) -> UpdateUserResult:
    action = account.update_profile(
        info.context, actor(info), name=input.name, timezone=input.timezone, language=input.language
    )
    answered: UpdateUserResult = await result(action, _updated)
    return answered


async def update_notification_preferences(
    info: Info, input: Annotated[NotificationPreferencesInput, _INPUT]
) -> UpdateUserResult:
    given: dict[str, Any] = {
        k: bool(v) for k, v in strawberry.asdict(input).items() if v is not None and k != "channels"
    }
    if input.channels is not None:
        cells: dict[str, dict[str, bool]] = {}
        for row in input.channels:
            chosen = {"IN_APP": row.in_app, "WEBHOOK": row.webhook, "EMAIL": row.email}
            cells.setdefault(row.category.name, {}).update({k: v for k, v in chosen.items() if v is not None})
        given["channels"] = cells
    answered: UpdateUserResult = await result(
        account.update_notification_preferences(info.context, actor(info), given), _updated
    )
    return answered


async def change_password(info: Info, input: Annotated[ChangePasswordInput, _INPUT]) -> ChangePasswordResult:
    ctx = info.context
    session_id = require_principal(ctx).session_id
    action = account.change_password(ctx, actor(info), session_id, input.current_password, input.new_password)
    answered: ChangePasswordResult = await result(
        action,
        lambda done: PasswordChanged(user=UserType.from_model(done.user), revoked_sessions=done.revoked_sessions),
    )
    return answered


async def enable_two_factor(info: Info) -> TwoFactorSetupResult:
    answered: TwoFactorSetupResult = await result(
        account.enable_two_factor(info.context, actor(info)),
        lambda done: TwoFactorSetup(secret=done.secret, otpauth_url=done.otpauth_url),
    )
    return answered


async def confirm_two_factor(info: Info, code: TotpCode) -> TwoFactorChangeResult:
    answered: TwoFactorChangeResult = await result(
        account.confirm_two_factor(info.context, actor(info), code), _updated
    )
    return answered


async def disable_two_factor(info: Info, code: TotpCode) -> TwoFactorChangeResult:
    answered: TwoFactorChangeResult = await result(
        account.disable_two_factor(info.context, actor(info), code), _updated
    )
    return answered


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
    current = require_principal(info.context).session_id
    answered: RevokeSessionResult = await result(
        account.revoke_session(info.context, actor(info), parse_id(id, "Session")),
        lambda row: SessionRevoked(session=Session.from_model(row, current)),
    )
    return answered
