"""Bot actions: create, update, delete, and the lifecycle (start, stop, pause, resume, stop entries).

Every action validates (each failure naming its field), changes the bot, writes its log line and audit row
in one transaction, and publishes ``BotStatusChanged`` after the commit. What a running bot does on each tick
is graphql_api/engine/bots.py; the kill switch stops bots through ``stop_in_scope`` in its own transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.bots import Bot, BotLog, BotStatus, LogLevel, RiskLevel
from models.killswitch import KillScope, KillSwitch
from models.market import Instrument, LastPrice
from models.orders import WORKING, Fill, Order, Side
from models.positions import Position
from models.strategies import Strategy, StrategyType
from models.venues import Environment, Venue

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.candles import INTERVALS
from ..engine.checks import PRE_TRADE_CHECKS, PreTrade
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE
from ..engine.types import Changes
from ..events import publish
from ..events.bots import BotLogged, BotStatusChanged
from ..ownership import Actor, require_owned
from ..rejections import Invalid, KillSwitchBlocked
from . import strategies as strategy_actions
from .alerts import announce as announce_alerts
from .alerts import bot_status_changed
from .deps import Deps
from .orders import trading_account

REBALANCE_FREQUENCIES = ("NONE", "HOURLY", "DAILY", "WEEKLY")
DECISION_INTERVALS = ("tick", *INTERVALS)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_LIFECYCLE = {
    # action: (statuses it starts from, status it ends in)
    Action.BOT_START: ((BotStatus.STOPPED, BotStatus.ERROR), BotStatus.RUNNING),
    Action.BOT_STOP: ((BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.ERROR), BotStatus.STOPPED),
    Action.BOT_PAUSE: ((BotStatus.RUNNING,), BotStatus.PAUSED),
    Action.BOT_RESUME: ((BotStatus.PAUSED,), BotStatus.RUNNING),
    Action.BOT_STOP_ENTRIES: ((BotStatus.RUNNING, BotStatus.PAUSED), None),
}


@dataclass
class BotSpec:
    """A bot as asked for, before validation (update: None leaves a field as it is)."""

    name: str | None = None
    strategy_id: str | None = None
    account_id: str | None = None
    route_via: str | None = None
    environment: Environment | None = None
    risk_level: RiskLevel | None = None
    allocated_capital: Decimal | None = None
    max_position_size: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_stop: bool | None = None
    risk_per_trade: Decimal | None = None
    allowed_pairs: list[str] | None = None
    trading_start: str | None = None
    trading_end: str | None = None
    timezone: str | None = None
    rebalance_frequency: str | None = None
    interval: str | None = None
    clear: set[str] = field(default_factory=set)  # optional fields to set to null (stopLoss, takeProfit, hours)


def _positive(value: Decimal, name: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise Invalid(f"{name} must be positive", field=f"input.{name}")
    return value


def _percent(value: Decimal, name: str) -> Decimal:
    if not value.is_finite() or not 0 < value < 100:
        raise Invalid(f"{name} is a percentage: more than 0 and less than 100", field=f"input.{name}")
    return value


def _minute(text: str, name: str) -> int:
    match = _HHMM.match(text.strip())
    if match is None:
        raise Invalid(f"{name} must be HH:MM (24-hour)", field=f"input.{name}")
    return int(match.group(1)) * 60 + int(match.group(2))


async def _check_strategy(actor: Actor, strategy_id: str) -> None:
    strategy = await Strategy.get_or_none(id=strategy_id)
    if strategy is None or str(strategy.user_id) != actor.user_id:
        raise Invalid("no such strategy of yours", field="input.strategyId")
    if strategy.type == StrategyType.ARBITRAGE:
        raise Invalid(
            "an ARBITRAGE strategy trades across venues: use placeRoutedOrder, not a bot", field="input.strategyId"
        )


async def _apply(actor: Actor, bot: Bot, spec: BotSpec, creating: bool) -> None:
    """Check every given field and set it on ``bot`` (unsaved); the first failure names its field."""
    if spec.name is not None:
        name = spec.name.strip()
        if not 1 <= len(name) <= 100:
            raise Invalid("name must be 1 to 100 characters", field="input.name")
        bot.name = name
    if spec.strategy_id is not None:
        await _check_strategy(actor, spec.strategy_id)
        bot.strategy_id = spec.strategy_id  # type: ignore[assignment]
    if spec.environment is not None:
        bot.environment = spec.environment
    if spec.environment == Environment.LIVE:
        raise Invalid(
            "LIVE bots need a live venue adapter, which this deployment does not have; use PAPER",
            code="LIVE_UNAVAILABLE",
            field="input.environment",
        )
    if spec.account_id is not None:
        account = await trading_account(actor, spec.account_id, field="input.venueAccountId")
        if account.environment != Environment.PAPER:
            raise Invalid("a PAPER bot needs a PAPER venue account", field="input.venueAccountId")
        if account.venue_id == PERP_VENUE:
            raise Invalid("bots trade spot paper accounts, not perps", field="input.venueAccountId")
        bot.account_id = account.id
        venue = await Venue.get(id=account.venue_id)
        symbols = set(venue.symbols)
    else:
        symbols = set((await Venue.get(id=(await trading_account(actor, str(bot.account_id))).venue_id)).symbols)
    if spec.route_via is not None:
        bot.route_via = spec.route_via.strip()[:100] or None
    if spec.risk_level is not None:
        bot.risk_level = spec.risk_level
    if spec.allocated_capital is not None:
        bot.allocated_capital = _positive(spec.allocated_capital, "allocatedCapital")
    if spec.max_position_size is not None:
        bot.max_position_size = _positive(spec.max_position_size, "maxPositionSize")
    if spec.risk_per_trade is not None:
        bot.risk_per_trade = _percent(spec.risk_per_trade, "riskPerTrade")
    for name, attr in (("stopLoss", "stop_loss"), ("takeProfit", "take_profit")):
        value = getattr(spec, attr)
        if name in spec.clear:
            setattr(bot, attr, None)
        elif value is not None:
            setattr(bot, attr, _percent(value, name))
    if spec.trailing_stop is not None:
        bot.trailing_stop = spec.trailing_stop
    if bot.trailing_stop and bot.stop_loss is None:
        raise Invalid("trailingStop trails the stopLoss percentage: set stopLoss too", field="input.trailingStop")
    if spec.allowed_pairs is not None:
        await _set_pairs(bot, spec.allowed_pairs, symbols)
    elif not creating and spec.account_id is not None:
        await _set_pairs(bot, list(bot.allowed_pairs), symbols)
    _set_hours(bot, spec)
    if spec.rebalance_frequency is not None:
        frequency = spec.rebalance_frequency.strip().upper()
        if frequency not in REBALANCE_FREQUENCIES:
            raise Invalid(
                f"rebalanceFrequency must be one of {', '.join(REBALANCE_FREQUENCIES)}",
                field="input.rebalanceFrequency",
            )
        bot.rebalance_frequency = frequency
    if spec.interval is not None:
        if spec.interval not in DECISION_INTERVALS:
            raise Invalid(f"interval must be one of {', '.join(DECISION_INTERVALS)}", field="input.interval")
        bot.interval = spec.interval
    if bot.max_position_size > bot.allocated_capital:
        raise Invalid("maxPositionSize cannot exceed allocatedCapital", field="input.maxPositionSize")


async def _set_pairs(bot: Bot, pairs: list[str], venue_symbols: set[str]) -> None:
    cleaned = sorted({p.strip().upper() for p in pairs if p.strip()})
    if not cleaned:
        raise Invalid("allowedPairs needs at least one symbol", field="input.allowedPairs")
    known = {s for s in await Instrument.filter(symbol__in=cleaned).values_list("symbol", flat=True)}
    for symbol in cleaned:
        if symbol not in known or symbol not in venue_symbols:
            raise Invalid(f"{symbol} is not traded on the bot's venue", field="input.allowedPairs")
    bot.allowed_pairs = cleaned


def _set_hours(bot: Bot, spec: BotSpec) -> None:
    if spec.timezone is not None:
        try:
            ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("timezone must be an IANA time zone such as Europe/Zurich", field="input.timezone") from None
        bot.timezone = spec.timezone
    if "tradingHours" in spec.clear:
        bot.trading_start_minute = bot.trading_end_minute = None
    if (spec.trading_start is None) != (spec.trading_end is None):
        missing = "tradingHours.end" if spec.trading_end is None else "tradingHours.start"
        raise Invalid("tradingHours needs both start and end", field=f"input.{missing}")
    if spec.trading_start is not None and spec.trading_end is not None:
        start = _minute(spec.trading_start, "tradingHours.start")
        end = _minute(spec.trading_end, "tradingHours.end")
        if start == end:
            raise Invalid("tradingHours start and end must differ", field="input.tradingHours.end")
        bot.trading_start_minute, bot.trading_end_minute = start, end


_REQUIRED = (
    ("name", "name"),
    ("strategy_id", "strategyId"),
    ("account_id", "venueAccountId"),
    ("allocated_capital", "allocatedCapital"),
    ("max_position_size", "maxPositionSize"),
    ("risk_per_trade", "riskPerTrade"),
    ("allowed_pairs", "allowedPairs"),
)


async def log(
    bot_id: object, level: LogLevel, message: str, conn: BaseDBAsyncClient | None = None, **detail: Any
) -> BotLog:
    """One line of the bot's log (in ``conn`` when given); published by the caller after its commit."""
    return await BotLog.create(bot_id=bot_id, level=level, message=message[:500], detail=detail, using_db=conn)


async def announce(deps: Deps, bot: Bot, *lines: BotLog) -> None:
    """Publish a bot's status and the log lines a committed transaction wrote."""
    await publish(deps.bus, BotStatusChanged(user_id=str(bot.user_id), bot_id=str(bot.id), status=bot.status.value))
    for line in lines:
        await publish_log(deps, bot, line)


async def publish_log(deps: Deps, bot: Bot, line: BotLog) -> None:
    await publish(deps.bus, BotLogged(bot_id=str(bot.id), log_id=int(line.id)))


async def create_bot(deps: Deps, actor: Actor, spec: BotSpec) -> Bot:
    async with audit.refusals(actor, Action.BOT_CREATE, target_type="Bot"):
        for attr, name in _REQUIRED:
            if getattr(spec, attr) is None:
                raise Invalid(f"{name} is required", field=f"input.{name}")
        bot = Bot(
            user_id=actor.user.id,
            environment=Environment.PAPER,
            risk_level=RiskLevel.MEDIUM,
            status=BotStatus.STOPPED,
            state={},
        )
        await _apply(actor, bot, spec, creating=True)
        async with in_transaction() as conn:
            await bot.save(using_db=conn)
            line = await log(bot.id, LogLevel.INFO, "created", conn)
            await audit.by(actor, Action.BOT_CREATE, Outcome.SUCCESS, target_type="Bot", target_id=bot.id, conn=conn)
    await announce(deps, bot, line)
    return bot


async def update_bot(deps: Deps, actor: Actor, bot_id: str, spec: BotSpec) -> Bot:
    async with (
        audit.refusals(actor, Action.BOT_UPDATE, target_type="Bot", target_id=bot_id),
        in_transaction() as conn,
    ):
        bot = await _lock_own(conn, actor, bot_id)
        moving = spec.strategy_id is not None or spec.account_id is not None
        if moving and bot.status != BotStatus.STOPPED:
            field_name = "input.strategyId" if spec.strategy_id is not None else "input.venueAccountId"
            raise Invalid(
                "stop the bot before changing its strategy or account", code="BOT_NOT_STOPPED", field=field_name
            )
        await _apply(actor, bot, spec, creating=False)
        await bot.save(using_db=conn)
        line = await log(bot.id, LogLevel.INFO, "configuration updated", conn)
        await audit.by(actor, Action.BOT_UPDATE, Outcome.SUCCESS, target_type="Bot", target_id=bot.id, conn=conn)
    await announce(deps, bot, line)
    return bot


async def delete_bot(deps: Deps, actor: Actor, bot_id: str) -> str:
    async with (
        audit.refusals(actor, Action.BOT_DELETE, target_type="Bot", target_id=bot_id),
        in_transaction() as conn,
    ):
        bot = await _lock_own(conn, actor, bot_id)
        if bot.status not in (BotStatus.STOPPED, BotStatus.ERROR):
            raise Invalid(
                f"the bot is {bot.status.value.lower()}: stop it before deleting it",
                code="BOT_NOT_STOPPED",
                field="id",
            )
        await BotLog.filter(bot_id=bot.id).using_db(conn).delete()
        await bot.delete(using_db=conn)
        await audit.by(actor, Action.BOT_DELETE, Outcome.SUCCESS, target_type="Bot", target_id=bot_id, conn=conn)
    return bot_id


async def _lock_own(conn: BaseDBAsyncClient, actor: Actor, bot_id: str) -> Bot:
    """The caller's bot, locked after its account: the order every writer of both takes them in (a bot's
    placement holds the account lock, then reads the bot in ``bot_is_running``), so they never deadlock."""
    row = await require_owned(Bot, bot_id, actor, field="id", what="bot")
    await lock_account(conn, str(row.account_id))
    return await Bot.filter(id=bot_id).using_db(conn).select_for_update().get()


async def bot_is_running(trade: PreTrade) -> None:
    """A bot's order is refused unless the bot is RUNNING, read under a row lock after the account lock.

    This makes stopping exact: a placement that got here first holds the bot row until it commits, so the
    stop (which locks it for update) waits and then cancels that order too; a placement that comes after the
    stop committed reads STOPPED and is refused."""
    if trade.req.bot_id is None:
        return
    # A row lock (the bot's own runner is its only placer, so it never contends but with a stop).
    bot = await Bot.filter(id=trade.req.bot_id).using_db(trade.conn).select_for_update().first()
    if bot is None or bot.status != BotStatus.RUNNING:
        raise Invalid("the bot is not running", code="BOT_NOT_RUNNING", field="botId")


async def kill_switch_blocks(user_id: object, conn: BaseDBAsyncClient | None = None) -> KillScope | None:
    """The scope of an active kill switch covering ``user_id``: GLOBAL first, else the user's own; None if off."""
    rows = await KillSwitch.filter(active=True).using_db(conn).values_list("scope", "user_id")
    scopes = {KillScope(scope) for scope, owner in rows if scope == KillScope.GLOBAL or str(owner) == str(user_id)}
    for scope in (KillScope.GLOBAL, KillScope.ACCOUNT):
        if scope in scopes:
            return scope
    return None


async def transition(deps: Deps, actor: Actor, bot_id: str, action: Action) -> Bot:
    """One lifecycle step. Stopping cancels the bot's working orders (its positions stay); stop-entries keeps
    the bot managing its open positions to their exits but opens nothing new."""
    sources, target = _LIFECYCLE[action]
    changes = Changes()
    async with audit.refusals(actor, action, target_type="Bot", target_id=bot_id), in_transaction() as conn:
        bot = await _lock_own(conn, actor, bot_id)
        if bot.status not in sources:
            allowed = " or ".join(s.value for s in sources)
            raise Invalid(
                f"the bot is {bot.status.value}; this needs it {allowed}", code="BOT_INVALID_TRANSITION", field="id"
            )
        if target == BotStatus.RUNNING:
            scope = await kill_switch_blocks(bot.user_id, conn)
            if scope is not None:
                raise KillSwitchBlocked(f"the {scope.value.lower()} kill switch is active", scope=scope.value)
        now = utcnow()
        if action == Action.BOT_STOP_ENTRIES:
            bot.entries_stopped = True
            message = "entries stopped: managing open positions to their exits"
        else:
            assert target is not None
            if action == Action.BOT_START:
                bot.started_at, bot.entries_stopped, bot.state = now, False, {}
            bot.status, bot.status_reason = target, None
            message = {
                Action.BOT_START: "started",
                Action.BOT_STOP: "stopped",
                Action.BOT_PAUSE: "paused",
                Action.BOT_RESUME: "resumed",
            }[action]
        if target in (BotStatus.STOPPED, BotStatus.PAUSED):
            bot.runner, bot.lease_until = None, None
        cancelled = await _cancel_working(deps, conn, bot, changes) if target == BotStatus.STOPPED else 0
        bot.last_activity_at = now
        await bot.save(using_db=conn)
        raised = [] if target is None else [await bot_status_changed(conn, bot, f"The bot was {message}.")]
        line = await log(bot.id, LogLevel.INFO, message, conn, cancelledOrders=cancelled)
        await audit.by(
            actor,
            action,
            Outcome.SUCCESS,
            target_type="Bot",
            target_id=bot.id,
            detail={"status": bot.status.value, "cancelledOrders": cancelled},
            conn=conn,
        )
    await deps.engine.publish(changes)
    await announce(deps, bot, line)
    await announce_alerts(deps.bus, raised)
    return bot


async def cancel_working(deps: Deps, bot: Bot, symbol: str | None = None) -> int:
    """Cancel the bot's working orders (of one symbol, or all) in a transaction of their own, and publish."""
    changes = Changes()
    async with in_transaction() as conn:
        cancelled = await _cancel_working(deps, conn, bot, changes, symbol)
    await deps.engine.publish(changes)
    return cancelled


async def _cancel_working(
    deps: Deps, conn: BaseDBAsyncClient, bot: Bot, changes: Changes, symbol: str | None = None
) -> int:
    """Cancel the bot's own working orders (not the account's other orders), under the account lock."""
    query = Order.filter(bot_id=bot.id, status__in=list(WORKING))
    if symbol is not None:
        query = query.filter(symbol=symbol)
    working = await query.using_db(conn)
    if working:
        await lock_account(conn, str(bot.account_id))
    cancelled = 0
    for order in working:
        if await deps.engine.cancel(conn, order, "bot stopped" if symbol is None else "bot decided again", changes):
            cancelled += 1
    return cancelled


async def stop_in_scope(conn: BaseDBAsyncClient, user_id: str | None, reason: str) -> list[tuple[Bot, BotLog]]:
    """Stop every RUNNING or PAUSED bot in scope (``user_id`` None: every user's), in the kill switch's own
    transaction; the bots stay stopped until started again. Returns what to announce after the commit."""
    query = Bot.filter(status__in=(BotStatus.RUNNING, BotStatus.PAUSED))
    if user_id is not None:
        query = query.filter(user_id=user_id)
    stopped = []
    for bot in await query.using_db(conn).select_for_update().order_by("id"):
        bot.status, bot.status_reason, bot.runner, bot.lease_until = BotStatus.STOPPED, reason[:500], None, None
        bot.last_activity_at = utcnow()
        await bot.save(using_db=conn)
        await bot_status_changed(conn, bot, f"Stopped by the kill switch: {reason}")
        stopped.append((bot, await log(bot.id, LogLevel.WARNING, f"stopped by the kill switch: {reason}", conn)))
    return stopped


PERIODS = {"DAY": timedelta(days=1), "WEEK": timedelta(days=7), "MONTH": timedelta(days=30), "ALL": None}


@dataclass
class Performance:
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    profit_loss: Decimal
    profit_loss_percent: Decimal
    current_capital: Decimal
    daily_volume: Decimal
    active_positions: int
    max_drawdown: Decimal
    win_rate: Decimal
    average_trade_size: Decimal
    total_trades: int
    trades_last_24h: int
    error_rate: Decimal
    order_latency_ms: Decimal | None


def _percent_of(part: Decimal | int, whole: Decimal | int) -> Decimal:
    return Decimal(part) * 100 / Decimal(whole) if whole else Decimal(0)


async def performance(bot: Bot, period: str) -> Performance:
    """The bot's figures over ``period`` (see BotPerformance in schema/bots.py for each definition)."""
    now = utcnow()
    span = PERIODS[period]
    since = now - span if span is not None else None
    fills = (
        await Fill.filter(order__bot_id=bot.id)
        .order_by("created_at", "id")
        .values("order_id", "symbol", "side", "price", "quantity", "fee", "created_at")
    )
    held: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (quantity, average cost)
    realized_window = realized_all = Decimal(0)
    peak = bot.allocated_capital
    drawdown = Decimal(0)
    sells: dict[str, Decimal] = {}  # sell order id -> realized PnL (window only)
    orders_in_window: dict[str, Decimal] = {}  # order id -> notional
    for f in fills:
        quantity, cost = held.get(f["symbol"], (Decimal(0), Decimal(0)))
        in_window = since is None or f["created_at"] >= since
        gained = -f["fee"]
        if f["side"] == Side.BUY:
            total = quantity + f["quantity"]
            cost = (quantity * cost + f["quantity"] * f["price"]) / total
            quantity = total
        else:
            sold = min(f["quantity"], quantity)
            gained += (f["price"] - cost) * sold
            quantity -= sold
        held[f["symbol"]] = (quantity, cost)
        realized_all += gained
        equity = bot.allocated_capital + realized_all
        if not in_window:
            peak = equity
            continue
        order_id = str(f["order_id"])
        realized_window += gained
        orders_in_window[order_id] = orders_in_window.get(order_id, Decimal(0)) + f["price"] * f["quantity"]
        if f["side"] == Side.SELL:
            sells[order_id] = sells.get(order_id, Decimal(0)) + gained
        peak = max(peak, equity)
        drawdown = max(drawdown, _percent_of(peak - equity, peak))
    marks = dict(await LastPrice.filter(instrument__symbol__in=list(held)).values_list("instrument__symbol", "price"))
    unrealized = sum((q * (marks[s] - c) for s, (q, c) in held.items() if q and s in marks), Decimal(0))
    day_ago = now - timedelta(days=1)
    recent = [f for f in fills if f["created_at"] >= day_ago]
    attempts = BotLog.filter(bot_id=bot.id, level__in=(LogLevel.INFO, LogLevel.WARNING))
    if since is not None:
        attempts = attempts.filter(created_at__gte=since)
    accepted, refused = [], 0
    for level, detail in await attempts.values_list("level", "detail"):
        if level == LogLevel.INFO and detail.get("orderId"):
            accepted.append(Decimal(detail["latencyMs"]))
        elif level == LogLevel.WARNING and detail.get("refused"):
            refused += 1
    positions = (
        await Position.filter(account_id=bot.account_id, symbol__in=list(bot.allowed_pairs)).exclude(quantity=0).count()
    )
    profit_loss = realized_window + unrealized
    return Performance(
        realized_pnl=realized_window,
        unrealized_pnl=unrealized,
        profit_loss=profit_loss,
        profit_loss_percent=_percent_of(profit_loss, bot.allocated_capital),
        current_capital=bot.allocated_capital + realized_all + unrealized,
        daily_volume=sum((f["price"] * f["quantity"] for f in recent), Decimal(0)),
        active_positions=positions,
        max_drawdown=drawdown,
        win_rate=_percent_of(sum(1 for pnl in sells.values() if pnl > 0), len(sells)),
        average_trade_size=sum(orders_in_window.values(), Decimal(0)) / len(orders_in_window)
        if orders_in_window
        else Decimal(0),
        total_trades=len(orders_in_window),
        trades_last_24h=len({f["order_id"] for f in recent}),
        error_rate=_percent_of(refused, refused + len(accepted)),
        order_latency_ms=sum(accepted, Decimal(0)) / len(accepted) if accepted else None,
    )


async def _bots_using(strategy_id: str, conn: BaseDBAsyncClient) -> int:
    """How many bots run ``strategy_id``: while any does, the strategy cannot be deleted."""
    return await Bot.filter(strategy_id=strategy_id).using_db(conn).count()


strategy_actions.IN_USE.append(_bots_using)
PRE_TRADE_CHECKS.append(bot_is_running)
