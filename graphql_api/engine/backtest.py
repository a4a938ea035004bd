"""Backtests: a strategy (``engine/strategies.py``) over stored candles, with fees and slippage, in Decimal.

Pure and GraphQL-free; the job around it (loading candles, progress, cancel, storing results) is
``graphql_api/services/backtests.py``. The strategy is driven through ``StrategyRunner.on_candle``, the
same decision path a live bot uses.

Fill rule. The intents decided at bar t's close are tried against bar t+1, then expire:
- a market BUY fills at the next open × (1 + slippage), a market SELL at the next open × (1 − slippage)
  (a cross-venue intent: the venue's price of that open, ``engine/basis.py``);
- a limit BUY fills when the next bar's low reaches the limit, at min(open, limit); a limit SELL when its
  high reaches it, at max(open, limit); no slippage on limits;
- fills are in the order the strategy gave its intents; each pays a fee of price × quantity × feeRate
  (rounded to 8 places, as the paper venue does); a BUY never spends more than the free cash (its
  quantity is cut to what cash covers, fee included, in whole lots) and a SELL never more than is held.
A ``fraction`` intent is sized at its fill price: BUY quantity = lots(cash × fraction / (price × (1 +
feeRate))); SELL quantity = lots(position × fraction). This is backtesting.py's rule for relative sizes
(``size=0.95``) with its commission, which is how tests/test_backtests.py matches its trades exactly.

Trades are FIFO lots: every BUY fill opens a lot, every SELL fill closes the oldest lots (splitting one
when it closes part of it); a trade's fees are its share of the entry fill's fee plus its share of the
exit fill's fee, and its PnL = (exit − entry) × quantity − fees. A lot still held at the end is reported
as an open trade (no exit) and valued at the last close in the equity curve; nothing is sold for it.

Metrics over the equity curve e_0..e_n (one point per bar, after the bar's fills, at its close) and the
closed trades: total return = e_n / capital − 1; max drawdown = max over t of (max_{s≤t} e_s − e_t) /
max_{s≤t} e_s; per-bar returns r_t = e_t / e_{t−1} − 1; Sharpe = mean(r) / sd(r) × √P with sd the
sample standard deviation; Sortino = mean(r) / √(Σ min(r, 0)² / n) × √P; P, the periods per year, is
365 × 86400 / interval seconds (crypto trades every day). Win rate = winning / closed trades (a trade
wins when its PnL > 0); profit factor = Σ winning PnL / |Σ losing PnL| (null without a loss); exposure =
share of bars ending with a position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from models.orders import Side

from .candles import Bar
from .matching import fee_for
from .strategies import ONE, ZERO, Fill, Holding, Instrument, Intent, StrategyRunner, VenuePrice

_PLACES = Decimal("1e-12")
_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)
YEAR_SECONDS = 365 * 86400
# The equity curve stored with a backtest keeps at most this many points (the last of equal buckets).
STORED_CURVE_POINTS = 2000


def _q(value: Decimal) -> Decimal:
    return value.quantize(_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Costs:
    fee_rate: Decimal
    slippage: Decimal


@dataclass
class Trade:
    symbol: str
    quantity: Decimal
    entry_time: datetime
    entry_price: Decimal
    entry_fee: Decimal
    exit_time: datetime | None = None
    exit_price: Decimal | None = None
    exit_fee: Decimal = ZERO

    @property
    def fees(self) -> Decimal:
        return _q(self.entry_fee + self.exit_fee)

    @property
    def pnl(self) -> Decimal | None:
        if self.exit_price is None:
            return None
        return _q((self.exit_price - self.entry_price) * self.quantity - self.entry_fee - self.exit_fee)


@dataclass
class Simulation:
    """One symbol's book under the fill rule: feed it bars in order with ``step``."""

    runner: StrategyRunner
    instrument: Instrument
    cash: Decimal
    costs: Costs
    venue_price: VenuePrice | None = None
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    pending: list[Intent] = field(default_factory=list)
    lots: list[Trade] = field(default_factory=list)
    closed: list[Trade] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    equity: list[Decimal] = field(default_factory=list)
    exposed: int = 0

    def step(self, bar: Bar) -> None:
        fills = tuple(f for f in (self._fill(intent, bar) for intent in self.pending) if f is not None)
        average = self.cost_basis / self.quantity if self.quantity else ZERO
        holding = Holding(self.quantity, average, self.cash, fills)
        self.times.append(bar.open_time)
        self.equity.append(self.cash + self.quantity * bar.close)
        if self.quantity > 0:
            self.exposed += 1
        self.pending = self.runner.on_candle(bar, holding)

    def run(self, bars: Iterable[Bar]) -> None:
        for bar in bars:
            self.step(bar)

    def _price(self, intent: Intent, bar: Bar) -> Decimal | None:
        buy = intent.side is Side.BUY
        if intent.limit is not None:
            if buy:
                return min(bar.open, intent.limit) if bar.low <= intent.limit else None
            return max(bar.open, intent.limit) if bar.high >= intent.limit else None
        reference = bar.open
        if intent.venue is not None and self.venue_price is not None:
            reference = self.venue_price(intent.venue, self.instrument.symbol, bar.open_time, bar.open)
        return _q(reference * (ONE + self.costs.slippage if buy else ONE - self.costs.slippage))

    def _fill(self, intent: Intent, bar: Bar) -> Fill | None:
        price = self._price(intent, bar)
        if price is None:
            return None
        rate = self.costs.fee_rate
        lots = self.instrument.lots
        if intent.side is Side.BUY:
            affordable = lots(self.cash / (price * (ONE + rate)))
            wanted = lots(self.cash * intent.fraction / (price * (ONE + rate))) if intent.fraction else intent.quantity
            quantity = min(wanted or ZERO, affordable)
        else:
            wanted = lots(self.quantity * intent.fraction) if intent.fraction else intent.quantity
            quantity = min(wanted or ZERO, self.quantity)
        if quantity <= 0:
            return None
        fee = fee_for(price, quantity, rate)
        fill = Fill(bar.open_time, intent.side, quantity, price, fee, intent.tag, intent.venue)
        if intent.side is Side.BUY:
            self._buy(fill)
        else:
            self._sell(fill)
        return fill

    def _buy(self, fill: Fill) -> None:
        self.cash -= fill.price * fill.quantity + fill.fee
        self.quantity += fill.quantity
        self.cost_basis += fill.price * fill.quantity
        self.lots.append(Trade(self.instrument.symbol, fill.quantity, fill.time, fill.price, fill.fee))

    def _sell(self, fill: Fill) -> None:
        self.cash += fill.price * fill.quantity - fill.fee
        average = self.cost_basis / self.quantity
        self.quantity -= fill.quantity
        self.cost_basis = average * self.quantity if self.quantity else ZERO
        remaining = fill.quantity
        while remaining > 0:
            lot = self.lots[0]
            take = min(remaining, lot.quantity)
            entry_fee = lot.entry_fee if take == lot.quantity else _q(lot.entry_fee * take / lot.quantity)
            exit_fee = fill.fee if take == fill.quantity else _q(fill.fee * take / fill.quantity)
            self.closed.append(
                Trade(lot.symbol, take, lot.entry_time, lot.entry_price, entry_fee, fill.time, fill.price, exit_fee)
            )
            if take == lot.quantity:
                self.lots.pop(0)
            else:
                lot.quantity -= take
                lot.entry_fee -= entry_fee
            remaining -= take

    @property
    def trades(self) -> list[Trade]:
        """Closed trades by exit (then entry) time, then the lots still open."""
        return [*self.closed, *self.lots]


@dataclass(frozen=True)
class Metrics:
    total_trades: int
    winning_trades: int
    losing_trades: int
    win_rate: Decimal | None
    profit_factor: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    total_return: Decimal
    final_equity: Decimal
    max_drawdown: Decimal
    sharpe: Decimal | None
    sortino: Decimal | None
    periods_per_year: int
    exposure: Decimal
    fees: Decimal


def combined_equity(simulations: list[Simulation]) -> tuple[list[datetime], list[Decimal]]:
    """The portfolio's equity per bar time: the sum of each symbol's book (a book before its first bar, or
    after its last, counts at its nearest value)."""
    if len(simulations) == 1:
        return simulations[0].times, simulations[0].equity
    times = sorted({t for s in simulations for t in s.times})
    total = [ZERO] * len(times)
    for s in simulations:
        by_time = dict(zip(s.times, s.equity, strict=True))
        value = s.equity[0] if s.equity else s.cash
        for i, t in enumerate(times):
            value = by_time.get(t, value)
            total[i] += value
    return times, total


def _ratio(mean: Decimal, deviation: Decimal, periods: int) -> Decimal | None:
    if deviation == 0:
        return None
    return _q(mean / deviation * Decimal(periods).sqrt())


def metrics(
    capital: Decimal, equity: list[Decimal], trades: list[Trade], exposed: int, interval_seconds: int
) -> Metrics:
    """The metrics of the module docstring."""
    with localcontext(_CTX):
        closed = [t.pnl for t in trades if t.pnl is not None]
        wins = [p for p in closed if p > 0]
        losses = [p for p in closed if p <= 0]
        gross_loss = -sum(losses, ZERO)
        peak, drawdown = capital, ZERO
        for value in equity:
            peak = max(peak, value)
            if peak > 0:
                drawdown = max(drawdown, (peak - value) / peak)
        returns = [b / a - ONE for a, b in zip([capital, *equity[:-1]], equity, strict=True) if a != 0]
        periods = YEAR_SECONDS // interval_seconds
        sharpe = sortino = None
        if len(returns) >= 2:
            mean = sum(returns, ZERO) / len(returns)
            variance = sum(((r - mean) ** 2 for r in returns), ZERO) / (len(returns) - 1)
            downside = sum((r * r for r in returns if r < 0), ZERO) / len(returns)
            sharpe = _ratio(mean, variance.sqrt(), periods)
            sortino = _ratio(mean, downside.sqrt(), periods)
        final = equity[-1] if equity else capital
        return Metrics(
            total_trades=len(closed),
            winning_trades=len(wins),
            losing_trades=len(losses),
            win_rate=_q(Decimal(len(wins)) / len(closed)) if closed else None,
            profit_factor=_q(sum(wins, ZERO) / gross_loss) if gross_loss > 0 else None,
            average_win=_q(sum(wins, ZERO) / len(wins)) if wins else None,
            average_loss=_q(sum(losses, ZERO) / len(losses)) if losses else None,
            total_return=_q(final / capital - ONE),
            final_equity=_q(final),
            max_drawdown=_q(drawdown),
            sharpe=sharpe,
            sortino=sortino,
            periods_per_year=periods,
            exposure=_q(Decimal(exposed) / len(equity)) if equity else ZERO,
            fees=_q(sum((t.fees for t in trades), ZERO)),
        )


def downsample(times: list[datetime], values: list[Decimal], points: int) -> list[tuple[datetime, Decimal]]:
    """At most ``points`` of the curve: the last point of each of ``points`` equal runs of bars (so the
    final equity is always the last point)."""
    n = len(values)
    if n <= points:
        return list(zip(times, values, strict=True))
    return [(times[(i + 1) * n // points - 1], values[(i + 1) * n // points - 1]) for i in range(points)]
