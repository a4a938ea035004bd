"""Bots: the bot, its configuration, its log, its performance, and the lifecycle results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import bots as b

from .common import InvalidInput, Node, NotFound, enum_from
from .killswitch import KillSwitchActive
from .venues import Environment

if TYPE_CHECKING:
    from models.bots import BotStatus
    from models.bots import LogLevel as BotLogLevel
    from models.bots import RiskLevel as BotRiskLevel
else:
    BotStatus = enum_from(
        b.BotStatus,
        "Where a bot is in its lifecycle.",
        {
            "RUNNING": "Trading: a process holds its lease and runs its strategy on every tick.",
            "STOPPED": "Not trading; its working orders were cancelled, its positions stay.",
            "PAUSED": "Not trading; its working orders stay. resumeBot continues.",
            "ERROR": "Stopped by a failure of its strategy (the reason is in statusReason and the log).",
        },
    )
    BotRiskLevel = enum_from(
        b.RiskLevel,
        "The risk profile the owner assigns (informational; the limits are in the configuration).",
        {"LOW": "Low.", "MEDIUM": "Medium.", "HIGH": "High."},
        name="BotRiskLevel",
    )
    BotLogLevel = enum_from(
        b.LogLevel,
        "Severity of a bot log line.",
        {
            "DEBUG": "Detail.",
            "INFO": "Normal activity: lifecycle, orders placed.",
            "WARNING": "Something refused (an order by a pre-trade check) or stopped from outside.",
            "ERROR": "A failure that put the bot in ERROR.",
        },
        name="BotLogLevel",
    )


@strawberry.enum(description="The window a bot's performance covers, ending now.")
class BotPerformancePeriod(Enum):
    DAY = strawberry.enum_value("DAY", description="The last 24 hours.")
    WEEK = strawberry.enum_value("WEEK", description="The last 7 days.")
    MONTH = strawberry.enum_value("MONTH", description="The last 30 days.")
    ALL = strawberry.enum_value("ALL", description="Since the bot was created.")


@strawberry.type(description="When a bot may open positions, in its owner's time zone.")
class TradingHours:
    start: str | None = strawberry.field(description="Start (HH:MM, inclusive); null: all day.")
    end: str | None = strawberry.field(description="End (HH:MM, exclusive); before start wraps past midnight.")
    timezone: str = strawberry.field(description="IANA time zone the hours are read in.")


@strawberry.type(description="A bot's risk settings, enforced by the bot engine on every tick.")
class BotConfiguration:
    max_position_size: Decimal = strawberry.field(description="Largest entry, in the quote asset.")
    stop_loss: Decimal | None = strawberry.field(
        description="Percent below the entry price (trailing: below the highest mark since entry) that closes."
    )
    take_profit: Decimal | None = strawberry.field(description="Percent above the entry price that closes.")
    trailing_stop: bool = strawberry.field(description="The stop trails the highest mark since entry.")
    risk_per_trade: Decimal = strawberry.field(
        description="Percent of allocatedCapital one entry may use (capped by maxPositionSize)."
    )
    allowed_pairs: list[str] = strawberry.field(description="The symbols it trades.")
    trading_hours: TradingHours = strawberry.field(description="When it may open positions (exits run always).")
    rebalance_frequency: str = strawberry.field(description="NONE, HOURLY, DAILY or WEEKLY.")
    interval: str = strawberry.field(
        description="When the strategy decides: `tick` (every feed tick, as a one-price candle) or a candle "
        "interval (1m, 5m, 15m, 1h, 4h, 1d: when a tick opens the next candle, on the one that closed)."
    )


@strawberry.type(description="A bot: a strategy trading one of its owner's venue accounts within risk settings.")
class Bot(Node):
    name: str = strawberry.field(description="Its name.")
    status: BotStatus = strawberry.field(description="RUNNING, STOPPED, PAUSED or ERROR.")
    status_reason: str | None = strawberry.field(description="Why it is stopped or in ERROR, when not by its owner.")
    entries_stopped: bool = strawberry.field(
        description="stopBotEntries: manages open positions to their exits but opens nothing new."
    )
    strategy_id: strawberry.ID = strawberry.field(description="Global ID of the strategy it runs.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account it trades.")
    venue: str = strawberry.field(description="The venue of that account.")
    route_via: str | None = strawberry.field(description="For tokenized venues: the intermediary routed through.")
    environment: Environment = strawberry.field(description="PAPER (LIVE needs a live venue adapter).")
    risk_level: BotRiskLevel = strawberry.field(description="Its risk profile.")
    allocated_capital: Decimal = strawberry.field(description="Capital assigned to it, in the quote asset.")
    configuration: BotConfiguration = strawberry.field(description="Its risk settings.")
    started_at: datetime | None = strawberry.field(description="When it was last started.")
    uptime_seconds: int = strawberry.field(description="Seconds since startedAt while RUNNING, else 0.")
    last_activity_at: datetime | None = strawberry.field(description="Its last order, lifecycle step or error.")
    runner: str | None = strawberry.field(description="The API process driving it now (RUNNING only).")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")


@strawberry.input(description="When a bot may open positions.")
class TradingHoursInput:
    start: str = strawberry.field(description="HH:MM (24-hour), inclusive.")
    end: str = strawberry.field(description="HH:MM (24-hour), exclusive; before start wraps past midnight.")
    timezone: str = strawberry.field(default="UTC", description="IANA time zone, e.g. Europe/Zurich.")


@strawberry.input(description="A bot's risk settings. On update, absent fields stay as they are.")
class BotConfigurationInput:
    max_position_size: Decimal | None = strawberry.field(default=None, description="Positive; ≤ allocatedCapital.")
    stop_loss: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Percent in (0, 100); null clears it."
    )
    take_profit: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Percent in (0, 100); null clears it."
    )
    trailing_stop: bool | None = strawberry.field(default=None, description="Trail the stop (needs stopLoss).")
    risk_per_trade: Decimal | None = strawberry.field(default=None, description="Percent in (0, 100).")
    allowed_pairs: list[str] | None = strawberry.field(default=None, description="Symbols of the account's venue.")
    trading_hours: TradingHoursInput | None = strawberry.field(
        default=strawberry.UNSET, description="null: trade at any hour."
    )
    rebalance_frequency: str | None = strawberry.field(default=None, description="NONE, HOURLY, DAILY or WEEKLY.")
    interval: str | None = strawberry.field(
        default=None, description="tick, 1m, 5m, 15m, 1h, 4h or 1d (default 1m): when the strategy decides."
    )


@strawberry.input(description="A new bot.")
class CreateBotInput:
    name: str = strawberry.field(description="1–100 characters.")
    strategy_id: strawberry.ID = strawberry.field(description="Global ID of one of your strategies.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of one of your PAPER venue accounts.")
    allocated_capital: Decimal = strawberry.field(description="Positive, in the quote asset.")
    configuration: BotConfigurationInput = strawberry.field(
        description="maxPositionSize, riskPerTrade and allowedPairs are required."
    )
    environment: Environment = strawberry.field(default=Environment.PAPER, description="PAPER.")
    risk_level: BotRiskLevel = strawberry.field(default=BotRiskLevel.MEDIUM, description="Its risk profile.")
    route_via: str | None = strawberry.field(default=None, description="For tokenized venues.")


@strawberry.input(description="Changes to a bot; absent fields stay. Strategy and account change only when STOPPED.")
class UpdateBotInput:
    name: str | None = strawberry.field(default=None, description="1–100 characters.")
    strategy_id: strawberry.ID | None = strawberry.field(default=None, description="Another strategy of yours.")
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Another account of yours.")
    allocated_capital: Decimal | None = strawberry.field(default=None, description="Positive.")
    configuration: BotConfigurationInput | None = strawberry.field(default=None, description="Risk settings.")
    risk_level: BotRiskLevel | None = strawberry.field(default=None, description="Its risk profile.")
    route_via: str | None = strawberry.field(default=None, description="For tokenized venues.")


@strawberry.input(description="Which bots to list.")
class BotFilter:
    status: BotStatus | None = strawberry.field(default=None, description="Only bots in this status.")
    strategy_id: strawberry.ID | None = strawberry.field(default=None, description="Only bots running this strategy.")


@strawberry.type(description="One line of a bot's log.")
class BotLogEntry(Node):
    bot_id: strawberry.ID = strawberry.field(description="Global ID of the bot.")
    level: BotLogLevel = strawberry.field(description="Severity.")
    message: str = strawberry.field(description="What happened.")
    detail: strawberry.scalars.JSON = strawberry.field(description="Structured detail (orderId, latencyMs, code…).")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(
    description="A bot's performance over a period, computed from its own orders and fills (and its log for "
    "errorRate and orderLatencyMs), so anyone can recompute it. PnL uses average cost per symbol over all the "
    "bot's fills: a sell realizes (price − average cost) × quantity; fees are subtracted when paid."
)
class BotPerformance:
    bot_id: strawberry.ID = strawberry.field(description="Global ID of the bot.")
    period: BotPerformancePeriod = strawberry.field(description="The window.")
    realized_pnl: Decimal = strawberry.field(description="Σ realized PnL of sells in the window − fees in it.")
    unrealized_pnl: Decimal = strawberry.field(description="Open quantity × (mark − average cost), now.")
    profit_loss: Decimal = strawberry.field(description="realizedPnl + unrealizedPnl.")
    profit_loss_percent: Decimal = strawberry.field(description="profitLoss ÷ allocatedCapital × 100.")
    current_capital: Decimal = strawberry.field(description="allocatedCapital + profit and loss over all time.")
    daily_volume: Decimal = strawberry.field(description="Notional of its fills in the last 24 hours.")
    active_positions: int = strawberry.field(description="Its allowed pairs with a non-zero position now.")
    max_drawdown: Decimal = strawberry.field(
        description="Largest fall, in percent, of allocatedCapital + cumulative realized PnL (after each fill, "
        "fees included) from its highest earlier value, over the window's fills."
    )
    win_rate: Decimal = strawberry.field(description="Percent of the window's sells that realized a profit.")
    average_trade_size: Decimal = strawberry.field(description="Mean notional of the window's filled orders.")
    total_trades: int = strawberry.field(description="Filled (or partly filled) orders in the window.")
    trades_last_24h: int = strawberry.field(description="Filled (or partly filled) orders in the last 24 hours.")
    error_rate: Decimal = strawberry.field(description="Percent of its order attempts in the window refused.")
    order_latency_ms: Decimal | None = strawberry.field(
        description="Mean milliseconds from decision to accepted order in the window (null: no orders)."
    )


@strawberry.type(description="The bot after the change.")
class BotChanged:
    bot: Bot = strawberry.field(description="The bot.")


@strawberry.type(description="A bot was deleted.")
class BotDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of the deleted bot.")


BotResult = Annotated[
    BotChanged | InvalidInput | NotFound | KillSwitchActive,
    strawberry.union(
        "BotResult",
        description="The bot, or why not (INVALID_INPUT naming the field, BOT_INVALID_TRANSITION, BOT_NOT_STOPPED, "
        "LIVE_UNAVAILABLE, KILL_SWITCH_ACTIVE on start/resume).",
    ),
]
DeleteBotResult = Annotated[
    BotDeleted | InvalidInput | NotFound,
    strawberry.union("DeleteBotResult", description="The deleted bot's ID, or why not (BOT_NOT_STOPPED)."),
]


@strawberry.type(description="A bot's status or configuration changed.")
class BotStatusUpdate:
    bot: Bot = strawberry.field(description="The bot now.")


__all__ = [
    "Bot",
    "BotChanged",
    "BotConfiguration",
    "BotConfigurationInput",
    "BotDeleted",
    "BotFilter",
    "BotLogEntry",
    "BotLogLevel",
    "BotPerformance",
    "BotPerformancePeriod",
    "BotResult",
    "BotRiskLevel",
    "BotStatus",
    "BotStatusUpdate",
    "CreateBotInput",
    "DeleteBotResult",
    "TradingHours",
    "TradingHoursInput",
    "UpdateBotInput",
]
