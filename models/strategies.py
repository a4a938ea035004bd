"""Strategies: a type with its validated parameters, owned by a user."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class StrategyType(StrEnum):
    TREND_FOLLOWING = "TREND_FOLLOWING"
    MEAN_REVERSION = "MEAN_REVERSION"
    GRID = "GRID"
    MARKET_MAKING = "MARKET_MAKING"
    ARBITRAGE = "ARBITRAGE"


class StrategyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    TESTING = "TESTING"


class Strategy(Model):
    """A user strategy: its type, validated parameters (stored as strings and integers) and status."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    type = fields.CharEnumField(StrategyType, max_length=16)
    status = fields.CharEnumField(StrategyStatus, max_length=8, default=StrategyStatus.INACTIVE)
    parameters: Any = fields.JSONField(default=dict)
    # The latest backtest that finished DONE: the strategy performance shown.
    latest_backtest_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "strategies"
