"""Identity: users, their sign-in sessions, refresh tokens and wallet sign-in nonces."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    ADMIN = "ADMIN"
    TRADER = "TRADER"
    VIEWER = "VIEWER"


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    SUSPENDED = "SUSPENDED"


class AuthMethod(StrEnum):
    PASSWORD = "PASSWORD"
    WALLET = "WALLET"


class User(Model):
    """An account. Signs in by email and password, by an Ethereum wallet, or both."""

    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True, null=True)
    password_hash = fields.CharField(max_length=255, null=True)
    wallet_address = fields.CharField(max_length=42, unique=True, null=True)
    name = fields.CharField(max_length=100, default="")
    role = fields.CharEnumField(Role, max_length=16, default=Role.TRADER)
    status = fields.CharEnumField(UserStatus, max_length=16, default=UserStatus.ACTIVE)
    # TOTP secrets are encrypted with a key derived from SECRET_KEY (graphql_api.crypto).
    totp_secret = fields.CharField(max_length=255, null=True)
    totp_pending_secret = fields.CharField(max_length=255, null=True)
    totp_last_step = fields.BigIntField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    language = fields.CharField(max_length=16, default="en")
    notification_preferences: Any = fields.JSONField(default=dict)
    referral_code = fields.CharField(max_length=16, unique=True)
    referred_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "trading.User", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    referred_by_id: str | None
    suspended_reason = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class Session(Model):
    """One signed-in device. Its refresh tokens rotate, and reusing a rotated one revokes it."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "trading.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: str
    method = fields.CharEnumField(AuthMethod, max_length=16)
    device = fields.CharField(max_length=200, default="")
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=100, null=True)

    class Meta:
        table = "sessions"
        indexes = (("user_id", "revoked_at"),)


class RefreshToken(Model):
    """A refresh token, stored only as its SHA-256. used_at is set when it is rotated."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "trading.Session", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    session_id: str
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"


class WalletNonce(Model):
    """A single-use Sign-In with Ethereum challenge: the exact message issued and when it expires."""

    nonce = fields.CharField(max_length=64, primary_key=True)
    address = fields.CharField(max_length=42, db_index=True)
    message = fields.TextField()
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    consumed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "wallet_nonces"


# Every notification choice and its value for a user who never changed it.
NOTIFICATION_DEFAULTS: dict[str, bool] = {
    "email": True,
    "push": False,
    "order_fills": True,
    "price_alerts": True,
    "bot_events": True,
    "compliance_alerts": True,
    "system_announcements": True,
}
