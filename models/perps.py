"""Perpetuals on the paper Hyperliquid venue: positions, per-asset leverage settings, funding, liquidations."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money


class MarginMode(StrEnum):
    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


class PerpSetting(Model):
    """Leverage and margin mode of one asset in one account, as updateLeverage last set them."""

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="perp_settings", on_delete=fields.CASCADE
    )
    account_id: Any
    symbol = fields.CharField(max_length=32)
    leverage = fields.IntField()
    margin_mode = fields.CharEnumField(MarginMode, max_length=8)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "perp_settings"
        unique_together = (("account", "symbol"),)


class PerpPosition(Model):
    """A perpetual position: signed size (long above zero, short below), entry, leverage and margin."""

    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="perp_positions", on_delete=fields.CASCADE
    )
    account_id: Any
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    size = money(default=Decimal(0))
    entry_price = money(default=Decimal(0))
    leverage = fields.IntField(default=1)
    margin_mode = fields.CharEnumField(MarginMode, max_length=8, default=MarginMode.CROSS)
    # Collateral set aside for an isolated position (reserved out of the account cash); zero when cross.
    isolated_margin = money(default=Decimal(0))
    realized_pnl = money(default=Decimal(0))
    fees = money(default=Decimal(0))
    # Funding paid (positive) or received (negative) since the position was last opened from flat.
    funding_paid = money(default=Decimal(0))
    last_price = money(default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "perp_positions"
        unique_together = (("account", "symbol"),)


class FundingPayment(Model):
    """One hourly funding settlement of one position: what was paid (positive) or received (negative)."""

    id = fields.BigIntField(primary_key=True)
    position: fields.ForeignKeyRelation[PerpPosition] = fields.ForeignKeyField(
        "trading.PerpPosition", related_name="funding_payments", on_delete=fields.CASCADE
    )
    position_id: Any
    account_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    size = money()
    oracle_price = money()
    premium = fields.DecimalField(max_digits=20, decimal_places=12)
    rate = fields.DecimalField(max_digits=20, decimal_places=12)
    amount = money()
    funding_time = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "perp_funding_payments"
        unique_together = (("position", "funding_time"),)


class FundingRound(Model):
    """A funding settlement of one instrument at one hour: written once, so a round is paid once in a cluster."""

    id = fields.BigIntField(primary_key=True)
    symbol = fields.CharField(max_length=32)
    funding_time = fields.DatetimeField()
    oracle_price = money()
    premium = fields.DecimalField(max_digits=20, decimal_places=12)
    rate = fields.DecimalField(max_digits=20, decimal_places=12)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "perp_funding_rounds"
        unique_together = (("symbol", "funding_time"),)


class Liquidation(Model):
    """A position closed by the liquidation engine, and who absorbed a shortfall."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    size = money()
    entry_price = money()
    mark_price = money()
    margin_mode = fields.CharEnumField(MarginMode, max_length=8)
    realized_pnl = money()
    # The part of the loss the account could not cover, paid by the insurance fund.
    insurance_covered = money(default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "perp_liquidations"
