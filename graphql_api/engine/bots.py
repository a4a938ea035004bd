"""The bot runner: every API process drives the RUNNING bots it holds a lease on, tick by tick.

Leases (``lease.RowLeases``, shared with trading sessions). A bot row names its ``runner`` (a process) and
``lease_until``. Every ``renew`` seconds each runner
extends its leases with one UPDATE, lets go of bots that are no longer RUNNING, and claims RUNNING bots
whose lease is free or lapsed with a conditional UPDATE (``WHERE runner IS NULL OR lease_until < now``), so
two processes never both win a bot. A runner claims up to its fair share (running bots ÷ live runners,
rounded up), which spreads bots across processes; when a process dies its leases lapse after ``ttl`` and the
others take its bots over. A full restart finds the bots still RUNNING and claims them again. On a clean
shutdown a runner hands its leases back at once.

Ticks. Each runner listens to the price channels on the bus (every process receives every tick) and, for a
tick of a symbol a held bot trades, runs that bot's step: the risk exits the bot engine enforces (stop-loss,
take-profit, trailing stop, as percentages of the entry price, or of the highest mark since entry for a
trailing stop), then the strategy's intent. Orders go through ``place_order`` — the same validation and
pre-trade checks (kill switch, funds, compliance) as a person's order — carrying the bot's id. A step that
raises puts that bot in ERROR with the error in its log and hands back its lease; other bots and the feed
are not affected.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.bots import Bot, BotStatus, LogLevel
from models.identity import User
from models.market import Instrument
from models.orders import Fill, OrderType, Side
from models.positions import Position
from models.strategies import Strategy, StrategyType
from models.venues import Balance, VenueAccount

from ..auth import utcnow
from ..events.market import PriceTicked
from ..ownership import Actor
from ..rejections import Rejection
from ..services.alerts import announce as announce_alerts
from ..services.alerts import bot_status_changed
from ..services.bots import announce, cancel_working, publish_log
from ..services.bots import log as bot_log
from ..services.orders import OrderSpec, place_order
from .candles import INTERVALS, Bar, advance
from .runners import LeasedRunner
from .strategies import Fill as StrategyFill
from .strategies import Holding, Intent, StrategyRunner, build, parameters_of
from .strategies import Instrument as StrategyInstrument

if TYPE_CHECKING:
    from ..services.deps import Deps

log = logging.getLogger(__name__)


def within_hours(bot: Bot, now: datetime) -> bool:
    """Whether ``now`` is inside the bot's trading hours, read in the owner's time zone ([start, end), wrapping
    past midnight when end < start); no hours set means always."""
    start, end = bot.trading_start_minute, bot.trading_end_minute
    if start is None or end is None:
        return True
    local = now.astimezone(ZoneInfo(bot.timezone))
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def exit_reason(bot: Bot, entry: Decimal, peak: Decimal, mark: Decimal) -> str | None:
    """Which risk exit a long position at ``entry`` (highest mark since ``peak``) hits at ``mark``, if any."""
    hundred = Decimal(100)
    if bot.take_profit is not None and mark >= entry * (1 + bot.take_profit / hundred):
        return "take profit"
    if bot.stop_loss is not None:
        base = peak if bot.trailing_stop else entry
        if mark <= base * (1 - bot.stop_loss / hundred):
            return "trailing stop" if bot.trailing_stop else "stop loss"
    return None


class SymbolDriver:
    """One strategy instance on one symbol of a bot, fed the feed's ticks.

    The bot's ``interval`` says when the strategy decides: ``tick`` makes every tick a one-price candle and
    decides on each; a candle interval (1m, 5m, …) folds ticks into the open candle with the feed's own
    ``advance`` and decides when a tick opens the next candle, on the candle just closed — the bar a
    backtest of the same series sees (``StrategyRunner.on_tick``)."""

    def __init__(self, runner: StrategyRunner, instrument: StrategyInstrument, seconds: int | None) -> None:
        self.runner = runner
        self.instrument = instrument
        self.seconds = seconds
        self.candle: Bar | None = None
        self.decided_at: datetime | None = None
        self.tags: dict[str, str] = {}  # order id -> the tag of the intent it was placed for

    def closes(self, price: Decimal, volume: Decimal, ts: datetime) -> Bar | None:
        """The candle to decide on after this tick, if any."""
        if self.seconds is None:
            return Bar(ts, price, price, price, price, volume, price * volume)
        previous = self.candle
        self.candle = advance(previous, self.seconds, price, price, volume, ts)
        if previous is not None and self.candle.open_time > previous.open_time:
            return previous
        return None


@dataclass
class Held:
    """A bot this process drives: its row as last read, its owner and one strategy instance per symbol."""

    bot: Bot
    actor: Actor
    drivers: dict[str, SymbolDriver]


class BotRunner(LeasedRunner[Held]):
    kind = "bot"

    def __init__(self, deps: Deps, *, ttl: timedelta, renew: timedelta) -> None:
        super().__init__(deps, Bot, ttl=ttl, renew=renew, status=BotStatus.RUNNING)
        self._drivers = strategy_drivers

    async def manage(self) -> None:
        """Renew what this process holds, drop what stopped, claim its share of the unheld RUNNING bots."""
        now = utcnow()
        mine = await self._leases.renew(now)
        for gone in [held for held in self._held if held not in mine]:
            del self._held[gone]
        for bot_id in mine - set(self._held):
            await self._hold(bot_id)
        for bot_id, previous in await self._leases.claim(now, len(self._held)):
            await self._hold(bot_id, taken_from=previous)

    async def _hold(self, bot_id: str, taken_from: str | None = None) -> None:
        bot = await Bot.get(id=bot_id)
        try:
            drivers = await self._drivers(bot)
        except Exception as exc:
            await self._fail(bot, exc)
            return
        user = await User.get(id=bot.user_id)
        self._held[bot_id] = Held(bot=bot, actor=Actor(user, "bot"), drivers=drivers)
        message = f"running on {self.name}" + (f" (taken over from {taken_from})" if taken_from else "")
        await announce(self._deps, bot, await bot_log(bot.id, LogLevel.INFO, message))

    async def on_tick(self, tick: PriceTicked) -> None:
        for held in list(self._held.values()):
            if tick.symbol in held.drivers:
                await self._step(held, tick)

    async def _step(self, held: Held, tick: PriceTicked) -> None:
        bot = await Bot.get_or_none(id=held.bot.id)
        if bot is None or bot.status != BotStatus.RUNNING or bot.runner != self.name:
            self._held.pop(str(held.bot.id), None)
            return
        held.bot = bot
        try:
            await self._trade(held, held.drivers[tick.symbol], tick)
        except Exception as exc:
            log.exception("bot %s step failed", bot.id)
            await self._fail(bot, exc)

    async def _trade(self, held: Held, driver: SymbolDriver, tick: PriceTicked) -> None:
        """Risk exits first (on every tick), then the strategy's decision when its candle closes."""
        bot, symbol, mark = held.bot, tick.symbol, tick.price
        position = await Position.get_or_none(account_id=bot.account_id, symbol=symbol)
        quantity = position.quantity if position is not None else Decimal(0)
        entry = position.average_entry_price if position is not None else Decimal(0)
        peaks: dict[str, str] = dict((bot.state or {}).get("peaks", {}))
        if quantity > 0:
            peak = max(Decimal(peaks.get(symbol, str(mark))), mark)
            reason = exit_reason(bot, entry, peak, mark)
            peaks[symbol] = str(peak)
            if reason is not None:
                await self._cancel_symbol(held, symbol)
                await self._order(held, driver, symbol, Side.SELL, quantity, None, reason, mark)
                peaks.pop(symbol, None)
        else:
            peaks.pop(symbol, None)
        if peaks != (bot.state or {}).get("peaks", {}):
            bot.state = {**(bot.state or {}), "peaks": peaks}
            await Bot.filter(id=bot.id).update(state=bot.state)
        bar = driver.closes(mark, tick.volume, tick.ts)
        if bar is None:
            return
        holding = await self._holding(held, driver, symbol, quantity, entry)
        driver.decided_at = tick.ts
        intents = driver.runner.on_candle(bar, holding)
        await self._cancel_symbol(held, symbol)  # intents live until the next decision
        for intent in intents:
            size = self._size(bot, driver, intent, holding, mark)
            if intent.side == Side.BUY and (bot.entries_stopped or not within_hours(bot, tick.ts)):
                continue
            if size > 0:
                await self._order(held, driver, symbol, intent.side, size, intent.limit, intent.tag or "strategy", mark)

    async def _holding(
        self, held: Held, driver: SymbolDriver, symbol: str, quantity: Decimal, entry: Decimal
    ) -> Holding:
        """What the strategy holds: the position, the cash it may spend (the account's free cash, at most the
        allocated capital not already in the position) and its fills since its previous decision."""
        bot = held.bot
        quote = Subquery(VenueAccount.filter(id=bot.account_id).values("quote_asset"))
        balance = await Balance.get(account_id=bot.account_id, asset=quote)
        cash = max(Decimal(0), min(balance.total - balance.reserved, bot.allocated_capital - quantity * entry))
        rows = Fill.filter(order__bot_id=bot.id, symbol=symbol)
        if driver.decided_at is not None:
            rows = rows.filter(created_at__gt=driver.decided_at)
        fills = tuple(
            StrategyFill(
                time=f.created_at,
                side=Side(f.side),
                quantity=f.quantity,
                price=f.price,
                fee=f.fee,
                tag=driver.tags.get(str(f.order_id), ""),
            )
            for f in await rows.order_by("id")
        )
        return Holding(quantity=quantity, average_price=entry, cash=cash, fills=fills)

    def _size(self, bot: Bot, driver: SymbolDriver, intent: Intent, holding: Holding, mark: Decimal) -> Decimal:
        """An intent's quantity in whole lots, within the bot's risk settings: an entry spends at most
        riskPerTrade % of the allocated capital and keeps the position within maxPositionSize (quote asset)."""
        price = intent.limit or mark
        if intent.side == Side.SELL:
            wanted = intent.quantity if intent.quantity is not None else holding.quantity * (intent.fraction or 1)
            return driver.instrument.lots(min(wanted, holding.quantity))
        fee = self._deps.settings.taker_fee
        wanted = (
            intent.quantity
            if intent.quantity is not None
            else holding.cash * (intent.fraction or 1) / (price * (1 + fee))
        )
        per_trade = bot.allocated_capital * bot.risk_per_trade / Decimal(100) / price
        room = max(Decimal(0), bot.max_position_size / price - holding.quantity)
        return driver.instrument.lots(min(wanted, per_trade, room))

    async def _cancel_symbol(self, held: Held, symbol: str) -> None:
        await cancel_working(self._deps, held.bot, symbol)

    async def _order(
        self,
        held: Held,
        driver: SymbolDriver,
        symbol: str,
        side: Side,
        quantity: Decimal,
        limit: Decimal | None,
        reason: str,
        mark: Decimal,
    ) -> None:
        bot = held.bot
        amount = f"{quantity.normalize():f}"
        spec = OrderSpec(
            account_id=str(bot.account_id),
            symbol=symbol,
            side=side,
            type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            quantity=quantity,
            price=limit,
            bot_id=str(bot.id),
        )
        started = time.perf_counter_ns()
        try:
            placed = await place_order(self._deps, held.actor, spec)
        except Rejection as refused:
            if refused.code == "BOT_NOT_RUNNING":
                # The stop (or pause) committed while this tick decided: the stop won, not an error of the bot.
                line = await bot_log(bot.id, LogLevel.INFO, f"{side.value} {amount} {symbol} not placed: bot stopped")
            else:
                line = await bot_log(
                    bot.id,
                    LogLevel.WARNING,
                    f"{side.value} {amount} {symbol} refused: {refused.message}",
                    code=refused.code,
                    refused=True,
                    mark=str(mark),
                )
        else:
            driver.tags[str(placed.order.id)] = reason
            line = await bot_log(
                bot.id,
                LogLevel.INFO,
                f"{side.value} {amount} {symbol}: {reason}",
                orderId=str(placed.order.id),
                status=placed.order.status.value,
                mark=str(mark),
                latencyMs=str(Decimal(time.perf_counter_ns() - started) / 1_000_000),
            )
        await Bot.filter(id=bot.id).update(last_activity_at=utcnow())
        await publish_log(self._deps, bot, line)

    async def _fail(self, bot: Bot, exc: BaseException) -> None:
        """The bot goes to ERROR with the error in its log and stops trading; nothing else is touched."""
        reason = f"{type(exc).__name__}: {exc}"[:500]
        self._held.pop(str(bot.id), None)
        async with in_transaction() as conn:
            await (
                Bot.filter(id=bot.id)
                .using_db(conn)
                .update(status=BotStatus.ERROR, status_reason=reason, runner=None, lease_until=None)
            )
            bot.status, bot.status_reason = BotStatus.ERROR, reason
            alert = await bot_status_changed(conn, bot, f"Strategy error: {reason}")
        await announce(self._deps, bot, await bot_log(bot.id, LogLevel.ERROR, f"strategy error: {reason}"))
        await announce_alerts(self._deps.bus, [alert])


async def strategy_drivers(bot: Bot) -> dict[str, SymbolDriver]:
    """One strategy instance per allowed pair, from the bot's strategy row (its parameters validated again:
    a strategy whose stored parameters no longer hold raises, and the bot goes to ERROR)."""
    row = await Strategy.get(id=bot.strategy_id)
    if row.type == StrategyType.ARBITRAGE:
        raise ValueError("an ARBITRAGE strategy trades across venues: run it with placeRoutedOrder, not a bot")
    params = parameters_of(row.type, row.parameters)
    seconds = None if bot.interval == "tick" else INTERVALS[bot.interval]
    drivers = {}
    for instrument in await Instrument.filter(symbol__in=list(bot.allowed_pairs)):
        grid = StrategyInstrument(instrument.symbol, instrument.tick_size, instrument.lot_size)
        drivers[instrument.symbol] = SymbolDriver(StrategyRunner(build(row.type, params, grid)), grid, seconds)
    return drivers
