"""API keys: long-lived, scoped credentials for services and bots, stored only as a hash."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class ApiScope(StrEnum):
    READ = "READ"
    TRADE = "TRADE"


class ApiKey(Model):
    """A user API key: the SHA-256 of its secret, its scopes, optional address allow-list and expiry."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    name = fields.CharField(max_length=100)
    # The first characters of the key, shown in lists so a user can tell keys apart.
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    scopes: Any = fields.JSONField(default=list)
    allowed_ips: Any = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"
