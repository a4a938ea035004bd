"""Compliance: admin-managed rules, the violations they raise, and the dead-man switches of users."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money


class RuleType(StrEnum):
    POSITION_LIMIT = "POSITION_LIMIT"
    RISK_LIMIT = "RISK_LIMIT"
    ORDER_RATE = "ORDER_RATE"
    EXCESSIVE_CANCELS = "EXCESSIVE_CANCELS"
    WASH_TRADE = "WASH_TRADE"
    RESTRICTED_INSTRUMENT = "RESTRICTED_INSTRUMENT"
    TRADING_HOURS = "TRADING_HOURS"


class Enforcement(StrEnum):
    HARD = "HARD"  # refuses the order before it is written
    SOFT = "SOFT"  # lets it through and raises a violation


class RuleScope(StrEnum):
    PLATFORM = "PLATFORM"
    VENUE = "VENUE"
    ACCOUNT = "ACCOUNT"


class ViolationSeverity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class ViolationStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class ReportPeriod(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


class ComplianceRule(Model):
    """One compliance rule: its kind, how it is enforced, what it covers and its thresholds."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100)
    type = fields.CharEnumField(RuleType, max_length=24)
    enforcement = fields.CharEnumField(Enforcement, max_length=4)
    severity = fields.CharEnumField(ViolationSeverity, max_length=8)
    scope = fields.CharEnumField(RuleScope, max_length=8)
    venue_id = fields.CharField(max_length=32, null=True)
    account_id = fields.UUIDField(null=True, db_index=True)
    symbol = fields.CharField(max_length=32, null=True)
    symbols: Any = fields.JSONField(default=list)
    max_quantity = money(null=True)
    max_notional = money(null=True)
    max_daily_loss = money(null=True)
    max_count = fields.IntField(null=True)
    window_seconds = fields.IntField(null=True)
    start_minute = fields.IntField(null=True)
    end_minute = fields.IntField(null=True)
    active = fields.BooleanField(default=True)
    created_by = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "compliance_rules"


class ComplianceViolation(Model):
    """A breach of a SOFT rule, raised after the fact, and its handling."""

    id = fields.UUIDField(primary_key=True)
    rule_id = fields.UUIDField(null=True)
    rule_name = fields.CharField(max_length=100)
    type = fields.CharEnumField(RuleType, max_length=24)
    severity = fields.CharEnumField(ViolationSeverity, max_length=8)
    status = fields.CharEnumField(ViolationStatus, max_length=12, default=ViolationStatus.OPEN)
    user_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField(null=True)
    order_id = fields.UUIDField(null=True)
    bot_id = fields.CharField(max_length=64, null=True)
    venue = fields.CharField(max_length=32, null=True)
    symbol = fields.CharField(max_length=32, null=True)
    description = fields.TextField()
    recommendation = fields.TextField()
    detected_at = fields.DatetimeField(auto_now_add=True)
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by = fields.UUIDField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.UUIDField(null=True)
    resolution_note = fields.TextField(default="")
    # Published on the bus by the feed leader after the transaction that raised it committed (an outbox).
    published = fields.BooleanField(default=False, db_index=True)

    class Meta:
        table = "compliance_violations"
        indexes = (("user_id", "detected_at"),)


class RiskBaseline(Model):
    """The realized result of a venue account at its first check of a UTC day, the base of its daily loss."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField()
    day = fields.CharField(max_length=10)
    realized = money()

    class Meta:
        table = "compliance_risk_baselines"
        unique_together = (("account_id", "day"),)


class DeadMansSwitch(Model):
    """The scheduled cancel of a user: without a heartbeat before expires_at, every working order is cancelled."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.UUIDField(unique=True)
    armed = fields.BooleanField(default=False)
    timeout_seconds = fields.IntField(default=0)
    armed_at = fields.DatetimeField(null=True)
    last_heartbeat_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True, db_index=True)
    triggered_at = fields.DatetimeField(null=True)
    trigger_day = fields.CharField(max_length=10, default="")
    triggers_today = fields.IntField(default=0)
    cancelled_orders = fields.IntField(default=0)

    class Meta:
        table = "dead_mans_switches"
