"""Identity types: users, sessions, tokens, wallet challenges, two-factor setup, and their results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import to_global_id
from graphql_api.services.alerts import channels as alert_channels
from models import alerts as a
from models import identity as m

from .alerts import AlertCategory
from .common import InvalidInput, Node, NotFound, UserError, enum_from

# Typed as the model enums they are made from (same names and values); at run time, the GraphQL enums.
if TYPE_CHECKING:
    from models.identity import AuthMethod, Role, UserStatus
else:
    Role = enum_from(
        m.Role,
        "What a user may do. ADMIN > TRADER > VIEWER.",
        {
            "ADMIN": "Everything, including user management and the global kill switch.",
            "TRADER": "Reads and trades their own accounts.",
            "VIEWER": "Reads their own data; cannot trade.",
        },
    )
    UserStatus = enum_from(
        m.UserStatus,
        "Whether an account may sign in.",
        {
            "ACTIVE": "May sign in.",
            "PENDING": "Registered, awaiting an admin's approval.",
            "SUSPENDED": "Blocked by an admin; every session was ended.",
        },
    )
    AuthMethod = enum_from(
        m.AuthMethod,
        "How a session was signed in.",
        {
            "PASSWORD": "Email and password (and TOTP when enabled).",
            "WALLET": "Sign-In with Ethereum (EIP-4361).",
        },
    )


@strawberry.type(
    description="Where the alerts of one category go. CRITICAL and SECURITY alerts go to every channel you have, "
    "whatever these say."
)
class CategoryChannels:
    category: AlertCategory = strawberry.field(description="The alert category.")
    in_app: bool = strawberry.field(
        description="Streamed on alertRaised and counted unread (off: kept, but written read and not streamed)."
    )
    webhook: bool = strawberry.field(description="Posted to each of your active webhooks.")
    email: bool = strawberry.field(description="Emailed to your address (the email choice must be on too).")


@strawberry.input(description="Channels of one category to change; omitted ones stay as they are.")
class CategoryChannelsInput:
    category: AlertCategory = strawberry.field(description="The alert category.")
    in_app: bool | None = strawberry.field(default=None, description="In the app (alertRaised, unread count).")
    webhook: bool | None = strawberry.field(default=None, description="To your webhooks.")
    email: bool | None = strawberry.field(default=None, description="By email.")


@strawberry.type(description="Which notifications a user wants, and where.")
class NotificationPreferences:
    email: bool = strawberry.field(description="Send notifications by email.")
    push: bool = strawberry.field(description="Send push notifications.")
    order_fills: bool = strawberry.field(description="Notify when orders fill.")
    price_alerts: bool = strawberry.field(description="Notify when price alerts trigger.")
    bot_events: bool = strawberry.field(description="Notify on bot state changes.")
    compliance_alerts: bool = strawberry.field(description="Notify on compliance violations.")
    system_announcements: bool = strawberry.field(description="Receive platform announcements.")
    channels: list[CategoryChannels] = strawberry.field(
        description="Every alert category with the channels it goes to (the coarse choices above still apply: "
        "a category's choice off keeps it in the app; email off stops every email)."
    )

    @classmethod
    def from_stored(cls, stored: dict[str, object]) -> NotificationPreferences:
        defaults = m.NOTIFICATION_DEFAULTS | {k: bool(v) for k, v in stored.items() if k in m.NOTIFICATION_DEFAULTS}
        cells = alert_channels.matrix(stored)
        rows = [
            CategoryChannels(
                category=AlertCategory[category.name],
                in_app=on[a.NotificationChannel.IN_APP],
                webhook=on[a.NotificationChannel.WEBHOOK],
                email=on[a.NotificationChannel.EMAIL],
            )
            for category, on in cells.items()
        ]
        return cls(**defaults, channels=rows)


@strawberry.type(description="An account on the platform.")
class User(Node):
    email: str | None = strawberry.field(
        description="Sign-in email (normalised to lower case); null for wallet-only accounts."
    )
    name: str = strawberry.field(description="Display name.")
    wallet_address: str | None = strawberry.field(description="EIP-55 checksummed Ethereum address, if linked.")
    role: Role = strawberry.field(description="What the user may do.")
    status: UserStatus = strawberry.field(description="Whether the user may sign in.")
    two_factor_enabled: bool = strawberry.field(description="Sign-in with a password also requires a TOTP code.")
    timezone: str = strawberry.field(description="IANA time zone for displaying times, e.g. Europe/Zurich.")
    language: str = strawberry.field(description="Preferred language (BCP 47 tag, e.g. en or de-CH).")
    notification_preferences: NotificationPreferences = strawberry.field(description="Notification choices.")
    referral_code: str = strawberry.field(description="This user's own code to refer others.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    last_login_at: datetime | None = strawberry.field(description="When the user last signed in.")

    @classmethod
    def from_model(cls, row: m.User) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            email=row.email,
            name=row.name,
            wallet_address=row.wallet_address,
            role=Role(row.role),
            status=UserStatus(row.status),
            two_factor_enabled=row.totp_secret is not None,
            timezone=row.timezone,
            language=row.language,
            notification_preferences=NotificationPreferences.from_stored(row.notification_preferences or {}),
            referral_code=row.referral_code,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


@strawberry.type(description="A signed-in device of the current user.")
class Session(Node):
    method: AuthMethod = strawberry.field(description="How it signed in.")
    device: str = strawberry.field(description="Device name, given at sign-in or derived from the user agent.")
    ip: str = strawberry.field(description="Client address at sign-in.")
    user_agent: str = strawberry.field(description="User agent at sign-in.")
    created_at: datetime = strawberry.field(description="When it signed in.")
    last_seen_at: datetime = strawberry.field(description="Last activity; idle sessions expire.")
    expires_at: datetime = strawberry.field(description="Absolute expiry of its refresh token.")
    current: bool = strawberry.field(description="This is the session making the request.")

    @classmethod
    def from_model(cls, row: m.Session, current_session_id: str | None) -> Session:
        return cls(
            id=strawberry.ID(to_global_id("Session", row.id)),
            method=AuthMethod(row.method),
            device=row.device,
            ip=row.ip,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            current=str(row.id) == current_session_id,
        )


@strawberry.type(description="Signed in: tokens for apps (browsers also receive them as HttpOnly cookies).")
class AuthPayload:
    access_token: str = strawberry.field(description="Short-lived JWT: send as `Authorization: Bearer <token>`.")
    access_token_expires_at: datetime = strawberry.field(description="When the access token expires.")
    refresh_token: str = strawberry.field(
        description="Opaque, single-use: exchange with `refreshToken` for new tokens."
    )
    refresh_token_expires_at: datetime = strawberry.field(description="When the session ends at the latest.")
    token_type: str = strawberry.field(description="Always Bearer.")
    user: User = strawberry.field(description="The signed-in user.")
    session: Session = strawberry.field(description="The new session.")


@strawberry.type(description="Registered; an admin must approve the account before it can sign in.")
class RegistrationPending:
    message: str = strawberry.field(description="What happens next.")
    email: str = strawberry.field(description="The registered email.")


@strawberry.type(description="Email or password is wrong (which one is not disclosed).")
class InvalidCredentials(UserError):
    pass


@strawberry.type(description="The account has two-factor authentication: repeat the sign-in with `totpCode`.")
class TwoFactorRequired(UserError):
    pass


@strawberry.type(description="The TOTP code is wrong, expired or already used.")
class InvalidTwoFactorCode(UserError):
    pass


@strawberry.type(description="The account exists but may not sign in (pending approval or suspended).")
class AccountNotActive(UserError):
    status: UserStatus = strawberry.field(description="The account's status.")


@strawberry.type(description="The wallet signature, message or nonce was not accepted.")
class InvalidSignature(UserError):
    pass


@strawberry.type(description="A Sign-In with Ethereum (EIP-4361) message to sign with the wallet (personal_sign).")
class WalletChallenge:
    address: str = strawberry.field(description="The checksummed address the message is for.")
    nonce: str = strawberry.field(description="Single-use nonce embedded in the message.")
    message: str = strawberry.field(description="The exact text to sign.")
    issued_at: datetime = strawberry.field(description="When the challenge was issued.")
    expires_at: datetime = strawberry.field(description="After this the signature is refused.")


@strawberry.type(description="A new TOTP secret to put in an authenticator app; confirm it with a code to enable.")
class TwoFactorSetup:
    secret: str = strawberry.field(description="Base32 TOTP secret.")
    otpauth_url: str = strawberry.field(description="otpauth:// URL for QR codes.")


@strawberry.type(description="The user after the change.")
class UserUpdated:
    user: User = strawberry.field(description="The updated user.")


@strawberry.type(description="The password was changed; every other session was ended.")
class PasswordChanged:
    user: User = strawberry.field(description="The user.")
    revoked_sessions: int = strawberry.field(description="How many other sessions were ended.")


@strawberry.type(description="The session was ended.")
class SessionRevoked:
    session: Session = strawberry.field(description="The ended session.")


@strawberry.type(description="The user was deleted.")
class UserDeleted:
    id: strawberry.ID = strawberry.field(description="Global ID the user had.")


@strawberry.type(description="Number of users with one role.")
class RoleCount:
    role: Role = strawberry.field(description="The role.")
    count: int = strawberry.field(description="Users with it.")


@strawberry.type(description="Number of users in one status.")
class StatusCount:
    status: UserStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="Users in it.")


@strawberry.type(description="Platform-wide user statistics for admins.")
class AdminStats:
    total_users: int = strawberry.field(description="All accounts.")
    by_role: list[RoleCount] = strawberry.field(description="Accounts per role.")
    by_status: list[StatusCount] = strawberry.field(description="Accounts per status.")
    active_sessions: int = strawberry.field(description="Sessions not revoked, not expired and not idle.")


@strawberry.input(description="A new account with email and password.")
class RegisterInput:
    email: str = strawberry.field(description="Email; case-insensitive and unique.")
    password: str = strawberry.field(description="10 to 128 characters with at least one letter and one digit.")
    name: str = strawberry.field(description="Display name, 1 to 100 characters.")
    referral_code: str | None = strawberry.field(
        default=None, description="The referral code of the user who referred you (checkReferralCode checks one)."
    )


@strawberry.input(description="Sign in with email and password.")
class LoginInput:
    email: str = strawberry.field(description="Account email.")
    password: str = strawberry.field(description="Account password.")
    totp_code: str | None = strawberry.field(default=None, description="Current TOTP code, when 2FA is enabled.")
    device: str | None = strawberry.field(default=None, description="Name for this device in the session list.")


@strawberry.input(description="A signed Sign-In with Ethereum message.")
class WalletVerifyInput:
    address: str = strawberry.field(description="The wallet address, any letter case.")
    signature: str = strawberry.field(description="0x-prefixed personal_sign signature of the challenge message.")
    message: str | None = strawberry.field(
        default=None,
        description="The signed message, as returned by walletChallenge. Omit to use the latest issued challenge.",
    )
    referral_code: str | None = strawberry.field(default=None, description="Referral code, on first sign-in.")
    device: str | None = strawberry.field(default=None, description="Name for this device in the session list.")


@strawberry.input(description="Profile fields to change; omitted fields stay as they are.")
class UpdateProfileInput:
    name: str | None = strawberry.field(default=None, description="Display name, 1 to 100 characters.")
    timezone: str | None = strawberry.field(default=None, description="IANA time zone, e.g. America/New_York.")
    language: str | None = strawberry.field(default=None, description="BCP 47 language tag, e.g. en or pt-BR.")


@strawberry.input(description="Notification choices to change; omitted ones stay as they are.")
class NotificationPreferencesInput:
    email: bool | None = strawberry.field(default=None, description="Send notifications by email.")
    push: bool | None = strawberry.field(default=None, description="Send push notifications.")
    order_fills: bool | None = strawberry.field(default=None, description="Notify when orders fill.")
    price_alerts: bool | None = strawberry.field(default=None, description="Notify when price alerts trigger.")
    bot_events: bool | None = strawberry.field(default=None, description="Notify on bot state changes.")
    compliance_alerts: bool | None = strawberry.field(default=None, description="Notify on compliance violations.")
    system_announcements: bool | None = strawberry.field(default=None, description="Receive announcements.")
    channels: list[CategoryChannelsInput] | None = strawberry.field(
        default=None, description="Channels per alert category, cell by cell."
    )


@strawberry.input(description="Change the password; every other session is ended.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The current password.")
    new_password: str = strawberry.field(description="The new password (same rules as at registration).")


@strawberry.input(description="Which users to list.")
class UserFilter:
    role: Role | None = strawberry.field(default=None, description="Only users with this role.")
    status: UserStatus | None = strawberry.field(default=None, description="Only users in this status.")
    search: str | None = strawberry.field(default=None, description="Substring of email, name or wallet address.")


@strawberry.input(description="Suspend a user: blocks sign-in and ends every session at once.")
class SuspendUserInput:
    id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    reason: str = strawberry.field(description="Why, for the audit log (1 to 500 characters).")


@strawberry.input(description="Give a user another role.")
class SetUserRoleInput:
    id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    role: Role = strawberry.field(description="The new role.")


RegisterResult = Annotated[
    AuthPayload | RegistrationPending | InvalidInput,
    strawberry.union("RegisterResult", description="Signed in, awaiting approval, or why not."),
]
LoginResult = Annotated[
    AuthPayload | InvalidCredentials | TwoFactorRequired | InvalidTwoFactorCode | AccountNotActive | InvalidInput,
    strawberry.union("LoginResult", description="Signed in, or why not."),
]
WalletVerifyResult = Annotated[
    AuthPayload | InvalidSignature | AccountNotActive | InvalidInput,
    strawberry.union("WalletVerifyResult", description="Signed in with the wallet, or why not."),
]
TwoFactorSetupResult = Annotated[
    TwoFactorSetup | InvalidInput,
    strawberry.union("TwoFactorSetupResult", description="A secret to confirm, or why not."),
]
TwoFactorChangeResult = Annotated[
    UserUpdated | InvalidTwoFactorCode | InvalidInput,
    strawberry.union("TwoFactorChangeResult", description="Two-factor state changed, or why not."),
]
UpdateUserResult = Annotated[
    UserUpdated | InvalidInput,
    strawberry.union("UpdateUserResult", description="The updated user, or the invalid field."),
]
ChangePasswordResult = Annotated[
    PasswordChanged | InvalidCredentials | InvalidInput,
    strawberry.union("ChangePasswordResult", description="Password changed, or why not."),
]
RevokeSessionResult = Annotated[
    SessionRevoked | NotFound,
    strawberry.union("RevokeSessionResult", description="The ended session, or not found among yours."),
]
AdminUserResult = Annotated[
    UserUpdated | NotFound | InvalidInput,
    strawberry.union("AdminUserResult", description="The changed user, or why not."),
]
DeleteUserResult = Annotated[
    UserDeleted | NotFound | InvalidInput,
    strawberry.union("DeleteUserResult", description="The deleted user's ID, or why not."),
]
