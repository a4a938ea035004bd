"""Market data: instruments, prices, candles, tickers, the order book, market statistics and their streams."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, cast

import strawberry

from graphql_api import fanout
from graphql_api.context import Info
from graphql_api.engine.book import MAX_DEPTH
from graphql_api.engine.candles import (
    INTERVALS,
    Bar,
    History,
    WindowStats,
    advance,
    day_window,
    floor_time,
    hour_boundary,
    summarize,
    window_bars,
)
from graphql_api.errors import BadUserInput
from graphql_api.events import channel_for, decode
from graphql_api.events.market import PriceTicked
from graphql_api.pubsub import BusEvent
from graphql_api.ratelimit import MARKET_DATA, RateLimit
from graphql_api.services.market import BAR_COLUMNS, history_of, series
from models.market import Candle as CandleRow
from models.market import Instrument as InstrumentRow
from models.market import LastPrice
from schema.market import (
    BookLevel,
    Candle,
    CandleInterval,
    CandleUpdate,
    Instrument,
    MarketMover,
    MarketStats,
    OrderBook,
    Price,
    PriceTick,
    Ticker,
)

from .node import node_type

Symbol = Annotated[str, strawberry.argument(description="Instrument symbol, case-insensitive, e.g. BTC.")]
Symbols = Annotated[
    list[str], strawberry.argument(description="Instrument symbols, case-insensitive; duplicates are ignored.")
]
Interval = Annotated[CandleInterval, strawberry.argument(description="Candle length.")]

MAX_CANDLES = 1500
DEFAULT_DEPTH = 20
TOP_MOVERS = 3
# A candle snapshot re-reads when a tick lands between its reads; ticks are a second apart, reads take ms.
_SNAPSHOT_ATTEMPTS = 20


_INSTRUMENT_COLUMNS = ("id", "symbol", "name", "asset_index", "base", "quote", "tick_size", "lot_size")


def _normalise(symbol: str) -> str:
    return symbol.strip().upper()


async def instruments_by_symbol(symbols: list[str], field: str, limit: int) -> list[InstrumentRow]:
    """The instruments for ``symbols`` in the order given, or a BAD_USER_INPUT naming ``field``."""
    wanted = list(dict.fromkeys(_normalise(s) for s in symbols))
    if not wanted:
        raise BadUserInput(f"{field} must name at least one symbol", field=field)
    if len(wanted) > limit:
        raise BadUserInput(f"{field} may name at most {limit} symbols", field=field)
    rows = {row.symbol: row for row in await InstrumentRow.filter(symbol__in=wanted)}
    unknown = [s for s in wanted if s not in rows]
    if unknown:
        raise BadUserInput(f"unknown symbol(s) in {field}: {', '.join(unknown)}", field=field)
    return [rows[s] for s in wanted]


async def _last_prices(rows: list[InstrumentRow]) -> list[LastPrice]:
    by_id = {p.instrument_id: p for p in await LastPrice.filter(instrument_id__in=[r.id for r in rows])}
    missing = [r.symbol for r in rows if r.id not in by_id]
    if missing:
        # Seeded with the instruments; absent only if the database was edited by hand.
        raise RuntimeError(f"no price row for {', '.join(missing)}")
    return [by_id[r.id] for r in rows]


async def instruments() -> list[Instrument]:
    rows = await InstrumentRow.all().order_by("asset_index").only(*_INSTRUMENT_COLUMNS)
    return [Instrument.from_model(row) for row in rows]


async def instrument(symbol: Symbol) -> Instrument:
    (row,) = await instruments_by_symbol([symbol], "symbol", 1)
    return Instrument.from_model(row)


async def price(symbol: Symbol) -> Price:
    rows = await instruments_by_symbol([symbol], "symbol", 1)
    (last,) = await _last_prices(rows)
    return Price(symbol=rows[0].symbol, price=last.price, timestamp=last.ts)


async def prices(info: Info, symbols: Symbols) -> list[Price]:
    rows = await instruments_by_symbol(symbols, "symbols", info.context.settings.max_page_size)
    lasts = await _last_prices(rows)
    return [Price(symbol=r.symbol, price=p.price, timestamp=p.ts) for r, p in zip(rows, lasts, strict=True)]


async def price_ticks(info: Info, symbols: Symbols) -> AsyncGenerator[PriceTick, None]:
    """Validates before the stream starts, so a bad request is a protocol ``error``, not an empty stream."""
    ctx = info.context
    rows = await instruments_by_symbol(symbols, "symbols", ctx.settings.max_symbols_per_subscription)
    return await fanout.stream(info, fanout.PUBLIC, lambda: PriceTickStream(rows))


class PriceTickStream(fanout.Shared[PriceTick]):
    """Snapshot, then live ticks; ticks at or before a symbol's last delivered step are dropped.

    The state is the latest tick of each symbol, read when the group starts (its bus subscription already
    open, so a tick published in between is either in the state or delivered after it, never lost) and kept
    by every tick since. After a bus reconnect the affected symbols are read again (what was published during
    the outage is gone). A slow reader's ticks coalesce to the latest of each symbol.
    """

    def __init__(self, rows: list[InstrumentRow]) -> None:
        self.rows = rows
        self.by_channel = {channel_for(PriceTicked, r.symbol): r for r in rows}
        self.channels = list(self.by_channel)
        self.latest: dict[str, tuple[int, PriceTick]] = {}

    def _tick(self, symbol: str, price: Decimal, ts: datetime, *, snapshot: bool) -> PriceTick:
        return PriceTick(symbol=symbol, price=price, timestamp=ts, sequence=fanout.SEQUENCE_MARK, snapshot=snapshot)

    async def start(self) -> None:
        for row, last in zip(self.rows, await _last_prices(self.rows), strict=True):
            self.latest[row.symbol] = (last.step, self._tick(row.symbol, last.price, last.ts, snapshot=True))

    async def snapshot(self) -> list[PriceTick]:
        return [replace(self.latest[row.symbol][1], snapshot=True) for row in self.rows]

    async def update(self, batch: list[BusEvent]) -> list[PriceTick]:
        ticks = []
        for event in batch:
            tick = decode(event)
            if not isinstance(tick, PriceTicked):
                row = self.by_channel[event.channel]
                (last,) = await _last_prices([row])
                if last.step <= self.latest[row.symbol][0]:
                    continue
                item = self._tick(row.symbol, last.price, last.ts, snapshot=True)
                self.latest[row.symbol] = (last.step, item)
                ticks.append(item)
                continue
            if tick.step <= self.latest[tick.symbol][0]:
                continue
            item = self._tick(tick.symbol, tick.price, tick.ts, snapshot=False)
            self.latest[tick.symbol] = (tick.step, item)
            ticks.append(item)
        return ticks

    def coalesce(self, item: PriceTick) -> str:
        return item.symbol


# -- candles ------------------------------------------------------------------------------------------------


def interval_code(interval: CandleInterval) -> str:
    """The engine's interval code ("1m", ...). mypy sees a strawberry enum's value as its definition."""
    return str(interval.value)


def candle_of(symbol: str, interval: CandleInterval, bar: Bar, now: datetime) -> Candle:
    close_time = bar.open_time + timedelta(seconds=INTERVALS[interval_code(interval)])
    return Candle(
        symbol=symbol,
        interval=interval,
        open_time=bar.open_time,
        close_time=close_time,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        quote_volume=bar.quote_volume,
        closed=close_time <= now,
    )


async def candles(
    info: Info,
    symbol: Symbol,
    interval: Interval,
    from_: Annotated[
        datetime | None,
        strawberry.argument(
            name="from", description="Earliest openTime (UTC, inclusive). With it, candles run forward from here."
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        strawberry.argument(description="Latest openTime (UTC, inclusive); defaults to now."),
    ] = None,
    limit: Annotated[int, strawberry.argument(description=f"How many candles at most, 1 to {MAX_CANDLES}.")] = 500,
) -> list[Candle]:
    if not 1 <= limit <= MAX_CANDLES:
        raise BadUserInput(f"limit must be between 1 and {MAX_CANDLES}", field="limit")
    if from_ is not None and to is not None and from_ > to:
        raise BadUserInput("from must not be later than to", field="from")
    (row,) = await instruments_by_symbol([symbol], "symbol", 1)
    history = history_of(row, info.context.settings.feed_seed)
    now = datetime.now(UTC)
    end = now if to is None else min(to, now)
    code = interval_code(interval)
    if from_ is None:
        bars = await series(row, history, code, history.first(INTERVALS[code]), end, limit, latest=True)
    else:
        bars = await series(row, history, code, from_, end, limit, latest=False)
    return [candle_of(row.symbol, interval, bar, now) for bar in bars]


async def candle_state(row: InstrumentRow, code: str) -> tuple[LastPrice, Bar | None]:
    """The latest price and the stored open bar it belongs to, read consistently.

    The feed writes both in one transaction; the price's step is read again after the bar, and an
    unchanged step means no tick committed in between (a seqlock), on any database and isolation level.
    """
    seconds = INTERVALS[code]
    for _ in range(_SNAPSHOT_ATTEMPTS):
        (last,) = await _last_prices([row])
        query = CandleRow.filter(instrument_id=row.id, interval=code, open_time=floor_time(last.ts, seconds))
        values = await query.limit(1).values_list(*BAR_COLUMNS)
        steps = await LastPrice.filter(instrument_id=row.id).values_list("step", flat=True)
        if list(steps) == [last.step]:
            return last, Bar(*values[0]) if values else None
    raise RuntimeError(f"no consistent candle snapshot of {row.symbol} in {_SNAPSHOT_ATTEMPTS} attempts")


async def candle_updates(info: Info, symbol: Symbol, interval: Interval) -> AsyncGenerator[CandleUpdate, None]:
    """Validates before the stream starts, so an unknown symbol is a protocol ``error``."""
    (row,) = await instruments_by_symbol([symbol], "symbol", 1)
    history = history_of(row, info.context.settings.feed_seed)
    return await fanout.stream(info, fanout.PUBLIC, lambda: CandleStream(row, history, interval))


class CandleStream(fanout.Shared[CandleUpdate]):
    """The open candle, then the candle after every tick, aggregated here from the price events.

    The bus subscription is open before the state is read, and the state knows its feed step, so each tick
    counts exactly once: older ones are dropped, the next one is folded in with the same ``advance`` the feed
    leader stores. A missed step or a bus reconnect re-reads the state.
    """

    def __init__(self, row: InstrumentRow, history: History, interval: CandleInterval) -> None:
        self.row, self.history, self.interval = row, history, interval
        self.code = interval_code(interval)
        self.seconds = INTERVALS[self.code]
        self.channels = [channel_for(PriceTicked, row.symbol)]
        self.step, self.price, self.bar = -1, Decimal(0), cast(Bar | None, None)

    async def start(self) -> None:
        last, self.bar = await candle_state(self.row, self.code)
        self.step, self.price = last.step, last.price

    async def snapshot(self) -> list[CandleUpdate]:
        return [await _snapshot(self.row, self.history, self.interval, self.bar, fanout.SEQUENCE_MARK)]

    async def update(self, batch: list[BusEvent]) -> list[CandleUpdate]:
        updates = []
        for event in batch:
            tick = decode(event)
            if isinstance(tick, PriceTicked) and tick.step <= self.step:
                continue
            if not isinstance(tick, PriceTicked) or tick.step > self.step + 1:
                # A bus reconnect or a missed step: what the stream lost is in the database.
                last, stored = await candle_state(self.row, self.code)
                if last.step <= self.step:
                    continue
                self.step, self.price, self.bar = last.step, last.price, stored
                updates.append(await _snapshot(self.row, self.history, self.interval, stored, fanout.SEQUENCE_MARK))
                continue
            self.bar = advance(self.bar, self.seconds, self.price, tick.price, tick.volume, tick.ts)
            self.step, self.price = self.step + 1, tick.price
            candle = candle_of(self.row.symbol, self.interval, self.bar, tick.ts)
            updates.append(CandleUpdate(candle=candle, sequence=fanout.SEQUENCE_MARK, snapshot=False))
        return updates


async def _snapshot(
    row: InstrumentRow, history: History, interval: CandleInterval, bar: Bar | None, sequence: int
) -> CandleUpdate:
    now = datetime.now(UTC)
    if bar is None:
        # No tick yet in the current interval: the latest candle is an older one, or history.
        seconds = INTERVALS[interval_code(interval)]
        (bar,) = await series(row, history, interval_code(interval), history.first(seconds), now, 1, latest=True)
    return CandleUpdate(candle=candle_of(row.symbol, interval, bar, now), sequence=sequence, snapshot=True)


# -- ticker, order book, market statistics --------------------------------------------------------------------


async def _stored(ids: list[int], code: str, start: datetime, end: datetime) -> defaultdict[int, list[Bar]]:
    """Each instrument's stored bars of ``code`` opening in [start, end], ascending, from one query."""
    found: defaultdict[int, list[Bar]] = defaultdict(list)
    if start > end:
        return found
    # Naming the instruments lets the (instrument, interval, open time) index serve the range.
    query = CandleRow.filter(instrument_id__in=ids, interval=code, open_time__gte=start, open_time__lte=end)
    for instrument_id, *values in await query.order_by("open_time").values_list("instrument_id", *BAR_COLUMNS):
        found[instrument_id].append(Bar(*values))
    return found


async def _day_windows(rows: list[InstrumentRow], seed: int, now: datetime) -> list[list[Bar]]:
    """Each instrument's bars over the trailing 24 hours, from two queries however many instruments."""
    start, end = day_window(now)
    histories = [history_of(row, seed) for row in rows]
    boundaries = [hour_boundary(history, start) for history in histories]
    ids = [row.id for row in rows]
    minutes = await _stored(ids, "1m", start, max(boundaries) - timedelta(minutes=1))
    hours = await _stored(ids, "1h", min(boundaries), end)
    return [
        window_bars(history, start, end, minutes[row.id], hours[row.id])
        for row, history in zip(rows, histories, strict=True)
    ]


async def ticker(info: Info, symbol: Symbol) -> Ticker:
    rows = await instruments_by_symbol([symbol], "symbol", 1)
    (last,) = await _last_prices(rows)
    now = datetime.now(UTC)
    (bars,) = await _day_windows(rows, info.context.settings.feed_seed, now)
    stats = summarize(bars, last.price)
    return Ticker(
        symbol=rows[0].symbol,
        last_price=stats.last,
        open_price=stats.open,
        high_price=stats.high,
        low_price=stats.low,
        change=stats.change,
        change_percent=stats.change_percent,
        volume=stats.volume,
        quote_volume=stats.quote_volume,
        open_time=bars[0].open_time if bars else day_window(now)[0],
        timestamp=last.ts,
    )


async def order_book(
    info: Info,
    symbol: Symbol,
    depth: Annotated[int, strawberry.argument(description=f"Levels per side, 1 to {MAX_DEPTH}.")] = DEFAULT_DEPTH,
) -> OrderBook:
    """The book the paper venue fills against right now: the engine's book at the stored price and step
    (a book built to fewer levels has the same first levels, so the top ``depth`` are exact)."""
    if not 1 <= depth <= MAX_DEPTH:
        raise BadUserInput(f"depth must be between 1 and {MAX_DEPTH}", field="depth")
    rows = await instruments_by_symbol([symbol], "symbol", 1)
    (last,) = await _last_prices(rows)
    book = info.context.engine.book(rows[0], last.step, last.price)
    return OrderBook(
        symbol=book.symbol,
        bids=[BookLevel(price=level.price, quantity=level.quantity) for level in book.bids[:depth]],
        asks=[BookLevel(price=level.price, quantity=level.quantity) for level in book.asks[:depth]],
        mark_price=book.mark,
        spread=book.asks[0].price - book.bids[0].price if book.bids and book.asks else None,
        step=book.step,
        timestamp=last.ts,
    )


async def market_stats(info: Info) -> MarketStats:
    """Every instrument's 24-hour window from four queries, however many instruments there are."""
    now = datetime.now(UTC)
    listed = await InstrumentRow.all()
    lasts = {p.instrument_id: p for p in await LastPrice.all()}
    # An instrument without a price yet (listed since the feed leader loaded) has no window to rank.
    rows = [row for row in listed if row.id in lasts]
    windows = await _day_windows(rows, info.context.settings.feed_seed, now)
    stats = [(row.symbol, summarize(bars, lasts[row.id].price)) for row, bars in zip(rows, windows, strict=True)]
    by_change = sorted(stats, key=lambda item: item[1].change_percent, reverse=True)
    return MarketStats(
        instrument_count=len(listed),
        quote_volume=sum((s.quote_volume for _, s in stats), Decimal(0)),
        top_gainers=[_mover(symbol, s) for symbol, s in by_change[:TOP_MOVERS] if s.change_percent > 0],
        top_losers=[_mover(symbol, s) for symbol, s in reversed(by_change[-TOP_MOVERS:]) if s.change_percent < 0],
        timestamp=now,
    )


def _mover(symbol: str, stats: WindowStats) -> MarketMover:
    return MarketMover(symbol=symbol, last_price=stats.last, change_percent=stats.change_percent)


@node_type("Instrument", Instrument, natural_key=True)
async def instrument_node(info: Info, symbol: str) -> Instrument | None:
    row = await InstrumentRow.get_or_none(symbol=symbol)
    return Instrument.from_model(row) if row else None


@strawberry.type
class Query:
    instruments: list[Instrument] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=instruments,
        description="Every listed instrument, ordered by asset index.",
    )
    instrument: Instrument = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=instrument,
        description="One instrument by symbol (case-insensitive).",
    )
    price: Price = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)], resolver=price, description="The latest feed price of one instrument."
    )
    prices: list[Price] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=prices,
        description="The latest feed prices of several instruments, in the order asked.",
    )
    candles: list[Candle] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=candles,
        description="OHLCV candles of one instrument, ascending by openTime; the last may still be open. "
        "With `from`, the first `limit` from there on; otherwise the latest `limit` up to `to` (or now).",
    )
    ticker: Ticker = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=ticker,
        description="Rolling 24-hour statistics of one instrument.",
    )
    order_book: OrderBook = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=order_book,
        description="The paper venue's order book around the current price: what an order placed now fills against.",
    )
    market_stats: MarketStats = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market_stats,
        description="Platform-wide 24-hour statistics: turnover, top gainers and losers.",
    )


@strawberry.type
class Subscription:
    price_ticks: AsyncGenerator[PriceTick, None] = strawberry.subscription(
        resolver=price_ticks,
        description="Price ticks for the given symbols: first a snapshot of each current price, then every "
        "tick the feed produces, each with a per-stream sequence number.",
    )
    candles: AsyncGenerator[CandleUpdate, None] = strawberry.subscription(
        resolver=candle_updates,
        description="One instrument's open candle of one interval: first its current state, then the candle "
        "again after every tick, a new one when the interval rolls over.",
    )
