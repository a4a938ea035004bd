"""Candles (OHLCV bars): live ones aggregated from feed ticks, and a reproducible history before the feed.

Live bars. Every feed tick moves an instrument from ``prev`` to ``price`` and trades a synthetic volume;
``advance`` folds that into the open bar of one interval. A bar opens at the price the instrument had when
its first tick arrived (the previous close), so consecutive bars join without gaps while the feed runs.
The feed leader applies ``advance`` and stores the result; a candle subscriber applies the very same
function to the tick events, so both see identical bars.

History. Bars that open before the instrument's ``created_at`` floored to the interval (the interval's
*anchor*) are generated on demand, never stored: a pure function of (feed seed, symbol, interval, open
time) and the instrument's parameters. Prices follow one path ``X`` of log moves per instrument on the
one-minute grid, counted backwards from the feed start, so every interval shows the same market. Each
interval reads the path relative to its anchor: its last historical close is exactly the initial price
the feed starts from.

``X`` is an Ornstein-Uhlenbeck process: a random walk with the feed's volatility over hours and days that
reverts slowly towards the initial price, so years of history stay within a plausible band instead of
wandering off by orders of magnitude. It is built by Lévy's midpoint construction: ``X(0) = 0``,
``X(SPAN)`` is drawn, and the point midway between two known points is drawn from its bridge distribution
given them (a Gaussian whose weights and variance depend only on the distance, one pair per level). Any
point therefore costs at most log2(SPAN) draws, and any range of any age is available without a backfill.
Every draw is an Irwin-Hall sum of integers from a hash of its key and all arithmetic is Decimal in a fixed
context, so no float reaches a price and a key gives the same number in every process on every platform.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from functools import lru_cache

# Candle interval codes and their length in seconds. Every length divides a day, so the bars of every
# interval start on one midnight-aligned grid.
INTERVALS: Mapping[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}

# The quote notional a feed tick trades on average. History bars trade it once per second of their length,
# so history and live bars of the default one-second feed are of a size.
TICK_NOTIONAL = Decimal(2000)

# Standard deviation of the history's log price around the initial price in the long run; sets how fast
# the path reverts (a more volatile instrument reverts faster to stay in the same band).
HISTORY_DISPERSION = Decimal("0.5")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE = 60
_ONE = Decimal(1)
_THREE = Decimal(3)
_U32_RANGE = Decimal(1 << 32)
# Synthetic arithmetic runs in its own context so the numbers never depend on the caller's.
_CTX = Context(prec=20, rounding=ROUND_HALF_EVEN)
# The history path covers 2**26 minutes (about 127 years) before the feed start.
_SPAN_BITS = 26
_SPAN = 1 << _SPAN_BITS


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle. ``open_time`` is the start of its interval (UTC); prices are on the tick grid."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    # Turnover in the quote asset: exactly the sum of price times quantity over the ticks of a live bar.
    quote_volume: Decimal


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICROSECOND


def floor_time(ts: datetime, seconds: int) -> datetime:
    """The start of the ``seconds``-long interval holding ``ts`` (integer arithmetic, UTC, epoch-aligned)."""
    micros = _micros(ts)
    return _EPOCH + timedelta(microseconds=micros - micros % (seconds * 1_000_000))


def ceil_time(ts: datetime, seconds: int) -> datetime:
    """The first interval start at or after ``ts``."""
    return floor_time(ts + timedelta(seconds=seconds) - _MICROSECOND, seconds)


def advance(bar: Bar | None, seconds: int, prev: Decimal, price: Decimal, volume: Decimal, ts: datetime) -> Bar:
    """The open bar after a tick to ``price`` at ``ts`` that traded ``volume``.

    A tick in a later interval than ``bar`` opens a new bar at the previous close (``prev`` when there is
    no bar yet). A tick stamped earlier than ``bar`` (a new leader whose clock lags the old one's) still
    counts in ``bar``, so a bar never reopens.
    """
    open_time = floor_time(ts, seconds)
    turnover = price * volume
    if bar is None or open_time > bar.open_time:
        start = prev if bar is None else bar.close
        return Bar(open_time, start, max(start, price), min(start, price), price, volume, turnover)
    return Bar(
        bar.open_time,
        bar.open,
        max(bar.high, price),
        min(bar.low, price),
        price,
        bar.volume + volume,
        bar.quote_volume + turnover,
    )


def _uniforms(key: str, count: int) -> tuple[int, ...]:
    """``count`` reproducible integers, uniform on [0, 2**32), from a hash of ``key``."""
    return struct.unpack(f">{count}I", hashlib.shake_256(key.encode()).digest(count * 4))


def _normal(draws: tuple[int, ...]) -> Decimal:
    """≈ N(0, 1) from 12 uniform integers: the sum of 12 uniforms on [-1/2, 1/2) has mean 0, variance 1."""
    return Decimal(sum(draws) - 12 * (1 << 31)) / _U32_RANGE


def lots(notional: Decimal, price: Decimal, lot: Decimal) -> Decimal:
    """The quantity worth ``notional`` at ``price``, rounded down to whole lots (at least one)."""
    return max(lot, (notional / price / lot).to_integral_value(rounding=ROUND_DOWN) * lot)


def to_tick(value: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """``value`` on the tick grid; the default rounding is the feed's, to the nearest tick."""
    return (value / tick).to_integral_value(rounding=rounding) * tick


def round_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """``price`` to the nearest tick, and at least one tick: a price never reaches zero."""
    return max(tick, to_tick(price, tick))


def tick_volume(seed: int, symbol: str, step: int, price: Decimal, lot: Decimal) -> Decimal:
    """The base quantity traded at feed step ``step``: TICK_NOTIONAL jittered to [0.25, 1.75), in lots."""
    (draw,) = _uniforms(f"volume:{seed}:{symbol}:{step}", 1)
    with localcontext(_CTX):
        jitter = Decimal(250 + draw % 1500) / Decimal(1000)
        return lots(TICK_NOTIONAL * jitter, price, lot)


@lru_cache(maxsize=256)
def _bridge(volatility: Decimal) -> tuple[tuple[tuple[Decimal, Decimal], ...], Decimal]:
    """The Ornstein-Uhlenbeck constants of the path for a per-second ``volatility``.

    Per level j, for a point with known neighbours 2**j minutes either side: the weight of each neighbour
    and the standard deviation of the draw, rho / (1 + rho**2) and sqrt(v (1 - rho**2) / (1 + rho**2)) with
    rho = exp(-theta 2**j), v the long-run variance and theta the reversion rate per minute. Also the
    standard deviation of X(SPAN) given X(0) = 0. For small theta 2**j they tend to Brownian motion's 1/2
    and sigma sqrt(2**j / 2).
    """
    with localcontext(_CTX):
        variance = HISTORY_DISPERSION * HISTORY_DISPERSION
        theta = volatility * volatility * _MINUTE / (2 * variance)
        levels = []
        for j in range(_SPAN_BITS):
            rho = (-theta * (1 << j)).exp()
            rho2 = rho * rho
            levels.append((rho / (_ONE + rho2), (variance * (_ONE - rho2) / (_ONE + rho2)).sqrt()))
        top = (variance * (_ONE - (-2 * theta * _SPAN).exp())).sqrt()
        return tuple(levels), top


@lru_cache(maxsize=1 << 16)
def _path(seed: int, symbol: str, volatility: Decimal, u: int) -> Decimal:
    """X(u): the history's log move ``u`` minutes before the feed start (see the module doc)."""
    if u == 0:
        return Decimal(0)
    levels, top = _bridge(volatility)
    with localcontext(_CTX):
        draw = _normal(_uniforms(f"path:{seed}:{symbol}:{u}", 12))
        if u == _SPAN:
            return top * draw
        j = (u & -u).bit_length() - 1
        weight, std = levels[j]
        neighbours = _path(seed, symbol, volatility, u - (1 << j)) + _path(seed, symbol, volatility, u + (1 << j))
        return weight * neighbours + std * draw


@dataclass(frozen=True, slots=True)
class History:
    """The generated past of one instrument. ``volatility`` is per one-second feed step, as in the feed."""

    seed: int
    symbol: str
    initial_price: Decimal
    tick: Decimal
    lot: Decimal
    volatility: Decimal
    created_at: datetime
    # Minute 0 of the path: the feed start floored to the minute.
    origin: datetime = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", floor_time(self.created_at, _MINUTE))

    def anchor(self, seconds: int) -> datetime:
        """The first open time that is not history: ``created_at`` floored to the interval."""
        return floor_time(self.created_at, seconds)

    def first(self, seconds: int) -> datetime:
        """The earliest open time history reaches."""
        return ceil_time(self.origin - timedelta(minutes=_SPAN), seconds)

    def minutes_back(self, ts: datetime) -> int:
        return (self.origin - ts) // timedelta(minutes=1)

    def bars(self, code: str, start: datetime, end: datetime, limit: int, *, latest: bool = False) -> list[Bar]:
        """History bars of interval ``code`` with open times in [start, end], ascending.

        At most ``limit`` of them: the earliest, or the latest when ``latest``. Open times at or after the
        anchor are not history and are never returned.
        """
        seconds = INTERVALS[code]
        first = max(ceil_time(start, seconds), self.first(seconds))
        last = min(floor_time(end, seconds), self.anchor(seconds) - timedelta(seconds=seconds))
        if limit <= 0 or first > last:
            return []
        step = timedelta(seconds=seconds)
        count = min(limit, (last - first) // step + 1)
        begin = last - step * (count - 1) if latest else first
        return [_history_bar(self, code, begin + step * i) for i in range(count)]


@lru_cache(maxsize=1 << 15)
def _path_price(history: History, pin: int, u: int) -> Decimal:
    """The price ``u`` minutes before the feed start, read by an interval pinned ``pin`` minutes before it."""
    h = history
    move = _path(h.seed, h.symbol, h.volatility, u) - _path(h.seed, h.symbol, h.volatility, pin)
    with localcontext(_CTX):
        # At least one tick, as in the feed: a price never reaches zero.
        return round_to_tick(h.initial_price * move.exp(), h.tick)


@lru_cache(maxsize=1 << 14)
def _history_bar(history: History, code: str, open_time: datetime) -> Bar:
    """One history bar: open and close on the path; wicks and volume drawn for the bar."""
    h = history
    seconds = INTERVALS[code]
    u_open = h.minutes_back(open_time)
    pin = h.minutes_back(h.anchor(seconds))
    open_ = _path_price(h, pin, u_open)
    close = _path_price(h, pin, u_open - seconds // _MINUTE)
    draws = _uniforms(f"bar:{h.seed}:{h.symbol}:{code}:{u_open}", 25)
    with localcontext(_CTX):
        # Wicks beyond the body: half a normal draw of the bar's standard deviation, each way.
        sigma = h.volatility * Decimal(seconds).sqrt() / 2
        high = to_tick(max(open_, close) * (1 + abs(_normal(draws[:12])) * sigma), h.tick, ROUND_CEILING)
        low = to_tick(min(open_, close) / (1 + abs(_normal(draws[12:24])) * sigma), h.tick, ROUND_FLOOR)
        jitter = Decimal(500 + draws[24] % 1000) / Decimal(1000)
        low = max(h.tick, low)
        # No ticks to sum: the turnover is the volume at the typical price (high + low + close) / 3.
        typical = to_tick((high + low + close) / _THREE, h.tick)
        volume = lots(TICK_NOTIONAL * seconds * jitter, typical, h.lot)
    return Bar(open_time, open_, high, low, close, volume, volume * typical)


# The trailing-24-hour window of tickers: this many one-minute open times, the current one included.
DAY_MINUTES = 1440
_HOUR = 3600


def day_window(now: datetime) -> tuple[datetime, datetime]:
    """The first and last one-minute open times of the trailing 24 hours at ``now``."""
    end = floor_time(now, _MINUTE)
    return end - timedelta(minutes=DAY_MINUTES - 1), end


def hour_boundary(history: History, start: datetime) -> datetime:
    """Where a day window starting at ``start`` may switch from one-minute to one-hour bars.

    Live bars of every interval come from the same ticks, so an hour bar equals the minute bars inside it;
    history bars of different intervals do not add up that way. Hours are used from the first whole hour
    of the window that lies entirely in live data.
    """
    return max(ceil_time(start, _HOUR), ceil_time(history.anchor(_MINUTE), _HOUR))


def window_bars(history: History, start: datetime, end: datetime, minutes: list[Bar], hours: list[Bar]) -> list[Bar]:
    """The bars covering open times [start, end] of one-minute granularity, ascending.

    ``minutes`` and ``hours`` are the stored one-minute and one-hour bars of the window (either may hold
    more); history fills the minutes before the anchor. Reading about 80 bars instead of 1440 is what
    keeps tickers and market statistics cheap.
    """
    boundary = hour_boundary(history, start)
    last_minute = min(end, boundary - timedelta(minutes=1))
    live = {bar.open_time: bar for bar in minutes if start <= bar.open_time <= last_minute}
    head = {bar.open_time: bar for bar in history.bars("1m", start, last_minute, DAY_MINUTES)} | live
    return [head[t] for t in sorted(head)] + [bar for bar in hours if boundary <= bar.open_time <= end]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """OHLCV over a window of bars, closed by the latest price."""

    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    quote_volume: Decimal

    @property
    def change(self) -> Decimal:
        return self.last - self.open

    @property
    def change_percent(self) -> Decimal:
        """Percent change from open to last, to two decimals."""
        with localcontext(_CTX):
            return (self.change * 100 / self.open).quantize(Decimal("0.01"))


def summarize(bars: list[Bar], last: Decimal) -> WindowStats:
    """Statistics of ``bars`` (ascending) with ``last`` the current price; an empty window is flat at last."""
    if not bars:
        return WindowStats(last, last, last, last, Decimal(0), Decimal(0))
    return WindowStats(
        open=bars[0].open,
        high=max(last, *(b.high for b in bars)),
        low=min(last, *(b.low for b in bars)),
        last=last,
        volume=sum((b.volume for b in bars), Decimal(0)),
        quote_volume=sum((b.quote_volume for b in bars), Decimal(0)),
    )
