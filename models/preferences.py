"""Trading preferences of a user: defaults for new orders, confirmation threshold and a self-imposed limit."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .fields import money
from .orders import OrderType, TimeInForce


class TradingSettings(Model):
    """A user trading defaults, confirmation threshold and self-imposed max order notional (enforced pre-trade)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.UUIDField(unique=True)
    default_account_id = fields.UUIDField(null=True)
    default_order_type = fields.CharEnumField(OrderType, max_length=16, default=OrderType.LIMIT)
    default_time_in_force = fields.CharEnumField(TimeInForce, max_length=4, default=TimeInForce.GTC)
    confirm_above_notional = money(null=True)
    max_order_notional = money(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "trading_settings"
