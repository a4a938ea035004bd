"""Technical indicators over candles: pure, GraphQL-free, incremental (a live stream and a strategy reuse it).

Why talipp. The maths comes from talipp (https://github.com/nardew/talipp), an *incremental* indicator
library: each indicator keeps its own state and takes one value at a time with ``add`` (a new candle) or
``update`` (the open candle changed), so a stream folds a tick into its indicators in O(1) instead of
recomputing the window, and a backtest or bot feeds candles as they come. TA-Lib computes whole arrays
only and needs a C build; pandas-ta likewise recomputes from scratch.

Definitions follow TA-Lib (the industry reference), value for value, including warm-up: a reading is
null until TA-Lib's lookback has passed (the first value sits at index ``lookback``). Where talipp's own
indicator differs from TA-Lib, the TA-Lib definition is composed from talipp building blocks:

- SMA, EMA (seeded with the SMA of the first ``period`` values), WMA, Bollinger bands (SMA middle,
  *population* standard deviation), OBV (starts at the first candle's volume): talipp as is.
- RSI: Wilder's smoothing seeded with the mean gain and loss of the first ``period`` changes: talipp as is.
  A window with neither gains nor losses reads 0, as in TA-Lib (talipp says 100).
- MACD: TA-Lib seeds the fast EMA on the ``fast`` closes that end where the slow EMA starts (index
  slow - 1), not at index fast - 1; so the fast talipp EMA is fed from index slow - fast. The signal is an
  EMA of the line; all three outputs appear together at index slow + signal - 2.
- ATR: the true range needs a previous close, so TA-Lib's first true range is at index 1 and the first
  ATR (their mean over ``period``) at index ``period``, then Wilder's smoothing: talipp's SMMA over the
  true ranges from index 1 (talipp's own ATR counts the first bar's high - low and starts one bar early).
- Stochastic (TA-Lib STOCH, "slow"): %K is the SMA over ``kSmoothing`` of the raw %K over ``kPeriod``
  bars, %D the SMA over ``dPeriod`` of %K; both appear from TA-Lib's lookback on. A flat window reads a
  raw %K of 0, as in TA-Lib.
- VWAP (not in TA-Lib): talipp's cumulative VWAP of the typical price (high + low + close) / 3, restarted
  at every UTC midnight (a session VWAP).

Decimal boundary. talipp computes in binary floats. Candles are Decimal; each value is converted to a
float on the way in and every reading back to a Decimal rounded to ``SIGNIFICANT_DIGITS`` significant
digits. A float carries about 16 significant digits and these recurrences lose a few ulps at most, so
the digits kept are exact; prices stay Decimal in the database and the API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from enum import Enum
from typing import Any

from talipp.indicators import BB, EMA, OBV, RSI, SMA, SMMA, VWAP, WMA, Stoch
from talipp.ohlcv import OHLCV

from .candles import Bar

SIGNIFICANT_DIGITS = 12
# The most indicators one request computes.
MAX_KINDS = 10
_ROUND = Context(prec=SIGNIFICANT_DIGITS)
# A tracker keeps at most this many inputs; older ones are purged (talipp keeps every input otherwise).
_KEEP = 2048


class Kind(Enum):
    SMA = "SMA"
    EMA = "EMA"
    WMA = "WMA"
    RSI = "RSI"
    MACD = "MACD"
    BBANDS = "BBANDS"
    ATR = "ATR"
    STOCH = "STOCH"
    VWAP = "VWAP"
    OBV = "OBV"


class InvalidParameter(ValueError):
    """A parameter outside its bounds; ``name`` is the parameter (the API prefixes its own path)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Bounds:
    minimum: int | Decimal
    maximum: int | Decimal


# Parameter name -> (bounds, default per kind that uses it). The schema shows these.
PERIOD_BOUNDS = Bounds(2, 500)
SMOOTHING_BOUNDS = Bounds(1, 100)
DEVIATION_BOUNDS = Bounds(Decimal("0.1"), Decimal(10))
DEFAULTS: dict[Kind, dict[str, int | Decimal]] = {
    Kind.SMA: {"period": 20},
    Kind.EMA: {"period": 20},
    Kind.WMA: {"period": 20},
    Kind.RSI: {"period": 14},
    Kind.MACD: {"fast_period": 12, "slow_period": 26, "signal_period": 9},
    Kind.BBANDS: {"period": 20, "deviations": Decimal(2)},
    Kind.ATR: {"period": 14},
    Kind.STOCH: {"k_period": 14, "k_smoothing": 3, "d_period": 3},
    Kind.VWAP: {},
    Kind.OBV: {},
}
BOUNDS: dict[str, Bounds] = {
    "period": PERIOD_BOUNDS,
    "fast_period": PERIOD_BOUNDS,
    "slow_period": PERIOD_BOUNDS,
    "signal_period": SMOOTHING_BOUNDS,
    "deviations": DEVIATION_BOUNDS,
    "k_period": SMOOTHING_BOUNDS,
    "k_smoothing": SMOOTHING_BOUNDS,
    "d_period": SMOOTHING_BOUNDS,
}


@dataclass(frozen=True)
class Spec:
    """One indicator with its parameters (all resolved: defaults filled in, bounds checked)."""

    kind: Kind
    period: int | None = None
    fast_period: int | None = None
    slow_period: int | None = None
    signal_period: int | None = None
    deviations: Decimal | None = None
    k_period: int | None = None
    k_smoothing: int | None = None
    d_period: int | None = None

    @classmethod
    def of(cls, kind: Kind, **given: int | Decimal | None) -> Spec:
        """The spec of ``kind`` from the parameters given (None = default); raises InvalidParameter for a
        parameter the kind does not take, one out of bounds, or a MACD whose fast period is not shorter."""
        defaults = DEFAULTS[kind]
        values: dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            if name not in defaults:
                raise InvalidParameter(name, f"{kind.value} takes no {name}")
            bounds = BOUNDS[name]
            if not bounds.minimum <= value <= bounds.maximum:
                raise InvalidParameter(
                    name, f"{name} of {kind.value} must be between {bounds.minimum} and {bounds.maximum}"
                )
            values[name] = value
        resolved = {**defaults, **values}
        if kind is Kind.MACD and resolved["fast_period"] >= resolved["slow_period"]:
            raise InvalidParameter("fast_period", "fast_period of MACD must be shorter than slow_period")
        return cls(kind=kind, **resolved)

    @property
    def label(self) -> str:
        """E.g. EMA(20), MACD(12,26,9), BBANDS(20,2)."""
        args = [self.period, self.fast_period, self.slow_period, self.signal_period, self.deviations]
        args += [self.k_period, self.k_smoothing, self.d_period]
        shown = [format(a.normalize(), "f") if isinstance(a, Decimal) else str(a) for a in args if a is not None]
        return f"{self.kind.value}({','.join(shown)})" if shown else self.kind.value

    @property
    def lookback(self) -> int:
        """TA-Lib's lookback: the index of the first non-null reading."""
        k = self.kind
        if k in (Kind.SMA, Kind.EMA, Kind.WMA, Kind.BBANDS):
            return _int(self.period) - 1
        if k in (Kind.RSI, Kind.ATR):
            return _int(self.period)
        if k is Kind.MACD:
            return _int(self.slow_period) + _int(self.signal_period) - 2
        if k is Kind.STOCH:
            return _int(self.k_period) + _int(self.k_smoothing) + _int(self.d_period) - 3
        return 0


def _int(value: int | None) -> int:
    assert value is not None
    return value


@dataclass(frozen=True)
class Reading:
    """One indicator's values at one candle. ``value`` is the main line: the average, RSI, ATR, VWAP, OBV,
    the MACD line, Bollinger's middle band or Stochastic %K. Null during warm-up."""

    open_time: datetime
    value: Decimal | None = None
    signal: Decimal | None = None
    histogram: Decimal | None = None
    upper: Decimal | None = None
    lower: Decimal | None = None
    d: Decimal | None = None


def to_decimal(value: float | None) -> Decimal | None:
    """A talipp float as a Decimal of SIGNIFICANT_DIGITS significant digits (None stays None)."""
    if value is None or not math.isfinite(value):
        return None
    return _ROUND.create_decimal_from_float(value)


def _last(indicator: Any) -> Any:
    return indicator[-1] if len(indicator) else None


class _Tracker:
    """One spec's talipp state. ``add`` takes a new candle, ``update`` replaces the last one."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.lookback = spec.lookback
        self.count = 0
        self._session: datetime | None = None
        self._build()

    def _build(self) -> None:
        s, k = self.spec, self.spec.kind
        self.main: Any = None
        self.extra: Any = None
        # Which inputs reached the secondary indicator, so ``update`` can take back exactly those.
        self.fed: list[bool] = []
        if k is Kind.SMA:
            self.main = SMA(_int(s.period))
        elif k is Kind.EMA:
            self.main = EMA(_int(s.period))
        elif k is Kind.WMA:
            self.main = WMA(_int(s.period))
        elif k is Kind.RSI:
            self.main = RSI(_int(s.period))
        elif k is Kind.BBANDS:
            self.main = BB(_int(s.period), float(s.deviations or 0))
        elif k is Kind.OBV:
            self.main = OBV()
        elif k is Kind.VWAP:
            self.main = VWAP()
        elif k is Kind.ATR:
            self.main = SMMA(_int(s.period))
            self.prev_close: list[float] = []
        elif k is Kind.MACD:
            self.main = EMA(_int(s.slow_period))
            self.fast = EMA(_int(s.fast_period))
            self.extra = EMA(_int(s.signal_period))
            self.fast_fed: list[bool] = []
        elif k is Kind.STOCH:
            # talipp's Stoch gives the raw %K; the slow %K and %D are SMAs over it, fed here so that a
            # flat window can read 0 as in TA-Lib (talipp says 100).
            self.main = Stoch(_int(s.k_period), 1)
            self.fast = SMA(_int(s.k_smoothing))
            self.extra = SMA(_int(s.d_period))
            self.fast_fed = []

    def add(self, bar: Bar) -> Reading:
        self.count += 1
        k = self.spec.kind
        close = float(bar.close)
        if k in (Kind.SMA, Kind.EMA, Kind.WMA, Kind.RSI, Kind.BBANDS):
            self.main.add(close)
        elif k is Kind.OBV:
            self.main.add(_ohlcv(bar))
        elif k is Kind.VWAP:
            day = bar.open_time.replace(hour=0, minute=0, second=0, microsecond=0)
            if self._session != day:
                self._session = day
                self.main = VWAP()
            self.main.add(_ohlcv(bar))
        elif k is Kind.ATR:
            previous = self.prev_close[-1] if self.prev_close else None
            self.prev_close.append(close)
            fed = previous is not None
            if fed:
                high, low = float(bar.high), float(bar.low)
                assert previous is not None
                self.main.add(max(high - low, abs(high - previous), abs(low - previous)))
            self.fed.append(fed)
        elif k is Kind.MACD:
            s = self.spec
            self.main.add(close)
            fast_fed = self.count > _int(s.slow_period) - _int(s.fast_period)
            if fast_fed:
                self.fast.add(close)
            self.fast_fed.append(fast_fed)
            fed = _last(self.main) is not None and _last(self.fast) is not None
            if fed:
                self.extra.add(_last(self.fast) - _last(self.main))
            self.fed.append(fed)
        elif k is Kind.STOCH:
            self.main.add(_ohlcv(bar))
            raw = _last(self.main)
            fast_fed = raw is not None and raw.k is not None
            if fast_fed:
                window = self.main.input_values[-_int(self.spec.k_period) :]
                flat = max(v.high for v in window) == min(v.low for v in window)
                self.fast.add(0.0 if flat else raw.k)
            self.fast_fed.append(fast_fed)
            fed = _last(self.fast) is not None
            if fed:
                self.extra.add(_last(self.fast))
            self.fed.append(fed)
        reading = self._reading(bar.open_time)
        if self.count > _KEEP * 2:
            self._purge(self.count - _KEEP)
        return reading

    def update(self, bar: Bar) -> Reading:
        """The last candle changed (the open one took a tick): take it back, add it again."""
        self._remove()
        return self.add(bar)

    def _remove(self) -> None:
        k = self.spec.kind
        self.count -= 1
        if k is Kind.ATR:
            self.prev_close.pop()
            if self.fed.pop():
                self.main.remove()
            return
        self.main.remove()
        if k is Kind.MACD or k is Kind.STOCH:
            if self.fast_fed.pop():
                self.fast.remove()
            if self.fed.pop():
                self.extra.remove()

    def _purge(self, size: int) -> None:
        """Forget the oldest ``size`` inputs; what is kept is far more than any recurrence looks back."""
        k = self.spec.kind
        if k in (Kind.ATR, Kind.MACD, Kind.STOCH):
            # These trackers feed their talipp parts different numbers of inputs; trim each by its own count.
            dropped = sum(self.fed[:size])
            del self.fed[:size]
            if k is Kind.ATR:
                del self.prev_close[:size]
                self.main.purge_oldest(dropped)
            elif k is Kind.MACD:
                fast = sum(self.fast_fed[:size])
                del self.fast_fed[:size]
                self.main.purge_oldest(size)
                self.fast.purge_oldest(fast)
                self.extra.purge_oldest(dropped)
            else:
                fast = sum(self.fast_fed[:size])
                del self.fast_fed[:size]
                self.main.purge_oldest(size)
                self.fast.purge_oldest(fast)
                self.extra.purge_oldest(dropped)
        else:
            self.main.purge_oldest(size)
        self.count -= size

    def _reading(self, open_time: datetime) -> Reading:
        k = self.spec.kind
        if self.count <= self.lookback:
            return Reading(open_time)
        if k is Kind.BBANDS:
            bands = _last(self.main)
            return Reading(
                open_time, value=to_decimal(bands.cb), upper=to_decimal(bands.ub), lower=to_decimal(bands.lb)
            )
        if k is Kind.MACD:
            line = _last(self.fast) - _last(self.main)
            signal = _last(self.extra)
            return Reading(
                open_time, value=to_decimal(line), signal=to_decimal(signal), histogram=to_decimal(line - signal)
            )
        if k is Kind.STOCH:
            return Reading(open_time, value=to_decimal(_last(self.fast)), d=to_decimal(_last(self.extra)))
        if k is Kind.RSI and self.main.avg_gain[-1] == 0 and self.main.avg_loss[-1] == 0:
            return Reading(open_time, value=Decimal(0))
        return Reading(open_time, value=to_decimal(_last(self.main)))


def _ohlcv(bar: Bar) -> OHLCV:
    return OHLCV(float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume))


@dataclass
class IndicatorSet:
    """Several specs over one candle series, fed candle by candle: ``push`` adds a candle with a later
    open time and updates the last one otherwise (the open candle took another tick)."""

    specs: Sequence[Spec]
    _trackers: list[_Tracker] = field(init=False)
    _last_open: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._trackers = [_Tracker(spec) for spec in self.specs]

    def push(self, bar: Bar) -> list[Reading]:
        if self._last_open is not None and bar.open_time <= self._last_open:
            readings = [tracker.update(bar) for tracker in self._trackers]
        else:
            readings = [tracker.add(bar) for tracker in self._trackers]
        self._last_open = bar.open_time
        return readings


def compute(specs: Sequence[Spec], bars: Iterable[Bar]) -> list[list[Reading]]:
    """Each spec's readings over ``bars`` (ascending, one per bar): what TA-Lib returns for those arrays."""
    series: list[list[Reading]] = [[] for _ in specs]
    indicators = IndicatorSet(specs)
    for bar in bars:
        for out, reading in zip(series, indicators.push(bar), strict=True):
            out.append(reading)
    return series
