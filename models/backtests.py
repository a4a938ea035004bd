"""Backtests: a strategy run over stored candles as a background job, its results and its trades."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from .fields import money
from .strategies import StrategyType


class BacktestStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINISHED = (BacktestStatus.DONE, BacktestStatus.FAILED, BacktestStatus.CANCELLED)


class Backtest(Model):
    """One run of a strategy over stored candles: the inputs as asked, the state of the job, the results."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    strategy_id = fields.UUIDField(db_index=True)
    strategy_type = fields.CharEnumField(StrategyType, max_length=16)
    parameters: Any = fields.JSONField(default=dict)
    symbols: Any = fields.JSONField(default=list)
    interval = fields.CharField(max_length=4)
    start = fields.DatetimeField()
    end = fields.DatetimeField()
    initial_capital = money()
    fee_rate = money()
    slippage = money()
    status = fields.CharEnumField(BacktestStatus, max_length=9, default=BacktestStatus.QUEUED)
    progress = fields.IntField(default=0)
    bars_total = fields.IntField(default=0)
    bars_done = fields.IntField(default=0)
    error = fields.TextField(default="")
    cancel_requested = fields.BooleanField(default=False)
    # Set by the worker while it runs: a RUNNING job whose heartbeat is stale lost its worker.
    heartbeat_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    metrics: Any = fields.JSONField(null=True)
    equity_curve: Any = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "backtests"
        indexes = (("user_id", "created_at"),)


class BacktestTrade(Model):
    """One closed (or, last, still open) lot of a backtest: FIFO from its entry fill to its exit fill."""

    id = fields.BigIntField(primary_key=True)
    backtest_id = fields.UUIDField()
    seq = fields.IntField()
    symbol = fields.CharField(max_length=32)
    quantity = money()
    entry_time = fields.DatetimeField()
    entry_price = money()
    exit_time = fields.DatetimeField(null=True)
    exit_price = money(null=True)
    fees = money()
    pnl = money(null=True)

    class Meta:
        table = "backtest_trades"
        unique_together = (("backtest_id", "seq"),)
