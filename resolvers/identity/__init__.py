"""Identity and sessions: the Query / Mutation fields of the identity domain, with their permissions, and
its Node types. The resolvers are in this package — ``signin`` (sign-in, tokens), ``account`` (the
caller's own account), ``admin`` (user management) — and map to the actions of the same names in
graphql_api/services/identity/."""

from __future__ import annotations

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import load_owned
from graphql_api.permissions import IsAdmin, IsAuthenticated, require_principal
from graphql_api.ratelimit import AUTH, RateLimit
from models.identity import Session as SessionRow
from models.identity import User as UserRow
from schema.common import Connection
from schema.identity import (
    AdminStats,
    AdminUserResult,
    AuthPayload,
    ChangePasswordResult,
    DeleteUserResult,
    LoginResult,
    RegisterResult,
    RevokeSessionResult,
    Session,
    TwoFactorChangeResult,
    TwoFactorSetupResult,
    UpdateUserResult,
    User,
    WalletChallenge,
    WalletVerifyResult,
)

from ..node import node_type
from ..results import actor, audited
from . import account, admin, signin


@node_type("User", User)
async def user_node(info: Info, pk: str) -> User | None:
    row = await load_owned(UserRow, pk, actor(info))
    return User.from_model(row) if row else None


@node_type("Session", Session)
async def session_node(info: Info, pk: str) -> Session | None:
    row = await load_owned(SessionRow, pk, actor(info))
    return Session.from_model(row, require_principal(info.context).session_id) if row else None


@strawberry.type
class Query:
    me: User = strawberry.field(
        resolver=account.me, permission_classes=[IsAuthenticated], description="The signed-in user."
    )
    my_sessions: Connection[Session] = strawberry.field(
        resolver=account.my_sessions,
        permission_classes=[IsAuthenticated],
        description="The signed-in user's live sessions.",
    )
    users: Connection[User] = strawberry.field(
        resolver=admin.users, permission_classes=[IsAdmin], description="Admin: all users, newest first."
    )
    user: User | None = strawberry.field(
        resolver=admin.user, permission_classes=[IsAdmin], description="Admin: one user by ID."
    )
    admin_stats: AdminStats = strawberry.field(
        resolver=admin.admin_stats, permission_classes=[IsAdmin], description="Admin: user and session counts."
    )


@strawberry.type
class Mutation:
    register: RegisterResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=audited(Action.AUTH_REGISTER)(signin.register),
        description="Create an account. The first becomes ADMIN; later ones TRADER, signed in at once in open "
        "registration mode or PENDING approval in approval mode.",
    )
    login: LoginResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=audited(Action.AUTH_LOGIN)(signin.login),
        description="Sign in with email, password and (when enabled) a TOTP code.",
    )
    wallet_challenge: WalletChallenge = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=audited(Action.AUTH_WALLET_CHALLENGE)(signin.wallet_challenge),
        description="Start Sign-In with Ethereum: a single-use EIP-4361 message for the wallet to sign.",
    )
    wallet_verify: WalletVerifyResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=audited(Action.AUTH_WALLET_LOGIN)(signin.wallet_verify),
        description="Finish Sign-In with Ethereum; creates the account on first sign-in.",
    )
    refresh_token: AuthPayload = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=audited(Action.AUTH_REFRESH_TOKEN)(signin.refresh_token),
        description="Exchange a refresh token for new tokens. Each refresh token works once; reusing one ends "
        "its session. Failures are UNAUTHENTICATED errors.",
    )
    logout: bool = strawberry.mutation(
        resolver=audited(Action.AUTH_LOGOUT)(signin.logout),
        permission_classes=[IsAuthenticated],
        description="End the current session.",
    )
    update_profile: UpdateUserResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_UPDATE_PROFILE)(account.update_profile),
        permission_classes=[IsAuthenticated],
        description="Change name, time zone, language.",
    )
    update_notification_preferences: UpdateUserResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_UPDATE_NOTIFICATIONS)(account.update_notification_preferences),
        permission_classes=[IsAuthenticated],
        description="Change notification choices.",
    )
    change_password: ChangePasswordResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_CHANGE_PASSWORD)(account.change_password),
        permission_classes=[IsAuthenticated],
        description="Change the password; ends every other session.",
    )
    enable_two_factor: TwoFactorSetupResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_TWO_FACTOR_SETUP)(account.enable_two_factor),
        permission_classes=[IsAuthenticated],
        description="Begin two-factor setup: a new TOTP secret, active once confirmed.",
    )
    confirm_two_factor: TwoFactorChangeResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_TWO_FACTOR_ENABLE)(account.confirm_two_factor),
        permission_classes=[IsAuthenticated],
        description="Turn two-factor on with a code from the new secret.",
    )
    disable_two_factor: TwoFactorChangeResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_TWO_FACTOR_DISABLE)(account.disable_two_factor),
        permission_classes=[IsAuthenticated],
        description="Turn two-factor off with a current code.",
    )
    revoke_session: RevokeSessionResult = strawberry.mutation(
        resolver=audited(Action.ACCOUNT_REVOKE_SESSION)(account.revoke_session),
        permission_classes=[IsAuthenticated],
        description="End one of your sessions.",
    )
    approve_user: AdminUserResult = strawberry.mutation(
        resolver=audited(Action.ADMIN_APPROVE_USER)(admin.approve_user),
        permission_classes=[IsAdmin],
        description="Admin: make a PENDING or SUSPENDED account ACTIVE.",
    )
    suspend_user: AdminUserResult = strawberry.mutation(
        resolver=audited(Action.ADMIN_SUSPEND_USER)(admin.suspend_user),
        permission_classes=[IsAdmin],
        description="Admin: block an account and end its sessions (its open sockets close within seconds).",
    )
    set_user_role: AdminUserResult = strawberry.mutation(
        resolver=audited(Action.ADMIN_SET_USER_ROLE)(admin.set_user_role),
        permission_classes=[IsAdmin],
        description="Admin: change a user's role.",
    )
    delete_user: DeleteUserResult = strawberry.mutation(
        resolver=audited(Action.ADMIN_DELETE_USER)(admin.delete_user),
        permission_classes=[IsAdmin],
        description="Admin: delete an account (never the last active admin).",
    )
