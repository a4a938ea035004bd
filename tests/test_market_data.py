"""Market data beyond the latest price: candles, their stream, the ticker, the order book and market stats.

Unit tests pin the history generator and the candle arithmetic; API tests talk to the real server on both
legs. The feed keeps ticking underneath, so a check that compares two reads retries until both saw the
same tick instead of asserting on timing.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from itertools import pairwise
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient, SubscriptionError
from graphql_api.engine.book import MAX_DEPTH
from graphql_api.engine.candles import (
    INTERVALS,
    Bar,
    History,
    advance,
    ceil_time,
    day_window,
    floor_time,
    summarize,
    tick_volume,
    window_bars,
)
from graphql_api.engine.feed import walk

from .support import ServerHandle, count_queries

# symbol -> (tick size, lot size, initial price, volatility), as seeded by the migration.
SEEDED = {
    row[0]: (Decimal(row[5]), Decimal(row[6]), Decimal(row[7]), Decimal(row[8]))
    for row in importlib.import_module("migrations.0002_seed_instruments").INSTRUMENTS
}
ENUM = {
    "1m": "ONE_MINUTE",
    "5m": "FIVE_MINUTES",
    "15m": "FIFTEEN_MINUTES",
    "1h": "ONE_HOUR",
    "4h": "FOUR_HOURS",
    "1d": "ONE_DAY",
}
FIELDS = "symbol interval openTime closeTime open high low close volume quoteVolume closed"
CANDLES = (
    "query($s: String!, $i: CandleInterval!, $from: DateTime, $to: DateTime, $limit: Int) "
    f"{{ candles(symbol: $s, interval: $i, from: $from, to: $to, limit: $limit) {{ {FIELDS} }} }}"
)
TICKER = "symbol lastPrice openPrice highPrice lowPrice change changePercent volume quoteVolume openTime timestamp"
STREAM = (
    "subscription($s: String!, $i: CandleInterval!) "
    f"{{ candles(symbol: $s, interval: $i) {{ sequence snapshot candle {{ {FIELDS} }} }} }}"
)
CREATED = datetime(2026, 3, 14, 15, 9, 26, 535_897, tzinfo=UTC)


def _history(symbol: str = "BTC", seed: int = 7, created_at: datetime = CREATED) -> History:
    tick, lot, price, volatility = SEEDED[symbol]
    return History(seed, symbol, price, tick, lot, volatility, created_at)


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _retry(attempt: Callable[[], Awaitable[bool]], tries: int = 100) -> None:
    """Repeat a read until it is consistent: the feed ticks every 0.1s and may land between two reads."""
    for _ in range(tries):
        if await attempt():
            return
    raise AssertionError(f"no consistent read in {tries} attempts")


# -- unit: the generator and the arithmetic ------------------------------------------------------------------


def test_history_is_reproducible_and_seed_dependent() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    a = _history(seed=7).bars("1h", start, end, 100)
    b = _history(seed=7).bars("1h", start, end, 100)
    c = _history(seed=8).bars("1h", start, end, 100)
    assert a == b
    assert [bar.close for bar in a] != [bar.close for bar in c]
    assert len(a) == 25 and a[0].open_time == start and a[-1].open_time == end
    # A sub-range is the same bars: each depends on its open time only, not on what else was asked.
    assert _history(seed=7).bars("1h", start + timedelta(hours=5), start + timedelta(hours=7), 100) == a[5:8]


@pytest.mark.parametrize("code", list(INTERVALS))
def test_history_bars_are_valid_ohlcv_ending_at_the_initial_price(code: str) -> None:
    history = _history("SOL")
    seconds = INTERVALS[code]
    bars = history.bars(code, history.first(seconds), CREATED, 400, latest=True)
    assert len(bars) == 400
    assert bars[-1].open_time == history.anchor(seconds) - timedelta(seconds=seconds)
    assert bars[-1].close == history.initial_price
    for before, bar in pairwise(bars):
        assert bar.open_time - before.open_time == timedelta(seconds=seconds)
        assert bar.open == before.close
    for bar in bars:
        assert bar.high >= max(bar.open, bar.close) and bar.low <= min(bar.open, bar.close)
        assert bar.low > 0 and bar.volume > 0
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert price % history.tick == 0
        assert bar.volume % history.lot == 0


def test_history_reaches_any_age_and_stays_positive_on_the_tick_grid() -> None:
    history = History(1, "DOGE", Decimal("0.00010"), Decimal("0.00001"), Decimal("1"), Decimal("0.05"), CREATED)
    bars = history.bars("1d", datetime(1950, 1, 1, tzinfo=UTC), CREATED, 1500)
    assert bars[0].open_time == datetime(1950, 1, 1, tzinfo=UTC) and len(bars) == 1500
    assert all(bar.low >= history.tick and bar.low % history.tick == 0 for bar in bars)
    assert len({bar.close for bar in bars}) > 10
    # Nothing before the path's start, nothing from the anchor on.
    assert history.bars("1d", datetime(1, 1, 1, tzinfo=UTC), datetime(1800, 1, 1, tzinfo=UTC), 10) == []
    assert history.bars("1m", CREATED - timedelta(seconds=30), CREATED + timedelta(days=1), 10) == []


def test_intervals_read_one_path() -> None:
    """Every interval shows the same market: closes at one moment differ by one factor, the pin's."""
    history = _history("ETH")
    day = datetime(2026, 2, 1, tzinfo=UTC)
    hourly = history.bars("1h", day, day + timedelta(hours=23), 24)
    minutes = {bar.open_time: bar for bar in history.bars("1m", day, day + timedelta(days=1), 1500)}
    ratios = [hour.close / minutes[hour.open_time + timedelta(minutes=59)].close for hour in hourly]
    assert max(ratios) - min(ratios) < Decimal("0.0001")


def test_latest_and_limit_select_the_right_end() -> None:
    history = _history()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    earliest = history.bars("15m", start, start + timedelta(days=1), 3)
    latest = history.bars("15m", start, start + timedelta(days=1), 3, latest=True)
    assert [b.open_time for b in earliest] == [start + timedelta(minutes=15 * i) for i in range(3)]
    assert [b.open_time for b in latest] == [start + timedelta(days=1, minutes=-15 * i) for i in (2, 1, 0)]
    # Bounds between grid points take the candles opening within them.
    assert history.bars("1h", start + timedelta(minutes=1), start + timedelta(hours=2, minutes=59), 10)[
        0
    ].open_time == (start + timedelta(hours=1))


def test_time_grid() -> None:
    ts = datetime(2026, 5, 5, 13, 47, 12, 5, tzinfo=UTC)
    assert floor_time(ts, 14_400) == datetime(2026, 5, 5, 12, tzinfo=UTC)
    assert ceil_time(ts, 900) == datetime(2026, 5, 5, 14, tzinfo=UTC)
    assert ceil_time(datetime(2026, 5, 5, 14, tzinfo=UTC), 900) == datetime(2026, 5, 5, 14, tzinfo=UTC)
    assert floor_time(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), 86_400) == datetime(1969, 12, 31, tzinfo=UTC)


def test_advance_opens_at_the_previous_close_and_folds_ticks_in() -> None:
    t0 = datetime(2026, 5, 5, 13, 47, 12, tzinfo=UTC)
    first = advance(None, 60, Decimal("100"), Decimal("101"), Decimal("2"), t0)
    minute = datetime(2026, 5, 5, 13, 47, tzinfo=UTC)
    assert first == Bar(minute, Decimal(100), Decimal(101), Decimal(100), Decimal(101), Decimal(2), Decimal(202))
    second = advance(first, 60, Decimal("101"), Decimal("99"), Decimal("3"), t0 + timedelta(seconds=30))
    assert (second.open, second.high, second.low, second.close, second.volume) == (100, 101, 99, 99, 5)
    assert second.quote_volume == 202 + 99 * 3  # exact turnover, tick by tick
    rolled = advance(second, 60, Decimal("99"), Decimal("98"), Decimal("1"), t0 + timedelta(seconds=50))
    assert rolled.open_time == datetime(2026, 5, 5, 13, 48, tzinfo=UTC)
    assert (rolled.open, rolled.high, rolled.low, rolled.close, rolled.volume) == (99, 99, 98, 98, 1)
    # A tick stamped before the open bar (a lagging clock) still counts in it: a bar never reopens.
    late = advance(rolled, 60, Decimal("98"), Decimal("97"), Decimal("1"), t0)
    assert late.open_time == rolled.open_time and late.low == 97 and late.volume == 2


def _live(history: History, until: datetime) -> tuple[list[Bar], list[Bar]]:
    """One-minute and one-hour bars of a synthetic feed ticking every 20 seconds from the anchor."""
    minutes: dict[datetime, Bar] = {}
    hours: dict[datetime, Bar] = {}
    minute: Bar | None = None
    hour: Bar | None = None
    price, ts, step = history.initial_price, history.created_at, 0
    while (ts := ts + timedelta(seconds=20)) <= until:
        step += 1
        new = price + history.tick * (step % 7 - 3)
        volume = tick_volume(history.seed, history.symbol, step, new, history.lot)
        minute = advance(minute, 60, price, new, volume, ts)
        hour = advance(hour, 3600, price, new, volume, ts)
        minutes[minute.open_time], hours[hour.open_time] = minute, hour
        price = new
    return list(minutes.values()), list(hours.values())


@pytest.mark.parametrize("age", [timedelta(hours=5, minutes=3), timedelta(hours=29, minutes=41)])
def test_day_window_from_hour_bars_equals_the_minute_bars(age: timedelta) -> None:
    """Tickers read whole live hours as hour bars: the statistics are those of the one-minute bars."""
    history = _history("ETH", created_at=datetime(2026, 4, 1, 10, 17, 30, tzinfo=UTC))
    now = history.created_at + age
    minutes, hours = _live(history, now)
    start, end = day_window(now)
    by_minute = history.bars("1m", start, end, 1440) + [bar for bar in minutes if bar.open_time >= start]
    assert len(by_minute) == 1440 and by_minute[-1].open_time == end
    mixed = window_bars(history, start, end, minutes, hours)
    assert len(mixed) < (200 if age > timedelta(days=1) else 1440) and mixed[0] == by_minute[0]
    assert summarize(mixed, minutes[-1].close) == summarize(by_minute, minutes[-1].close)


def test_tick_volume_is_reproducible_in_lots() -> None:
    volumes = [tick_volume(5, "BTC", step, Decimal("96250.0"), Decimal("0.00001")) for step in range(1, 200)]
    assert volumes == [tick_volume(5, "BTC", step, Decimal("96250.0"), Decimal("0.00001")) for step in range(1, 200)]
    assert all(v > 0 and v % Decimal("0.00001") == 0 for v in volumes)
    assert len(set(volumes)) > 150
    assert tick_volume(5, "BTC", 1, Decimal("96250.0"), Decimal("10")) == Decimal("10")  # at least one lot


# -- candles over the API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(INTERVALS))
async def test_candles_are_ascending_valid_ohlcv(api: GraphQLClient, code: str) -> None:
    tick, lot, _, _ = SEEDED["XRP"]
    rows = (await api.query(CANDLES, {"s": "xrp", "i": ENUM[code], "limit": 300}))["candles"]
    assert len(rows) == 300
    step = timedelta(seconds=INTERVALS[code])
    stamps = [_stamp(r["openTime"]) for r in rows]
    assert stamps == sorted(set(stamps))
    assert all(s.utcoffset() == timedelta(0) and floor_time(s, INTERVALS[code]) == s for s in stamps)
    for before, row in pairwise(rows):
        # Continuous: history into live data, and live data from tick to tick.
        assert row["open"] == before["close"]
    for row in rows:
        assert (row["symbol"], row["interval"]) == ("XRP", ENUM[code])
        assert _stamp(row["closeTime"]) - _stamp(row["openTime"]) == step
        o, h, lo, c = (Decimal(row[k]) for k in ("open", "high", "low", "close"))
        assert h >= max(o, c) and lo <= min(o, c) and lo > 0
        assert all(p % tick == 0 for p in (o, h, lo, c))
        assert Decimal(row["volume"]) % lot == 0 and Decimal(row["quoteVolume"]) >= 0
    assert all(row["closed"] for row in rows[:-1])
    assert stamps[-1] <= datetime.now(UTC)


async def test_history_is_reproducible_and_ends_at_the_initial_price(api: GraphQLClient) -> None:
    args = {"s": "BTC", "i": "ONE_HOUR", "from": "2025-06-01T00:00:00Z", "to": "2025-06-03T00:00:00Z"}
    first = (await api.query(CANDLES, args))["candles"]
    assert first == (await api.query(CANDLES, args))["candles"]
    assert len(first) == 49 and first[0]["openTime"] == "2025-06-01T00:00:00+00:00"

    initial = format(SEEDED["BTC"][2].normalize(), "f")
    for code in ("1m", "1d"):
        rows = (await api.query(CANDLES, {"s": "BTC", "i": ENUM[code], "limit": 1500}))["candles"]
        # The last history candle closes at the price the feed started from; the first live one opens there.
        assert any(a["close"] == initial == b["open"] and a["closed"] for a, b in pairwise(rows)), code


async def test_latest_candles_follow_the_feed(api: GraphQLClient) -> None:
    """Each tick updates the open candle of every interval in the same transaction as the price."""
    aliases = " ".join(
        f'c{code}: candles(symbol: "AVAX", interval: {ENUM[code]}, limit: 1) {{ close }}' for code in INTERVALS
    )
    document = f'{{ price(symbol: "AVAX") {{ price }} {aliases} }}'

    async def same_tick() -> bool:
        data = await api.query(document)
        return {data[f"c{code}"][0]["close"] for code in INTERVALS} == {data["price"]["price"]}

    await _retry(same_tick)


async def test_from_to_and_limit_select_a_range(api: GraphQLClient) -> None:
    base = {"s": "ETH", "i": "FIFTEEN_MINUTES"}
    rows = (await api.query(CANDLES, {**base, "from": "2025-01-01T00:07:00Z", "limit": 5}))["candles"]
    assert [r["openTime"][11:16] for r in rows] == ["00:15", "00:30", "00:45", "01:00", "01:15"]
    rows = (await api.query(CANDLES, {**base, "to": "2025-01-01T00:07:00Z", "limit": 3}))["candles"]
    assert [r["openTime"] for r in rows] == [
        "2024-12-31T23:30:00+00:00",
        "2024-12-31T23:45:00+00:00",
        "2025-01-01T00:00:00+00:00",
    ]
    rows = (await api.query(CANDLES, {**base, "from": "2025-01-01T00:00:00Z", "to": "2025-01-01T01:00:00Z"}))["candles"]
    assert len(rows) == 5
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert (await api.query(CANDLES, {**base, "from": future}))["candles"] == []
    # Default limit, latest first: the last one is the current (or latest) candle.
    rows = (await api.query(CANDLES, base))["candles"]
    assert len(rows) == 500 and _stamp(rows[-1]["openTime"]) > datetime.now(UTC) - timedelta(minutes=30)


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1501}, "limit"),
        ({"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "from"),
        ({"s": "NOPE"}, "symbol"),
    ],
)
async def test_candle_arguments_are_validated(api: GraphQLClient, variables: dict[str, Any], field: str) -> None:
    body = await api.execute(CANDLES, {"s": "BTC", "i": "ONE_MINUTE", **variables})
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


# -- the candle stream --------------------------------------------------------------------------------------


async def test_candle_stream_snapshot_then_ticks_matching_stored_candles(
    ws: GraphQLWSClient, api: GraphQLClient
) -> None:
    sub = await ws.subscribe(STREAM, {"s": "link", "i": "ONE_MINUTE"})
    delivered = [(await sub.data())["candles"]]
    assert delivered[0]["sequence"] == 1 and delivered[0]["snapshot"] is True
    assert delivered[0]["candle"]["symbol"] == "LINK"

    # The stream started before this read, so it delivers the very candle the read finds (or has already).
    (stored,) = (await api.query(CANDLES, {"s": "LINK", "i": "ONE_MINUTE", "limit": 1}))["candles"]
    stored.pop("closed")

    def seen() -> bool:
        return any({k: v for k, v in d["candle"].items() if k != "closed"} == stored for d in delivered)

    def passed(candle: dict[str, Any]) -> bool:
        return candle["openTime"] > stored["openTime"] or Decimal(candle["volume"]) > Decimal(stored["volume"])

    while not seen() and not passed(delivered[-1]["candle"]):
        delivered.append((await sub.data())["candles"])
    assert seen()

    for _ in range(5):
        delivered.append((await sub.data())["candles"])
    assert [d["sequence"] for d in delivered] == list(range(1, len(delivered) + 1))
    assert not any(d["snapshot"] for d in delivered[1:])
    for before, after in pairwise(delivered[1:]):
        a, b = before["candle"], after["candle"]
        assert b["openTime"] >= a["openTime"]
        if b["openTime"] == a["openTime"]:
            assert b["open"] == a["open"] and Decimal(b["volume"]) > Decimal(a["volume"])
            assert Decimal(b["high"]) >= Decimal(a["high"]) and Decimal(b["low"]) <= Decimal(a["low"])
        else:
            assert b["open"] == a["close"]  # a new interval opens at the previous close
        assert b["closed"] is False
    await sub.stop()


async def test_candle_streams_of_two_intervals_are_independent(ws: GraphQLWSClient) -> None:
    daily = await ws.subscribe(STREAM, {"s": "BNB", "i": "ONE_DAY"})
    minutes = await ws.subscribe(STREAM, {"s": "BNB", "i": "FIVE_MINUTES"})
    a = [(await daily.data())["candles"] for _ in range(3)]
    b = [(await minutes.data())["candles"] for _ in range(3)]
    assert [d["sequence"] for d in a] == [1, 2, 3] == [d["sequence"] for d in b]
    assert {d["candle"]["interval"] for d in a} == {"ONE_DAY"}
    assert {d["candle"]["interval"] for d in b} == {"FIVE_MINUTES"}


async def test_candle_stream_of_unknown_symbol_is_an_error(ws: GraphQLWSClient) -> None:
    sub = await ws.subscribe(STREAM, {"s": "NOTACOIN", "i": "ONE_HOUR"})
    with pytest.raises(SubscriptionError) as caught:
        await sub.next(timeout=5)
    (error,) = caught.value.errors
    assert "NOTACOIN" in error["message"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbol"}


# -- ticker, order book, market stats -----------------------------------------------------------------------


async def test_ticker_is_the_trailing_day_of_one_minute_candles(api: GraphQLClient) -> None:
    document = (
        f'{{ ticker(symbol: "sol") {{ {TICKER} }} '
        '  candles(symbol: "SOL", interval: ONE_MINUTE, limit: 1441) { openTime open high low close volume quoteVolume } }'
    )

    async def consistent() -> bool:
        data = await api.query(document)
        t = data["ticker"]
        window = [c for c in data["candles"] if c["openTime"] >= t["openTime"]]
        if window[-1]["close"] != t["lastPrice"] or sum(Decimal(c["volume"]) for c in window) != Decimal(t["volume"]):
            return False  # a tick or a minute boundary fell between the two reads
        assert t["symbol"] == "SOL" and len(window) <= 1440
        assert _stamp(t["openTime"]) > datetime.now(UTC) - timedelta(hours=24, minutes=2)
        last, open_ = Decimal(t["lastPrice"]), Decimal(t["openPrice"])
        assert open_ == Decimal(window[0]["open"])
        assert Decimal(t["highPrice"]) == max(Decimal(c["high"]) for c in window)
        assert Decimal(t["lowPrice"]) == min(Decimal(c["low"]) for c in window)
        assert Decimal(t["quoteVolume"]) == sum(Decimal(c["quoteVolume"]) for c in window)
        assert Decimal(t["change"]) == last - open_
        assert Decimal(t["changePercent"]) == ((last - open_) * 100 / open_).quantize(Decimal("0.01"))
        return True

    await _retry(consistent)


async def test_order_book_has_the_documented_shape_around_the_current_price(
    api: GraphQLClient, server: ServerHandle
) -> None:
    tick, lot, initial, volatility = SEEDED["BTC"]
    document = (
        '{ price(symbol: "BTC") { price timestamp } '
        '  orderBook(symbol: "btc", depth: 7) { symbol markPrice spread step timestamp '
        "    bids { price quantity } asks { price quantity } } }"
    )
    seen: dict[str, Any] = {}

    async def same_tick() -> bool:
        data = await api.query(document)
        seen.update(data)
        return bool(data["price"]["timestamp"] == data["orderBook"]["timestamp"])

    await _retry(same_tick)
    book, price = seen["orderBook"], Decimal(seen["price"]["price"])
    settings = server.settings
    levels = [[(Decimal(lv["price"]), Decimal(lv["quantity"])) for lv in book[side]] for side in ("bids", "asks")]
    bids, asks = ([p for p, _ in side] for side in levels)
    assert len(bids) == len(asks) == 7
    # The documented shape (book.py): the best ask and bid half a spread, ceil_tick(mark × 0.00005), from the
    # mark; each further level ceil_tick(mark × 0.0002) beyond, both sides alike. (The step-0 book, with
    # literal prices, is in test_fills.py.)
    half = asks[0] - price
    assert half == price - bids[0]
    gap = asks[1] - asks[0]
    assert [b - a for a, b in pairwise(asks)] == [gap] * 6 == [a - b for a, b in pairwise(bids)]
    assert half == (price * Decimal("0.00005") / tick).to_integral_value(ROUND_CEILING) * tick
    assert gap == (price * Decimal("0.0002") / tick).to_integral_value(ROUND_CEILING) * tick
    assert all(q > 0 and q % lot == 0 for side in levels for _, q in side)
    # That the book shown is the one orders fill against is checked on a still market (test_fills.py).
    assert Decimal(book["markPrice"]) == price
    # The mark is where the seeded walk is at that step: the book is a function of the feed alone.
    assert price == ([initial, *walk(settings.feed_seed, "BTC", initial, tick, volatility, book["step"])])[-1]
    best_bid, best_ask = levels[0][0][0], levels[1][0][0]
    assert best_bid < price < best_ask
    assert Decimal(book["spread"]) == best_ask - best_bid
    assert [p for p, _ in levels[0]] == sorted((p for p, _ in levels[0]), reverse=True)
    assert [p for p, _ in levels[1]] == sorted(p for p, _ in levels[1])

    default = (await api.query('{ orderBook(symbol: "ETH") { bids { price } asks { price } } }'))["orderBook"]
    assert len(default["bids"]) == len(default["asks"]) == 20


@pytest.mark.parametrize("depth", [0, MAX_DEPTH + 1])
async def test_order_book_depth_is_bounded(api: GraphQLClient, depth: int) -> None:
    body = await api.execute(f'{{ orderBook(symbol: "BTC", depth: {depth}) {{ symbol }} }}')
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "depth"}
    assert str(MAX_DEPTH) in error["message"]
    full = await api.query(f'{{ orderBook(symbol: "BTC", depth: {MAX_DEPTH}) {{ asks {{ price }} }} }}')
    assert len(full["orderBook"]["asks"]) == MAX_DEPTH


async def test_market_stats_rank_movers_with_one_candle_query(api: GraphQLClient) -> None:
    document = (
        "{ marketStats { instrumentCount quoteVolume timestamp "
        "  topGainers { symbol lastPrice changePercent } topLosers { symbol lastPrice changePercent } } "
        "  instruments { symbol } }"
    )
    with count_queries() as queries:
        data = await api.query(document)
    stats = data["marketStats"]
    assert stats["instrumentCount"] == len(data["instruments"]) >= 10
    assert Decimal(stats["quoteVolume"]) > 0
    assert datetime.now(UTC) - _stamp(stats["timestamp"]) < timedelta(minutes=5)
    gains = [Decimal(m["changePercent"]) for m in stats["topGainers"]]
    losses = [Decimal(m["changePercent"]) for m in stats["topLosers"]]
    assert len(gains) <= 3 and len(losses) <= 3
    assert gains or losses
    assert gains == sorted(gains, reverse=True) and all(g > 0 for g in gains)
    assert losses == sorted(losses) and all(loss < 0 for loss in losses)
    symbols = [m["symbol"] for m in stats["topGainers"] + stats["topLosers"]]
    assert len(set(symbols)) == len(symbols)
    # The window's candles for every instrument at once (the feed's own writes are INSERTs): one read of the
    # 1m bars, and one of the 1h bars when the window's whole hours reach into stored ones, each naming every
    # instrument, so the count does not grow with the instruments.
    reads = [q for q in queries.statements if q.lstrip().upper().startswith("SELECT") and '"candles"' in q]
    named = [re.search(r'"instrument_id" IN \(([^)]*)\)', q) for q in reads]
    assert [m and len(m.group(1).split(",")) for m in named] == [len(data["instruments"])] * len(reads), reads
    intervals = sorted(re.findall(r"'(1m|1h)'", " ".join(reads)))
    assert intervals in (["1m"], ["1h", "1m"]), reads

    # A mover's change is its ticker's; the two reads agree once no tick falls between them.
    symbol = symbols[0]

    async def agrees_with_ticker() -> bool:
        nonlocal symbol
        fields = "symbol changePercent"
        data = await api.query(
            f'{{ ticker(symbol: "{symbol}") {{ changePercent }} '
            f"marketStats {{ topGainers {{ {fields} }} topLosers {{ {fields} }} }} }}"
        )
        ranked = data["marketStats"]["topGainers"] + data["marketStats"]["topLosers"]
        movers = {m["symbol"]: m["changePercent"] for m in ranked}
        if symbol not in movers:
            symbol = ranked[0]["symbol"]  # the ranking moved on; follow it
            return False
        return bool(movers[symbol] == data["ticker"]["changePercent"])

    await _retry(agrees_with_ticker)
