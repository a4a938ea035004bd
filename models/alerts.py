"""Alerts: notifications raised for users (or for every admin)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Alert(Model):
    """A notification for one user (or for every admin when user_id is null)."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(null=True, db_index=True)
    type = fields.CharField(max_length=32)
    category = fields.CharField(max_length=32)
    severity = fields.CharEnumField(Severity, max_length=8)
    title = fields.CharField(max_length=200)
    message = fields.TextField()
    source = fields.CharField(max_length=64, default="")
    read_at = fields.DatetimeField(null=True)
    acknowledged_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alerts"
