"""Trading sessions (Alura): a session trades one asset of a perp account within a budget until its profit
target, its loss threshold or its duration ends it. A trade is one run of the session in the market (from
its first entry until it is flat again); its positions are the lots the engine opened, each by its own order.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class SessionKind(StrEnum):
    QUICK = "QUICK"
    ADVANCED = "ADVANCED"


class ExecutionStrategy(StrEnum):
    CONSERVATIVE = "CONSERVATIVE"
    AGGRESSIVE = "AGGRESSIVE"
    DEGEN = "DEGEN"


class StrategyDuration(StrEnum):
    D1 = "D1"
    D3 = "D3"
    D7 = "D7"
    D30 = "D30"
    D90 = "D90"
    D365 = "D365"


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class EndReason(StrEnum):
    PROFIT_TARGET = "PROFIT_TARGET"
    LOSS_THRESHOLD = "LOSS_THRESHOLD"
    DURATION = "DURATION"
    CLOSED_BY_USER = "CLOSED_BY_USER"


class TradeSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


class LotStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class LogKind(StrEnum):
    SESSION_STARTED = "SESSION_STARTED"
    SIGNAL = "SIGNAL"
    POSITION_OPENED = "POSITION_OPENED"
    POSITION_CLOSED = "POSITION_CLOSED"
    SKIPPED = "SKIPPED"
    TRADE_CLOSED = "TRADE_CLOSED"
    SESSION_ENDED = "SESSION_ENDED"


class TradingSession(Model):
    """One session of one user on one asset of a Hyperliquid paper account. While ACTIVE, active_asset holds
    the asset index, and (user, active_asset) is unique: one active session per asset per user, held by the
    database even when two requests race."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(db_index=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="trading_sessions", on_delete=fields.CASCADE
    )
    account_id: Any
    kind = fields.CharEnumField(SessionKind, max_length=8)
    asset_index = fields.IntField()
    symbol = fields.CharField(max_length=32)
    budget = money()
    # Percent of the budget: the session ends when its PnL reaches +profit_target or -loss_threshold.
    profit_target = money()
    loss_threshold = money()
    max_positions = fields.IntField()
    execution_strategy = fields.CharEnumField(ExecutionStrategy, max_length=12)
    strategy_duration = fields.CharEnumField(StrategyDuration, max_length=4, null=True)
    max_wallet_budget = fields.BooleanField(default=False)
    leverage = fields.IntField()
    status = fields.CharEnumField(SessionStatus, max_length=8, default=SessionStatus.ACTIVE)
    end_reason = fields.CharEnumField(EndReason, max_length=16, null=True)
    active_asset = fields.IntField(null=True)
    last_signal = fields.CharField(max_length=4, null=True)
    # A pass of the engine claims the session until then, so two passes never act on it at once.
    claimed_until = fields.DatetimeField(null=True)
    # The lease (as bots'): the process named by runner watches the session's ticks until lease_until.
    runner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    # Open time of the signal candle the engine last decided on: a new lot needs a newer one.
    signal_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "trading_sessions"
        unique_together = (("user_id", "active_asset"),)
        indexes = [Index(fields=["status", "id"])]


class SessionTrade(Model):
    """A session's run in the market: opened by its first position, closed when its last position closes."""

    id = fields.UUIDField(primary_key=True)
    session: fields.ForeignKeyRelation[TradingSession] = fields.ForeignKeyField(
        "trading.TradingSession", related_name="trades", on_delete=fields.CASCADE
    )
    session_id: Any
    user_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField()
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(TradeSide, max_length=5)
    status = fields.CharEnumField(LotStatus, max_length=8, default=LotStatus.OPEN)
    close_reason = fields.CharField(max_length=200, null=True)
    opened_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "trading_session_trades"


class SessionPosition(Model):
    """A lot the session engine opened with one market order and closes with one reduce-only order. Its
    entry and exit prices and fees are those of the orders fills."""

    id = fields.UUIDField(primary_key=True)
    trade: fields.ForeignKeyRelation[SessionTrade] = fields.ForeignKeyField(
        "trading.SessionTrade", related_name="positions", on_delete=fields.CASCADE
    )
    trade_id: Any
    session_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField()
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(TradeSide, max_length=5)
    size = money()
    entry_price = money()
    open_order_id = fields.UUIDField()
    open_fees = money(default=Decimal(0))
    # The feed step whose book filled the opening order: the engine checks exits from the next one on.
    open_step = fields.BigIntField(null=True)
    status = fields.CharEnumField(LotStatus, max_length=8, default=LotStatus.OPEN)
    exit_price = money(null=True)
    close_order_id = fields.UUIDField(null=True)
    close_fees = money(default=Decimal(0))
    realized_pnl = money(default=Decimal(0))
    close_reason = fields.CharField(max_length=200, null=True)
    # The one close-signature request outstanding: its nonce and deadline (EIP-712, see the services).
    close_nonce = fields.CharField(max_length=66, null=True)
    close_deadline = fields.BigIntField(null=True)
    opened_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "trading_session_positions"


class SessionLog(Model):
    """One decision of a session, with its reason: what the engine or the user did, or chose not to do."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[TradingSession] = fields.ForeignKeyField(
        "trading.TradingSession", related_name="logs", on_delete=fields.CASCADE
    )
    session_id: Any
    trade_id = fields.UUIDField(null=True)
    kind = fields.CharEnumField(LogKind, max_length=16)
    message = fields.CharField(max_length=500)
    detail: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trading_session_logs"
        indexes = [Index(fields=["session_id", "id"]), Index(fields=["trade_id", "id"])]
