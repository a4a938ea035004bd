"""The append-only audit log: who did what to which target, from where, with what outcome."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DENIED = "DENIED"


class AuditEntry(Model):
    """One audited action. Rows are only ever inserted (PostgreSQL enforces it with a trigger)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_id = fields.UUIDField(null=True, db_index=True)
    actor_label = fields.CharField(max_length=254, default="")
    action = fields.CharField(max_length=64, db_index=True)
    target_type = fields.CharField(max_length=32, default="")
    target_id = fields.CharField(max_length=64, default="", db_index=True)
    ip = fields.CharField(max_length=64, default="")
    # The request (X-Request-ID) that wrote the row: joins it to that request's log lines.
    request_id = fields.CharField(max_length=128, default="", db_index=True)
    outcome = fields.CharEnumField(Outcome, max_length=16)
    detail: Any = fields.JSONField(default=dict)

    class Meta:
        table = "audit_log"
