"""Indicators, signals and market structure: the Query / Subscription fields (the maths is
graphql_api/engine/indicators.py and engine/signals.py; reading and recording is services/indicators.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import strawberry
from tortoise.functions import Max

from graphql_api.context import Info
from graphql_api.engine import indicators as ind
from graphql_api.engine import signals as sig
from graphql_api.engine.candles import INTERVALS, Bar, advance
from graphql_api.errors import BadUserInput
from graphql_api.events import channel_for, decode
from graphql_api.events.indicators import SignalChanged
from graphql_api.events.market import PriceTicked
from graphql_api.pagination import paginate
from graphql_api.permissions import IsAuthenticated
from graphql_api.pubsub import Bus
from graphql_api.ratelimit import MARKET_DATA, RateLimit
from graphql_api.services import indicators as service
from models.indicators import SignalRecord
from models.market import Instrument as InstrumentRow
from schema.common import After, Connection, First
from schema.indicators import (
    IndicatorInput,
    IndicatorKind,
    IndicatorParameters,
    IndicatorPoint,
    IndicatorReading,
    Indicators,
    IndicatorSeries,
    IndicatorUpdate,
    MarketPhase,
    PredictionPoint,
    PriceLevel,
    PriceLevels,
    PricePrediction,
    Signal,
    SignalAction,
    SignalChange,
    SignalChangedUpdate,
    SignalVote,
)
from schema.market import CandleInterval

from .market import MAX_CANDLES, Interval, Symbol, candle_of, candle_state, instruments_by_symbol, interval_code

MAX_KINDS = ind.MAX_KINDS
MAX_HORIZON = 100
DEFAULT_WINDOW = 100

Kinds = Annotated[
    list[IndicatorInput],
    strawberry.argument(description=f"The indicators to compute, 1 to {MAX_KINDS}, each with its parameters."),
]
OptionalSymbols = Annotated[
    list[str] | None,
    strawberry.argument(description="Instrument symbols, case-insensitive; every listed instrument when omitted."),
]

_CAMEL = {
    "period": "period",
    "fast_period": "fastPeriod",
    "slow_period": "slowPeriod",
    "signal_period": "signalPeriod",
    "deviations": "deviations",
    "k_period": "kPeriod",
    "k_smoothing": "kSmoothing",
    "d_period": "dPeriod",
}


def specs_of(kinds: list[IndicatorInput], field: str = "kinds") -> list[ind.Spec]:
    """Each input as a resolved spec, or BAD_USER_INPUT naming the offending field (``kinds[1].period``)."""
    if not 1 <= len(kinds) <= MAX_KINDS:
        raise BadUserInput(f"{field} must name 1 to {MAX_KINDS} indicators", field=field)
    specs = []
    for i, given in enumerate(kinds):
        params = {name: getattr(given, name) for name in _CAMEL}
        try:
            specs.append(ind.Spec.of(ind.Kind(given.kind.value), **params))
        except ind.InvalidParameter as error:
            path = f"{field}[{i}].{_CAMEL[error.name]}"
            raise BadUserInput(f"{path}: {error}", field=path) from None
    return specs


def _series(spec: ind.Spec, readings: list[ind.Reading]) -> IndicatorSeries:
    return IndicatorSeries(
        kind=IndicatorKind(spec.kind.value),
        label=spec.label,
        parameters=IndicatorParameters.of(spec),
        lookback=spec.lookback,
        points=[IndicatorPoint.of(r) for r in readings],
    )


async def _instrument(symbol: str) -> InstrumentRow:
    (row,) = await instruments_by_symbol([symbol], "symbol", 1)
    return row


async def indicators(
    info: Info,
    symbol: Symbol,
    interval: Interval,
    kinds: Kinds,
    from_: Annotated[
        datetime | None,
        strawberry.argument(name="from", description="Earliest candle openTime (UTC, inclusive), as in `candles`."),
    ] = None,
    to: Annotated[
        datetime | None, strawberry.argument(description="Latest candle openTime (UTC, inclusive); defaults to now.")
    ] = None,
    limit: Annotated[int, strawberry.argument(description=f"How many candles at most, 1 to {MAX_CANDLES}.")] = 500,
) -> Indicators:
    specs = specs_of(kinds)
    if not 1 <= limit <= MAX_CANDLES:
        raise BadUserInput(f"limit must be between 1 and {MAX_CANDLES}", field="limit")
    if from_ is not None and to is not None and from_ > to:
        raise BadUserInput("from must not be later than to", field="from")
    row = await _instrument(symbol)
    now = datetime.now(UTC)
    end = now if to is None else min(to, now)
    bars = await service.load_bars(row, info.context.settings.feed_seed, interval_code(interval), from_, end, limit)
    series = ind.compute(specs, bars)
    return Indicators(
        symbol=row.symbol,
        interval=interval,
        candle_count=len(bars),
        series=[_series(spec, readings) for spec, readings in zip(specs, series, strict=True)],
    )


async def indicator_updates(
    info: Info,
    symbol: Symbol,
    interval: Interval,
    kinds: Kinds,
    window: Annotated[
        int, strawberry.argument(description=f"Candles in the opening snapshot, 1 to {MAX_CANDLES}.")
    ] = DEFAULT_WINDOW,
) -> AsyncGenerator[IndicatorUpdate, None]:
    """Validates before the stream starts, so a bad request is a protocol ``error``."""
    specs = specs_of(kinds)
    if not 1 <= window <= MAX_CANDLES:
        raise BadUserInput(f"window must be between 1 and {MAX_CANDLES}", field="window")
    row = await _instrument(symbol)
    return _indicator_stream(info.context.bus, row, info.context.settings.feed_seed, interval, specs, window)


async def _indicator_stream(
    bus: Bus, row: InstrumentRow, seed: int, interval: CandleInterval, specs: list[ind.Spec], window: int
) -> AsyncGenerator[IndicatorUpdate, None]:
    """The window's indicators, then each tick folded into them with talipp's add/update.

    Ticks are counted exactly as the candle stream counts them (the bus subscription opens before the
    snapshot, which knows its feed step); a missed step or a bus reconnect starts over from a snapshot,
    the only time the window is computed again.
    """
    code = interval_code(interval)
    seconds = INTERVALS[code]
    sequence = 0
    async with bus.subscribe([channel_for(PriceTicked, row.symbol)]) as events:
        while True:
            last, bar = await candle_state(row, code)
            bars = await service.load_bars(row, seed, code, None, last.ts, window)
            if bar is not None:
                # The open candle as of the snapshot's step replaces whatever the read above found for it.
                bars = [*[b for b in bars if b.open_time < bar.open_time], bar][-window:]
            state = ind.IndicatorSet(specs)
            series: list[list[ind.Reading]] = [[] for _ in specs]
            for b in bars:
                for out, reading in zip(series, state.push(b), strict=True):
                    out.append(reading)
            step, price, sequence = last.step, last.price, sequence + 1
            yield IndicatorUpdate(
                symbol=row.symbol,
                interval=interval,
                candles=[candle_of(row.symbol, interval, b, last.ts) for b in bars],
                series=[_series(spec, out) for spec, out in zip(specs, series, strict=True)],
                sequence=sequence,
                snapshot=True,
            )
            current: Bar | None = bar
            async for event in events:
                tick = decode(event)
                if isinstance(tick, PriceTicked) and tick.step <= step:
                    continue
                if not isinstance(tick, PriceTicked) or tick.step > step + 1:
                    break  # a bus reconnect or a missed step: start over from the database
                current = advance(current, seconds, price, tick.price, tick.volume, tick.ts)
                step, price, sequence = step + 1, tick.price, sequence + 1
                readings = state.push(current)
                yield IndicatorUpdate(
                    symbol=row.symbol,
                    interval=interval,
                    candles=[candle_of(row.symbol, interval, current, tick.ts)],
                    series=[_series(spec, [r]) for spec, r in zip(specs, readings, strict=True)],
                    sequence=sequence,
                    snapshot=False,
                )
            else:
                return


# -- signals ---------------------------------------------------------------------------------------------------


def _close_time(open_time: datetime, code: str) -> datetime:
    return open_time + timedelta(seconds=INTERVALS[code])


def _readings(values: dict[str, object]) -> list[IndicatorReading]:
    return [IndicatorReading(name=name, value=value) for name, value in values.items()]  # type: ignore[arg-type]


async def _signal(row: InstrumentRow, seed: int, interval: CandleInterval, now: datetime) -> Signal:
    code = interval_code(interval)
    try:
        decision, bar = await service.current_signal(row, seed, code, now)
    except sig.NotEnoughCandles as error:
        raise BadUserInput(f"{row.symbol}: {error}", field="symbol") from None
    return Signal(
        symbol=row.symbol,
        interval=interval,
        action=SignalAction[decision.action.name],
        strength=decision.strength,
        confidence=decision.confidence,
        entry=decision.entry,
        stop_loss=decision.stop_loss,
        take_profit=decision.take_profit,
        readings=_readings(dict(decision.readings)),
        votes=[SignalVote(name=name, vote=vote) for name, vote in decision.votes.items()],
        candle_open_time=bar.open_time,
        time=_close_time(bar.open_time, code),
    )


async def signal(info: Info, symbol: Symbol, interval: Interval) -> Signal:
    row = await _instrument(symbol)
    return await _signal(row, info.context.settings.feed_seed, interval, datetime.now(UTC))


async def _instruments(symbols: list[str] | None, limit: int) -> list[InstrumentRow]:
    if symbols is None:
        return list(await InstrumentRow.all().order_by("asset_index"))
    return await instruments_by_symbol(symbols, "symbols", limit)


async def signals(info: Info, interval: Interval, symbols: OptionalSymbols = None) -> list[Signal]:
    """Named instruments must all have a signal; with none named, an instrument without enough closed
    candles for the rule (none of the listed ones, in practice) is left out rather than failing the list."""
    rows = await _instruments(symbols, info.context.settings.max_page_size)
    now = datetime.now(UTC)
    found = []
    for row in rows:
        try:
            found.append(await _signal(row, info.context.settings.feed_seed, interval, now))
        except BadUserInput:
            if symbols is not None:
                raise
    return found


def _change(record: SignalRecord, symbol: str) -> SignalChange:
    return SignalChange(
        symbol=symbol,
        interval=CandleInterval(record.interval),
        action=SignalAction[record.action],
        previous_action=SignalAction[record.previous_action] if record.previous_action else None,
        strength=record.strength,
        confidence=record.confidence,
        entry=record.entry,
        stop_loss=record.stop_loss,
        take_profit=record.take_profit,
        readings=_readings(dict(service.decimal_readings(record))),
        candle_open_time=record.candle_time,
        time=_close_time(record.candle_time, record.interval),
        recorded_at=record.created_at,
    )


async def signal_history(
    info: Info, symbol: Symbol, interval: Interval, first: First = None, after: After = None
) -> Connection[SignalChange]:
    row = await _instrument(symbol)
    query = SignalRecord.filter(instrument_id=row.id, interval=interval_code(interval))
    page = await paginate(
        query,
        first=first,
        after=after,
        cap=info.context.settings.max_page_size,
        convert=lambda record: _change(record, row.symbol),
        order=("-id",),
    )
    return Connection.of(page)


async def signal_changed(
    info: Info, interval: Interval, symbols: OptionalSymbols = None
) -> AsyncGenerator[SignalChangedUpdate, None]:
    """Validates before the stream starts, so an unknown symbol is a protocol ``error``."""
    rows = await _instruments(symbols, info.context.settings.max_symbols_per_subscription)
    return _signal_stream(info.context.bus, rows, interval_code(interval))


async def _latest(rows: list[InstrumentRow], code: str) -> list[tuple[InstrumentRow, SignalRecord]]:
    """Each instrument's latest stored change on ``code`` (those that have one), from two queries."""
    newest = (
        await SignalRecord.filter(instrument_id__in=[row.id for row in rows], interval=code)
        .annotate(newest=Max("id"))
        .group_by("instrument_id")
        .values_list("newest", flat=True)
    )
    records = {r.instrument_id: r for r in await SignalRecord.filter(id__in=list(newest))}
    return [(row, records[row.id]) for row in rows if row.id in records]


async def _signal_stream(bus: Bus, rows: list[InstrumentRow], code: str) -> AsyncGenerator[SignalChangedUpdate, None]:
    """Each symbol's latest stored change, then every new one (a change is stored only when the action
    changes, so the stream is silent while it holds). After a bus reconnect, what was stored meanwhile."""
    by_id = {row.id: row for row in rows}
    delivered: dict[int, int] = {}
    sequence = 0
    async with bus.subscribe([channel_for(SignalChanged, row.symbol) for row in rows]) as events:
        for row, record in await _latest(rows, code):
            delivered[row.id] = record.id
            sequence += 1
            yield SignalChangedUpdate(change=_change(record, row.symbol), sequence=sequence, snapshot=True)
        async for event in events:
            change = decode(event)
            if change is None:
                missed = SignalRecord.filter(instrument_id__in=list(by_id), interval=code)
                for record in await missed.order_by("id"):
                    if record.id > delivered.get(record.instrument_id, 0):
                        delivered[record.instrument_id] = record.id
                        sequence += 1
                        yield SignalChangedUpdate(
                            change=_change(record, by_id[record.instrument_id].symbol), sequence=sequence, snapshot=True
                        )
                continue
            if not isinstance(change, SignalChanged) or change.interval != code:
                continue
            found = await SignalRecord.get_or_none(id=change.record_id)
            if found is None or found.id <= delivered.get(found.instrument_id, 0):
                continue
            delivered[found.instrument_id] = found.id
            sequence += 1
            yield SignalChangedUpdate(
                change=_change(found, by_id[found.instrument_id].symbol), sequence=sequence, snapshot=False
            )


# -- market structure ------------------------------------------------------------------------------------------


async def price_levels(info: Info, symbol: Symbol, interval: Interval) -> PriceLevels:
    row = await _instrument(symbol)
    code = interval_code(interval)
    bars = await service.closed_bars(row, info.context.settings.feed_seed, code, datetime.now(UTC), sig.LEVEL_BARS)
    try:
        found = sig.structure(bars)
    except sig.NotEnoughCandles as error:
        raise BadUserInput(f"{row.symbol}: {error}", field="symbol") from None
    return PriceLevels(
        symbol=row.symbol,
        interval=interval,
        last_close=found.last_close,
        supports=[PriceLevel(price=lv.price, touches=lv.touches) for lv in found.supports],
        resistances=[PriceLevel(price=lv.price, touches=lv.touches) for lv in found.resistances],
        phase=MarketPhase[found.phase.name],
        sma_change=found.sma_change,
        atr=found.atr,
        range_position=found.range_position,
        candle_open_time=bars[-1].open_time,
    )


async def price_prediction(
    info: Info,
    symbol: Symbol,
    interval: Interval,
    horizon: Annotated[int, strawberry.argument(description=f"How many candles ahead, 1 to {MAX_HORIZON}.")] = 10,
) -> PricePrediction:
    if not 1 <= horizon <= MAX_HORIZON:
        raise BadUserInput(f"horizon must be between 1 and {MAX_HORIZON}", field="horizon")
    row = await _instrument(symbol)
    code = interval_code(interval)
    bars = await service.closed_bars(row, info.context.settings.feed_seed, code, datetime.now(UTC), sig.FORECAST_BARS)
    try:
        fit = sig.forecast([b.close for b in bars], horizon, row.tick_size)
    except sig.NotEnoughCandles as error:
        raise BadUserInput(f"{row.symbol}: {error}", field="symbol") from None
    step = timedelta(seconds=INTERVALS[code])
    last = bars[-1].open_time
    return PricePrediction(
        symbol=row.symbol,
        interval=interval,
        method="LINEAR_REGRESSION_CHANNEL",
        sample_size=len(bars),
        slope=fit.slope,
        intercept=fit.intercept,
        residual_std=fit.residual_std,
        r_squared=fit.r_squared,
        last_close=bars[-1].close,
        candle_open_time=last,
        points=[
            PredictionPoint(
                steps_ahead=p.steps_ahead,
                open_time=last + step * p.steps_ahead,
                expected=p.expected,
                lower=p.lower,
                upper=p.upper,
            )
            for p in fit.points
        ],
    )


@strawberry.type
class Query:
    indicators: Indicators = strawberry.field(
        resolver=indicators,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="Technical indicators (talipp, TA-Lib definitions) over one instrument's candles: the same "
        "candles `candles` returns for these arguments, one point per candle. Its static document cost is "
        f"about limit times {ind.MAX_KINDS + 1} (a bound on the points returned), so the default MAX_QUERY_COST "
        "of 10000 allows about 900 candles per request.",
    )
    signal: Signal = strawberry.field(
        resolver=signal,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="The current BUY/SELL/HOLD signal of one instrument on its closed candles (rule on Signal).",
    )
    signals: list[Signal] = strawberry.field(
        resolver=signals,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="Current signals of several instruments (every instrument when symbols is omitted).",
    )
    signal_history: Connection[SignalChange] = strawberry.field(
        resolver=signal_history,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="Stored signal changes of one instrument and interval, newest first.",
    )
    price_levels: PriceLevels = strawberry.field(
        resolver=price_levels,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="Support and resistance from swing points, and the market phase (rules on the types).",
    )
    price_prediction: PricePrediction = strawberry.field(
        resolver=price_prediction,
        extensions=[RateLimit(MARKET_DATA)],
        permission_classes=[IsAuthenticated],
        description="A linear regression channel extrapolated `horizon` candles ahead: statistics, not a "
        "trained model.",
    )


@strawberry.type
class Subscription:
    indicator_updates: AsyncGenerator[IndicatorUpdate, None] = strawberry.subscription(
        resolver=indicator_updates,
        permission_classes=[IsAuthenticated],
        description="Indicators of one instrument's candles: first over the latest `window` candles, then "
        "each indicator's point after every tick, folded in incrementally.",
    )
    signal_changed: AsyncGenerator[SignalChangedUpdate, None] = strawberry.subscription(
        resolver=signal_changed,
        permission_classes=[IsAuthenticated],
        description="Signal changes of the given instruments on one interval: first each one's latest stored "
        "change, then an event only when a signal's action changes.",
    )
