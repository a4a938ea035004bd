"""Preferences of a user beyond the profile: display, defaults for new orders, a confirmation threshold and a
self-imposed limit on order size."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from .fields import money
from .orders import OrderType, TimeInForce


class Theme(StrEnum):
    SYSTEM = "SYSTEM"
    LIGHT = "LIGHT"
    DARK = "DARK"


class Preferences(Model):
    """A user display and trading preferences. max_order_notional is enforced by the pre-trade checks."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.UUIDField(unique=True)
    theme = fields.CharEnumField(Theme, max_length=8, default=Theme.SYSTEM)
    display_currency = fields.CharField(max_length=8, default="USD")
    default_account_id = fields.UUIDField(null=True)
    default_order_type = fields.CharEnumField(OrderType, max_length=16, default=OrderType.LIMIT)
    default_time_in_force = fields.CharEnumField(TimeInForce, max_length=4, default=TimeInForce.GTC)
    confirm_above_notional = money(null=True)
    max_order_notional = money(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "user_preferences"
