"""Indicator, signal and market-structure types: series of indicator readings, BUY/SELL/HOLD signals with
their rule, support/resistance with the market phase, and a regression forecast."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING

import strawberry

from graphql_api.engine import indicators as ind
from graphql_api.engine import signals as sig
from schema.common import enum_from
from schema.market import Candle, CandleInterval

_P = ind.PERIOD_BOUNDS
_S = ind.SMOOTHING_BOUNDS
_D = ind.DEVIATION_BOUNDS


@strawberry.enum(description="An indicator. Values follow TA-Lib's definitions, warm-up included (see each kind).")
class IndicatorKind(Enum):
    SMA = strawberry.enum_value("SMA", description="Simple moving average of the close over `period` (default 20).")
    EMA = strawberry.enum_value(
        "EMA",
        description="Exponential moving average of the close, k = 2 / (period + 1), seeded with the SMA of "
        "the first `period` closes (default 20).",
    )
    WMA = strawberry.enum_value(
        "WMA", description="Linearly weighted moving average of the close over `period` (default 20)."
    )
    RSI = strawberry.enum_value(
        "RSI",
        description="Relative strength index with Wilder's smoothing over `period` (default 14); first value "
        "at the candle index `period`.",
    )
    MACD = strawberry.enum_value(
        "MACD",
        description="MACD (`fastPeriod` 12, `slowPeriod` 26, `signalPeriod` 9) as TA-Lib computes it: "
        "`value` is the line (fast EMA minus slow EMA), `signal` its EMA, `histogram` their difference.",
    )
    BBANDS = strawberry.enum_value(
        "BBANDS",
        description="Bollinger bands: `value` the SMA over `period` (20), `upper`/`lower` it plus/minus "
        "`deviations` (2) population standard deviations.",
    )
    ATR = strawberry.enum_value(
        "ATR",
        description="Average true range with Wilder's smoothing over `period` (default 14); first value at "
        "the candle index `period` (the first true range needs a previous close).",
    )
    STOCH = strawberry.enum_value(
        "STOCH",
        description="Slow stochastic: `value` is %K, the SMA over `kSmoothing` (3) of the raw %K over "
        "`kPeriod` (14) candles; `d` is %D, the SMA over `dPeriod` (3) of %K.",
    )
    VWAP = strawberry.enum_value(
        "VWAP",
        description="Volume-weighted average of the typical price (high + low + close) / 3, cumulative "
        "from 00:00 UTC of each day (a session VWAP). No parameters.",
    )
    OBV = strawberry.enum_value(
        "OBV",
        description="On-balance volume, cumulative from the first candle of the window (which counts its "
        "volume). No parameters.",
    )


def _bounds(bounds: ind.Bounds) -> str:
    return f"{bounds.minimum} to {bounds.maximum}"


@strawberry.input(
    description="One indicator and its parameters. A parameter left out takes the kind's default; giving "
    "a parameter the kind does not take, or one out of bounds, is BAD_USER_INPUT naming it."
)
class IndicatorInput:
    kind: IndicatorKind = strawberry.field(description="Which indicator.")
    period: int | None = strawberry.field(
        default=None,
        description=f"Window of SMA, EMA, WMA, BBANDS (default 20), RSI, ATR (default 14); {_bounds(_P)}.",
    )
    fast_period: int | None = strawberry.field(
        default=None, description=f"MACD fast EMA (default 12), shorter than slowPeriod; {_bounds(_P)}."
    )
    slow_period: int | None = strawberry.field(default=None, description=f"MACD slow EMA (default 26); {_bounds(_P)}.")
    signal_period: int | None = strawberry.field(
        default=None, description=f"MACD signal EMA (default 9); {_bounds(_S)}."
    )
    deviations: Decimal | None = strawberry.field(
        default=None, description=f"BBANDS band width in standard deviations (default 2); {_bounds(_D)}."
    )
    k_period: int | None = strawberry.field(
        default=None, description=f"STOCH raw %K window (default 14); {_bounds(_S)}."
    )
    k_smoothing: int | None = strawberry.field(
        default=None, description=f"STOCH %K smoothing (default 3); {_bounds(_S)}."
    )
    d_period: int | None = strawberry.field(default=None, description=f"STOCH %D window (default 3); {_bounds(_S)}.")


@strawberry.type(description="The parameters an indicator was computed with (defaults filled in).")
class IndicatorParameters:
    period: int | None = strawberry.field(description="Window (SMA, EMA, WMA, RSI, BBANDS, ATR).")
    fast_period: int | None = strawberry.field(description="MACD fast EMA.")
    slow_period: int | None = strawberry.field(description="MACD slow EMA.")
    signal_period: int | None = strawberry.field(description="MACD signal EMA.")
    deviations: Decimal | None = strawberry.field(description="BBANDS width in standard deviations.")
    k_period: int | None = strawberry.field(description="STOCH raw %K window.")
    k_smoothing: int | None = strawberry.field(description="STOCH %K smoothing.")
    d_period: int | None = strawberry.field(description="STOCH %D window.")

    @classmethod
    def of(cls, spec: ind.Spec) -> IndicatorParameters:
        return cls(
            period=spec.period,
            fast_period=spec.fast_period,
            slow_period=spec.slow_period,
            signal_period=spec.signal_period,
            deviations=spec.deviations,
            k_period=spec.k_period,
            k_smoothing=spec.k_smoothing,
            d_period=spec.d_period,
        )


@strawberry.type(
    description="An indicator's values at one candle; null during the warm-up. Values are rounded to 12 "
    "significant digits (the maths runs in binary floating point inside talipp)."
)
class IndicatorPoint:
    open_time: datetime = strawberry.field(description="The candle's openTime.")
    value: Decimal | None = strawberry.field(
        description="The main value: the average, RSI, ATR, VWAP, OBV, the MACD line, the Bollinger middle "
        "band, or stochastic %K."
    )
    signal: Decimal | None = strawberry.field(description="MACD signal line (null for other kinds).")
    histogram: Decimal | None = strawberry.field(description="MACD histogram: value minus signal.")
    upper: Decimal | None = strawberry.field(description="Upper Bollinger band.")
    lower: Decimal | None = strawberry.field(description="Lower Bollinger band.")
    d: Decimal | None = strawberry.field(description="Stochastic %D.")

    @classmethod
    def of(cls, reading: ind.Reading) -> IndicatorPoint:
        return cls(
            open_time=reading.open_time,
            value=reading.value,
            signal=reading.signal,
            histogram=reading.histogram,
            upper=reading.upper,
            lower=reading.lower,
            d=reading.d,
        )


@strawberry.type(description="One indicator over a series of candles, one point per candle.")
class IndicatorSeries:
    kind: IndicatorKind = strawberry.field(description="The indicator.")
    label: str = strawberry.field(description="Kind and parameters, e.g. EMA(20) or MACD(12,26,9).")
    parameters: IndicatorParameters = strawberry.field(description="The parameters used, defaults filled in.")
    lookback: int = strawberry.field(
        description="TA-Lib's lookback: how many leading points are null before the first value."
    )
    # The document cost sizes `series` by the root field's `limit` (as a connection's `first` sizes its
    # edges); declaring `points` at the most kinds a request may name makes limit times MAX_KINDS a bound on
    # the points returned (kinds times limit).
    points: list[IndicatorPoint] = strawberry.field(
        description="One point per candle, ascending by openTime.", metadata={"list_size": ind.MAX_KINDS}
    )


@strawberry.type(
    description="Indicators computed over exactly the candles `candles` returns for the same arguments "
    "(the last may still be open), as TA-Lib would over those arrays: warm-up points are null."
)
class Indicators:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length.")
    candle_count: int = strawberry.field(description="How many candles the series cover.")
    series: list[IndicatorSeries] = strawberry.field(description="One series per requested indicator, in order.")


@strawberry.type(description="One delivery on an indicator subscription.")
class IndicatorUpdate:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length.")
    candles: list[Candle] = strawberry.field(
        description="Snapshot: the window of candles the series cover. Update: the one candle that changed "
        "(a new openTime means the previous candle is final)."
    )
    series: list[IndicatorSeries] = strawberry.field(
        description="Snapshot: each indicator over the window. Update: each indicator's point at the "
        "changed candle, folded in incrementally (never recomputed from the window)."
    )
    sequence: int = strawberry.field(
        description="Position of this delivery in this subscription, from 1, without gaps."
    )
    snapshot: bool = strawberry.field(
        description="True for the window that opens the stream (and after a bus reconnect or a missed tick)."
    )


if TYPE_CHECKING:
    from graphql_api.engine.signals import Action as SignalAction
else:
    SignalAction = enum_from(
        sig.Action,
        "What a signal advises.",
        {
            "BUY": "Open or add to a long position.",
            "SELL": "Open or add to a short position, or close a long one.",
            "HOLD": "No trade: the votes do not agree enough.",
        },
        name="SignalAction",
    )

_RULE = (
    "Rule: three votes over closed candles. Trend: EMA(12) above EMA(26) +1, below -1. Momentum: MACD(12,26,9) "
    "histogram above 0 +1, below -1. RSI(14, Wilder): below 30 +1, above 70 -1, else 0. Score = sum: BUY at "
    "2 or more, SELL at -2 or less, else HOLD. Strength = round(100 * |score| / 3). Confidence = share of "
    "the votes agreeing with the action (for HOLD, the neutral ones). Entry = last close; stop-loss = entry "
    "minus 2 ATR(14) and take-profit = entry plus 3 ATR(14) for BUY, mirrored for SELL, none for HOLD, on "
    "the tick grid. Deterministic: the same candles give the same signal; no trained model."
)


@strawberry.type(description="One indicator value a signal voted on.")
class IndicatorReading:
    name: str = strawberry.field(description="Indicator and parameters, e.g. RSI(14).")
    value: Decimal = strawberry.field(description="Its value at the signal's candle.")


@strawberry.type(description="One vote of the signal rule.")
class SignalVote:
    name: str = strawberry.field(description="trend, momentum or rsi.")
    vote: int = strawberry.field(description="+1 (bullish), 0 (neutral) or -1 (bearish).")


@strawberry.type(description=f"A trading signal on one instrument and interval. {_RULE}")
class Signal:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length the rule ran on.")
    action: SignalAction = strawberry.field(description="BUY, SELL or HOLD.")
    strength: int = strawberry.field(description="0 to 100: round(100 * |score| / 3).")
    confidence: Decimal = strawberry.field(description="0 to 1: the share of votes agreeing with the action.")
    entry: Decimal = strawberry.field(description="Suggested entry: the last closed candle's close.")
    stop_loss: Decimal | None = strawberry.field(
        description="Entry minus (BUY) / plus (SELL) 2 ATR(14); null for HOLD."
    )
    take_profit: Decimal | None = strawberry.field(
        description="Entry plus (BUY) / minus (SELL) 3 ATR(14); null for HOLD."
    )
    readings: list[IndicatorReading] = strawberry.field(description="The indicator values behind the votes.")
    votes: list[SignalVote] = strawberry.field(description="The rule's votes.")
    candle_open_time: datetime = strawberry.field(description="openTime of the last closed candle the rule read.")
    time: datetime = strawberry.field(description="When the signal holds from: that candle's close time.")


@strawberry.type(
    description="A stored signal: the feed leader records one each time a signal's action changes (at "
    f"candle close). {_RULE}"
)
class SignalChange:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length.")
    action: SignalAction = strawberry.field(description="The new action.")
    previous_action: SignalAction | None = strawberry.field(description="The action before; null for the first one.")
    strength: int = strawberry.field(description="0 to 100.")
    confidence: Decimal = strawberry.field(description="0 to 1.")
    entry: Decimal = strawberry.field(description="Suggested entry.")
    stop_loss: Decimal | None = strawberry.field(description="Stop-loss; null for HOLD.")
    take_profit: Decimal | None = strawberry.field(description="Take-profit; null for HOLD.")
    readings: list[IndicatorReading] = strawberry.field(description="The indicator values behind the votes.")
    candle_open_time: datetime = strawberry.field(description="openTime of the last closed candle the rule read.")
    time: datetime = strawberry.field(description="That candle's close time: when the new action holds from.")
    recorded_at: datetime = strawberry.field(description="When the change was stored.")


@strawberry.type(description="One delivery on a signal-change subscription.")
class SignalChangedUpdate:
    change: SignalChange = strawberry.field(description="The change (for a snapshot, the latest stored one).")
    sequence: int = strawberry.field(
        description="Position of this delivery in this subscription, from 1, without gaps."
    )
    snapshot: bool = strawberry.field(
        description="True for the latest stored change of each symbol that opens the stream; false for a "
        "change that happened while subscribed."
    )


if TYPE_CHECKING:
    from graphql_api.engine.signals import Phase as MarketPhase
else:
    MarketPhase = enum_from(
        sig.Phase,
        "Where the market is in its cycle. Rule over the last 50 closed candles: the change of "
        "SMA(20) over the last 10 candles against half an ATR(14): rising by more is MARKUP, falling by more "
        "MARKDOWN; otherwise ranging: ACCUMULATION when the last close is in the lower half of the 50-candle "
        "high-low range, DISTRIBUTION in the upper half.",
        {
            "ACCUMULATION": "Ranging in the lower half of the range after a fall: buyers absorbing supply.",
            "MARKUP": "Trending up: SMA(20) rose by more than half an ATR over 10 candles.",
            "DISTRIBUTION": "Ranging in the upper half of the range: sellers meeting demand.",
            "MARKDOWN": "Trending down: SMA(20) fell by more than half an ATR over 10 candles.",
        },
        name="MarketPhase",
    )


@strawberry.type(description="A support or resistance price.")
class PriceLevel:
    price: Decimal = strawberry.field(description="The swing high (resistance) or swing low (support).")
    touches: int = strawberry.field(description="How many swing points formed at exactly this price.")


@strawberry.type(
    description="Support and resistance from swing points, and the market phase, over the last 200 closed "
    "candles. A candle is a swing high when its high is strictly above the highs of the 2 candles on each "
    "side (a swing low likewise). Resistances: distinct swing highs above the last close, nearest first; "
    "supports: distinct swing lows below it, nearest first; at most 5 each."
)
class PriceLevels:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length.")
    last_close: Decimal = strawberry.field(description="Close of the last closed candle.")
    supports: list[PriceLevel] = strawberry.field(description="Supports below the last close, nearest first.")
    resistances: list[PriceLevel] = strawberry.field(description="Resistances above the last close, nearest first.")
    phase: MarketPhase = strawberry.field(description="The market phase (rule on the MarketPhase enum).")
    sma_change: Decimal = strawberry.field(description="SMA(20) now minus SMA(20) 10 candles earlier.")
    atr: Decimal = strawberry.field(description="ATR(14) over the phase window; half of it is the trend threshold.")
    range_position: Decimal = strawberry.field(
        description="Where the last close sits in the 50-candle high-low range: 0 at the low, 1 at the high."
    )
    candle_open_time: datetime = strawberry.field(description="openTime of the last closed candle read.")


@strawberry.type(description="The forecast for one candle ahead.")
class PredictionPoint:
    steps_ahead: int = strawberry.field(description="Candles after the last closed one, from 1.")
    open_time: datetime = strawberry.field(description="openTime of that future candle.")
    expected: Decimal = strawberry.field(description="The regression line's value there, on the tick grid.")
    lower: Decimal = strawberry.field(description="Lower edge of the 95% band.")
    upper: Decimal = strawberry.field(description="Upper edge of the 95% band.")


@strawberry.type(
    description="A linear regression channel: the ordinary least-squares line through the last 100 closed "
    "closes (x = candle index), extrapolated, with a band of plus or minus 1.96 residual standard errors "
    "scaled for a new observation (sqrt(1 + 1/n + (x - mean x)^2 / Sxx)). A 95% prediction interval only "
    "if residuals were independent and normal, which prices are not. A statistical extrapolation, not a "
    "trained model."
)
class PricePrediction:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="Candle length.")
    method: str = strawberry.field(description="LINEAR_REGRESSION_CHANNEL.")
    sample_size: int = strawberry.field(description="How many closed candles the line was fitted to.")
    slope: Decimal = strawberry.field(description="Price change per candle along the line.")
    intercept: Decimal = strawberry.field(description="The line's value at the first fitted candle.")
    residual_std: Decimal = strawberry.field(description="Standard error of the residuals (n - 2 degrees of freedom).")
    r_squared: Decimal = strawberry.field(description="Share of the closes' variance the line explains, 0 to 1.")
    last_close: Decimal = strawberry.field(description="Close of the last closed candle.")
    candle_open_time: datetime = strawberry.field(description="openTime of the last closed candle.")
    points: list[PredictionPoint] = strawberry.field(description="One point per candle ahead, nearest first.")
