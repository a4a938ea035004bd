"""Alerts: notifications raised for users (or for every admin), the price alerts users set, and the outbox of
their deliveries to webhooks and email."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money


class AlertType(StrEnum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"
    SUCCESS = "SUCCESS"


class AlertCategory(StrEnum):
    SYSTEM = "SYSTEM"
    TRADING = "TRADING"
    COMPLIANCE = "COMPLIANCE"
    SECURITY = "SECURITY"
    PRICE = "PRICE"
    BOT = "BOT"


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Alert(Model):
    """A notification for one user (or for every admin when user_id is null)."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(null=True, db_index=True)
    type = fields.CharEnumField(AlertType, max_length=32)
    category = fields.CharEnumField(AlertCategory, max_length=32)
    severity = fields.CharEnumField(Severity, max_length=8)
    title = fields.CharField(max_length=200)
    message = fields.TextField()
    source = fields.CharField(max_length=64, default="")
    venue = fields.CharField(max_length=32, null=True)
    bot_id = fields.CharField(max_length=64, null=True)
    metadata: Any = fields.JSONField(default=dict)
    read_at = fields.DatetimeField(null=True)
    acknowledged_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Announced on the bus after its transaction committed (the producer, else the delivery sweep).
    published = fields.BooleanField(default=False, db_index=True)

    class Meta:
        table = "alerts"
        indexes = (("user_id", "created_at"),)


class PriceCondition(StrEnum):
    ABOVE = "ABOVE"
    BELOW = "BELOW"
    CROSSES = "CROSSES"
    PERCENT_CHANGE = "PERCENT_CHANGE"


class PriceAlertStatus(StrEnum):
    ACTIVE = "ACTIVE"
    TRIGGERED = "TRIGGERED"


class PriceAlert(Model):
    """A condition on an instrument mark that raises an alert on the tick that meets it.

    reference_price is the price the condition is judged against: the side of value it was on (CROSSES) or
    the base of the change (PERCENT_CHANGE, taken again each window). armed is false while a recurring
    ABOVE or BELOW alert waits for the price to leave the condition before it may fire again."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    condition = fields.CharEnumField(PriceCondition, max_length=16)
    value = money()
    window_seconds = fields.IntField(null=True)
    recurring = fields.BooleanField(default=False)
    note = fields.CharField(max_length=200, default="")
    status = fields.CharEnumField(PriceAlertStatus, max_length=12, default=PriceAlertStatus.ACTIVE)
    armed = fields.BooleanField(default=True)
    reference_price = money()
    reference_at = fields.DatetimeField()
    trigger_count = fields.IntField(default=0)
    # Bumped by every change (a firing, a re-arm, a new window, an edit): a firing claims the row by it.
    version = fields.IntField(default=0)
    last_triggered_at = fields.DatetimeField(null=True)
    last_triggered_price = money(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "price_alerts"
        indexes = (("symbol", "status"),)


class WebhookEndpoint(Model):
    """A URL that receives a user's alerts as signed POSTs. The signing secret is stored encrypted."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=200, default="")
    secret_encrypted = fields.TextField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_endpoints"


class NotificationChannel(StrEnum):
    """Where a user may receive alerts of a category: in the app (the alertRaised stream and the unread count),
    their webhooks, their email."""

    IN_APP = "IN_APP"
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class DeliveryChannel(StrEnum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class AlertDelivery(Model):
    """The outbox: one delivery of one alert to one channel, written in the alert transaction and drained by
    the delivery worker, which claims a row (claimed_until) before sending it."""

    id = fields.BigIntField(primary_key=True)
    alert_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(null=True, db_index=True)
    channel = fields.CharEnumField(DeliveryChannel, max_length=8)
    endpoint_id = fields.UUIDField(null=True)
    address = fields.CharField(max_length=2000, default="")
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alert_deliveries"
        indexes = (("status", "next_attempt_at"),)


class DeliveryAttempt(Model):
    """One try of a delivery: what the channel answered."""

    id = fields.BigIntField(primary_key=True)
    delivery_id = fields.BigIntField(db_index=True)
    attempt = fields.IntField()
    at = fields.DatetimeField(auto_now_add=True)
    ok = fields.BooleanField()
    status_code = fields.IntField(null=True)
    error = fields.TextField(default="")

    class Meta:
        table = "alert_delivery_attempts"
