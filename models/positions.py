"""Positions: the net holding of one instrument in one account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money


class Position(Model):
    """Net holding of one instrument in one account, derived from its fills."""

    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="positions", on_delete=fields.CASCADE
    )
    account_id: Any
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    quantity = money(default=Decimal(0))
    reserved_quantity = money(default=Decimal(0))
    average_entry_price = money(default=Decimal(0))
    # Exact cost of the quantity held (buys add price x quantity, sells remove average x quantity).
    cost_basis = money(default=Decimal(0))
    realized_pnl = money(default=Decimal(0))
    fees = money(default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "positions"
        unique_together = (("account", "symbol"),)
