"""Bots: a user's strategy running on one of their venue accounts, its lease, and its log."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money
from .venues import Environment


class BotStatus(StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    PAUSED = "PAUSED"
    ERROR = "ERROR"


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Bot(Model):
    """A bot: which strategy trades which venue account, within which risk settings, and who runs it now.

    runner and lease_until are the lease: the process named by runner drives the bot until lease_until and
    renews it while alive; a RUNNING bot whose lease lapsed is taken over by another process."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    name = fields.CharField(max_length=100)
    strategy_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField(db_index=True)
    route_via = fields.CharField(max_length=100, null=True)
    environment = fields.CharEnumField(Environment, max_length=8)
    risk_level = fields.CharEnumField(RiskLevel, max_length=8)
    allocated_capital = money()
    max_position_size = money()
    stop_loss = money(null=True)
    take_profit = money(null=True)
    trailing_stop = fields.BooleanField(default=False)
    risk_per_trade = money()
    allowed_pairs: Any = fields.JSONField(default=list)
    trading_start_minute = fields.IntField(null=True)
    trading_end_minute = fields.IntField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    rebalance_frequency = fields.CharField(max_length=16, default="NONE")
    interval = fields.CharField(max_length=8, default="1m")  # when the strategy decides: tick or a candle interval
    status = fields.CharEnumField(BotStatus, max_length=8, default=BotStatus.STOPPED)
    status_reason = fields.CharField(max_length=500, null=True)
    entries_stopped = fields.BooleanField(default=False)
    started_at = fields.DatetimeField(null=True)
    last_activity_at = fields.DatetimeField(null=True)
    runner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    state: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bots"
        indexes = (("status", "lease_until"),)


class BotLog(Model):
    """One structured line of a bot log, newest read first."""

    id = fields.BigIntField(primary_key=True)
    bot_id = fields.UUIDField()
    level = fields.CharEnumField(LogLevel, max_length=8)
    message = fields.CharField(max_length=500)
    detail: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "bot_logs"
        indexes = (("bot_id", "created_at"),)
