"""The kill switch: its state per scope and the history of its changes."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class KillScope(StrEnum):
    GLOBAL = "GLOBAL"
    ACCOUNT = "ACCOUNT"


class KillLevel(StrEnum):
    BLOCK_ENTRIES = "BLOCK_ENTRIES"  # only risk-reducing orders; working orders stay
    CANCEL_ALL = "CANCEL_ALL"  # also cancel every working order
    FLATTEN = "FLATTEN"  # also close every position at market


class KillSwitch(Model):
    """The state of one kill switch: the GLOBAL one (seeded) or the ACCOUNT switch of one user."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharEnumField(KillScope, max_length=8)
    user_id = fields.UUIDField(null=True, unique=True)
    active = fields.BooleanField(default=False)
    level = fields.CharEnumField(KillLevel, max_length=16, default=KillLevel.CANCEL_ALL, db_default="CANCEL_ALL")
    reason = fields.CharField(max_length=500, default="")
    changed_by = fields.UUIDField(null=True)
    changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "kill_switches"


class KillSwitchEvent(Model):
    """History: each activation and deactivation, with what it did."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharEnumField(KillScope, max_length=8)
    user_id = fields.UUIDField(null=True, db_index=True)
    active = fields.BooleanField()
    level = fields.CharEnumField(KillLevel, max_length=16, default=KillLevel.CANCEL_ALL, db_default="CANCEL_ALL")
    reason = fields.CharField(max_length=500, default="")
    actor_id = fields.UUIDField(null=True)
    cancelled_orders = fields.IntField(default=0)
    closing_orders = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kill_switch_events"
