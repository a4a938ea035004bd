"""Trading signals, support/resistance, market phase and a regression forecast: documented, deterministic
rules over closed candles (no trained model anywhere). Pure and GraphQL-free; the indicator maths is
``engine.indicators`` (talipp), the rest is Decimal arithmetic stated here.

Signal rule (three votes, each -1, 0 or +1):
- trend: EMA(12) above EMA(26) votes +1, below -1;
- momentum: MACD(12,26,9) histogram above 0 votes +1, below -1;
- RSI(14) (Wilder) below 30 (oversold) votes +1, above 70 (overbought) -1, otherwise 0.
The score is their sum (-3..3): BUY at 2 or more, SELL at -2 or less, HOLD otherwise. Strength is
100 * |score| / 3 rounded to an integer; confidence is the share of the three votes that agree with the
action (for HOLD: the share that are neutral). Entry is the last close; for BUY the stop-loss is
entry - 2 ATR(14) and the take-profit entry + 3 ATR(14) (mirrored for SELL; none for HOLD), rounded to
the instrument's tick and never below one tick.

Price levels: a candle is a swing high when its high is strictly above the highs of the SWING candles on
each side (a swing low likewise for lows). Resistances are the distinct swing highs above the last close,
nearest first; supports the distinct swing lows below it, nearest first; at most MAX_LEVELS of each, each
with how many swings touched it.

Market phase (Wyckoff's cycle as traders name it): over the last PHASE_WINDOW candles, the trend is the
change of SMA(20) over the last 10 candles against half an ATR(14). Rising by more: MARKUP; falling by
more: MARKDOWN; otherwise the market is ranging, and it is ACCUMULATION when the last close is in the
lower half of the window's high-low range, DISTRIBUTION in the upper half.

Forecast: an ordinary least-squares line through the last closes (x = candle index), extrapolated
``horizon`` candles ahead; the band is the expected value plus or minus 1.96 residual standard errors
scaled for a new observation, sqrt(1 + 1/n + (x - mean x)^2 / Sxx) (a 95% prediction interval if the
residuals were normal and independent, which prices are not: a statistical extrapolation, not a model).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import Enum

from .candles import Bar, to_tick
from .indicators import Kind, Spec, compute

EMA_FAST = Spec.of(Kind.EMA, period=12)
EMA_SLOW = Spec.of(Kind.EMA, period=26)
RSI = Spec.of(Kind.RSI, period=14)
MACD = Spec.of(Kind.MACD)
ATR = Spec.of(Kind.ATR, period=14)
SIGNAL_SPECS = (EMA_FAST, EMA_SLOW, RSI, MACD, ATR)
OVERSOLD, OVERBOUGHT = Decimal(30), Decimal(70)
STOP_ATR, TAKE_ATR = Decimal(2), Decimal(3)
# Enough closed candles for every indicator above to be past its warm-up (MACD needs 34).
SIGNAL_BARS = 200

SWING = 2
MAX_LEVELS = 5
PHASE_WINDOW = 50
PHASE_SMA = Spec.of(Kind.SMA, period=20)
PHASE_SLOPE_BARS = 10
LEVEL_BARS = 200

FORECAST_BARS = 100
Z95 = Decimal("1.96")
_CTX = Context(prec=28, rounding=ROUND_HALF_EVEN)
# The slope and the residual error are shown to 12 decimals, as stored prices are.
_FINE = Decimal("1e-12")


class Action(Enum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Phase(Enum):
    ACCUMULATION = "ACCUMULATION"
    MARKUP = "MARKUP"
    DISTRIBUTION = "DISTRIBUTION"
    MARKDOWN = "MARKDOWN"


class NotEnoughCandles(ValueError):
    """Fewer closed candles than a rule needs."""


@dataclass(frozen=True)
class Decision:
    action: Action
    strength: int
    confidence: Decimal
    entry: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    # Indicator name -> value: what the votes read.
    readings: dict[str, Decimal]
    votes: dict[str, int]


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def decide(bars: list[Bar], tick: Decimal) -> Decision:
    """The signal at the last of ``bars`` (closed candles, ascending)."""
    series = compute(SIGNAL_SPECS, bars)
    last = [s[-1] if s else None for s in series]
    fast, slow, rsi, _, atr = (r.value if r else None for r in last)
    histogram = last[3].histogram if last[3] else None
    if fast is None or slow is None or rsi is None or histogram is None or atr is None:
        raise NotEnoughCandles(f"a signal needs at least {MACD.lookback + 1} candles")
    votes = {
        "trend": _sign(fast - slow),
        "momentum": _sign(histogram),
        "rsi": 1 if rsi < OVERSOLD else -1 if rsi > OVERBOUGHT else 0,
    }
    score = sum(votes.values())
    action = Action.BUY if score >= 2 else Action.SELL if score <= -2 else Action.HOLD
    direction = {Action.BUY: 1, Action.SELL: -1, Action.HOLD: 0}[action]
    agreeing = sum(1 for v in votes.values() if v == direction)
    entry = bars[-1].close
    stop = take = None
    with localcontext(_CTX):
        if action is not Action.HOLD:
            stop = entry - direction * STOP_ATR * atr
            take = entry + direction * TAKE_ATR * atr
            # Rounded away from the entry: a stop never tighter, a target never nearer than the rule says.
            stop = max(tick, to_tick(stop, tick, ROUND_FLOOR if direction > 0 else ROUND_CEILING))
            take = max(tick, to_tick(take, tick, ROUND_CEILING if direction > 0 else ROUND_FLOOR))
        strength = int((Decimal(100) * abs(score) / 3).to_integral_value(rounding=ROUND_HALF_EVEN))
        confidence = (Decimal(agreeing) / 3).quantize(Decimal("0.0001"))
    return Decision(
        action=action,
        strength=strength,
        confidence=confidence,
        entry=entry,
        stop_loss=stop,
        take_profit=take,
        readings={
            "EMA(12)": fast,
            "EMA(26)": slow,
            "RSI(14)": rsi,
            "MACD_HISTOGRAM(12,26,9)": histogram,
            "ATR(14)": atr,
        },
        votes=votes,
    )


@dataclass(frozen=True)
class Level:
    price: Decimal
    touches: int


@dataclass(frozen=True)
class Structure:
    supports: list[Level]
    resistances: list[Level]
    swing_highs: list[Bar]
    swing_lows: list[Bar]
    phase: Phase
    last_close: Decimal
    sma_change: Decimal
    atr: Decimal
    range_position: Decimal


def swings(bars: list[Bar], side: int = SWING) -> tuple[list[Bar], list[Bar]]:
    """(swing highs, swing lows) of ``bars``: strictly beyond the ``side`` candles on each side."""
    highs, lows = [], []
    for i in range(side, len(bars) - side):
        around = bars[i - side : i] + bars[i + 1 : i + side + 1]
        if all(bars[i].high > b.high for b in around):
            highs.append(bars[i])
        if all(bars[i].low < b.low for b in around):
            lows.append(bars[i])
    return highs, lows


def _levels(prices: list[Decimal]) -> list[Level]:
    counts: dict[Decimal, int] = {}
    for p in prices:
        counts[p] = counts.get(p, 0) + 1
    return [Level(p, n) for p, n in counts.items()]


def phase_of(bars: list[Bar]) -> tuple[Phase, Decimal, Decimal, Decimal]:
    """(phase, SMA(20) change over 10 candles, ATR(14), position of the last close in the range 0..1)."""
    window = bars[-PHASE_WINDOW:]
    if len(window) < PHASE_WINDOW:
        raise NotEnoughCandles(f"the market phase needs at least {PHASE_WINDOW} candles")
    sma, atr = compute((PHASE_SMA, ATR), window)
    now, before = sma[-1].value, sma[-1 - PHASE_SLOPE_BARS].value
    volatility = atr[-1].value
    assert now is not None and before is not None and volatility is not None
    high = max(b.high for b in window)
    low = min(b.low for b in window)
    with localcontext(_CTX):
        change = now - before
        position = (window[-1].close - low) / (high - low) if high > low else Decimal("0.5")
        threshold = volatility / 2
        if change > threshold:
            phase = Phase.MARKUP
        elif change < -threshold:
            phase = Phase.MARKDOWN
        else:
            phase = Phase.ACCUMULATION if position < Decimal("0.5") else Phase.DISTRIBUTION
    return phase, change, volatility, position.quantize(Decimal("0.0001"))


def structure(bars: list[Bar]) -> Structure:
    """Support, resistance and phase at the last of ``bars`` (closed candles, ascending)."""
    phase, change, atr, position = phase_of(bars)
    highs, lows = swings(bars)
    close = bars[-1].close
    resistances = sorted((lv for lv in _levels([b.high for b in highs]) if lv.price > close), key=lambda lv: lv.price)
    supports = sorted((lv for lv in _levels([b.low for b in lows]) if lv.price < close), key=lambda lv: -lv.price)
    return Structure(
        supports=supports[:MAX_LEVELS],
        resistances=resistances[:MAX_LEVELS],
        swing_highs=highs,
        swing_lows=lows,
        phase=phase,
        last_close=close,
        sma_change=change,
        atr=atr,
        range_position=position,
    )


@dataclass(frozen=True)
class ForecastPoint:
    steps_ahead: int
    expected: Decimal
    lower: Decimal
    upper: Decimal


@dataclass(frozen=True)
class Forecast:
    slope: Decimal
    intercept: Decimal
    residual_std: Decimal
    r_squared: Decimal
    points: list[ForecastPoint]


def forecast(closes: list[Decimal], horizon: int, tick: Decimal) -> Forecast:
    """Least-squares line through ``closes`` (x = 0..n-1), extrapolated 1..horizon steps (module doc)."""
    n = len(closes)
    if n < 3:
        raise NotEnoughCandles("a forecast needs at least 3 candles")
    with localcontext(_CTX):
        xs = [Decimal(i) for i in range(n)]
        mean_x = sum(xs, Decimal(0)) / n
        mean_y = sum(closes, Decimal(0)) / n
        sxx = sum(((x - mean_x) ** 2 for x in xs), Decimal(0))
        sxy = sum(((x - mean_x) * (y - mean_y) for x, y in zip(xs, closes, strict=True)), Decimal(0))
        slope = sxy / sxx
        intercept = mean_y - slope * mean_x
        residuals = [y - (intercept + slope * x) for x, y in zip(xs, closes, strict=True)]
        sse = sum((r * r for r in residuals), Decimal(0))
        sst = sum(((y - mean_y) ** 2 for y in closes), Decimal(0))
        std = (sse / (n - 2)).sqrt()
        r2 = Decimal(1) - sse / sst if sst else Decimal(1)
        points = []
        for h in range(1, horizon + 1):
            x = Decimal(n - 1 + h)
            expected = intercept + slope * x
            half = Z95 * std * (1 + Decimal(1) / n + (x - mean_x) ** 2 / sxx).sqrt()
            points.append(
                ForecastPoint(
                    h,
                    max(tick, to_tick(expected, tick)),
                    max(tick, to_tick(expected - half, tick, ROUND_FLOOR)),
                    to_tick(expected + half, tick, ROUND_CEILING),
                )
            )
        return Forecast(
            slope=slope.quantize(_FINE),
            intercept=to_tick(intercept, tick),
            residual_std=std.quantize(_FINE),
            r_squared=r2.quantize(Decimal("0.0001")),
            points=points,
        )
