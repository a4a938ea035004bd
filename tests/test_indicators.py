"""Indicators, signals and market structure, through the real API on both legs.

Fixed candles are written for a test-only instrument whose feed start (created_at) lies just after
them, so `candles` (and every read here) returns exactly these bars. Expected values are computed in
this file from first principles, with exact fractions, following TA-Lib's definitions; the API computes
in floats (talipp) and rounds to 12 significant digits, so values agree to a relative 1e-10.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest

from graphql_api.client import GraphQLClient, GraphQLWSClient, SubscriptionError
from graphql_api.engine.candles import Bar
from graphql_api.engine.indicators import Kind, Spec, compute
from graphql_api.pagination import from_global_id
from graphql_api.services.indicators import record_signal
from models.identity import Role, User
from models.indicators import SignalRecord
from models.market import Candle, Instrument

from .accounts import Account, as_user, error_code
from .support import ServerHandle, wait_until

HOUR = timedelta(hours=1)
T0 = datetime(2020, 1, 1, 12, tzinfo=UTC)
_ids = itertools.count(1)

POINT = "openTime value signal histogram upper lower d"
INDICATORS = (
    "query($s: String!, $k: [IndicatorInput!]!, $from: DateTime, $to: DateTime, $limit: Int) "
    "{ indicators(symbol: $s, interval: ONE_HOUR, kinds: $k, from: $from, to: $to, limit: $limit) "
    f"{{ symbol candleCount series {{ kind label lookback points {{ {POINT} }} }} }} }}"
)
SIGNAL_FIELDS = (
    "symbol action strength confidence entry stopLoss takeProfit readings { name value } votes { name vote } "
    "candleOpenTime time"
)
SIGNAL = f"query($s: String!) {{ signal(symbol: $s, interval: ONE_HOUR) {{ {SIGNAL_FIELDS} }} }}"
SIGNALS = f"query($s: [String!]) {{ signals(symbols: $s, interval: ONE_HOUR) {{ {SIGNAL_FIELDS} }} }}"
HISTORY = (
    "query($s: String!, $first: Int, $after: String) { signalHistory(symbol: $s, interval: ONE_HOUR, "
    "first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } "
    "edges { node { action previousAction strength entry candleOpenTime } } } }"
)
CHANGED = (
    "subscription($s: [String!]) { signalChanged(symbols: $s, interval: ONE_HOUR) "
    "{ sequence snapshot change { symbol action previousAction candleOpenTime } } }"
)
LEVELS = (
    "query($s: String!) { priceLevels(symbol: $s, interval: ONE_HOUR) { lastClose phase smaChange atr "
    "rangePosition supports { price touches } resistances { price touches } candleOpenTime } }"
)
PREDICTION = (
    "query($s: String!, $h: Int!) { pricePrediction(symbol: $s, interval: ONE_HOUR, horizon: $h) { method "
    "sampleSize slope intercept rSquared residualStd lastClose points { stepsAhead openTime expected lower upper } } }"
)


# -- fixed candles -----------------------------------------------------------------------------------------


def bar(i: int, o: str, h: str, lo: str, c: str, v: str, start: datetime = T0) -> dict[str, Any]:
    return {
        "open_time": start + HOUR * i,
        "open": Decimal(o),
        "high": Decimal(h),
        "low": Decimal(lo),
        "close": Decimal(c),
        "volume": Decimal(v),
    }


def fixed_bars() -> list[dict[str, Any]]:
    """30 hourly candles from 2020-01-01 12:00 (crossing a UTC midnight at index 12), small round numbers."""
    closes = [100 + (i * 7) % 11 - 5 + Fraction(i, 2) for i in range(30)]
    out = []
    previous = Fraction(100)
    for i, close in enumerate(closes):
        high = max(previous, close) + 1 + Fraction(i % 3, 2)
        low = min(previous, close) - 1 - Fraction(i % 2, 2)
        out.append(bar(i, _s(previous), _s(high), _s(low), _s(close), str(10 + i % 4)))
        previous = close
    return out


def _s(value: Fraction) -> str:
    return str(Decimal(value.numerator) / Decimal(value.denominator))


@pytest.fixture
async def instrument(server: ServerHandle) -> AsyncIterator[Any]:
    """A test-only instrument (the feed does not walk it); removed with its candles and signals afterwards."""
    n = next(_ids)
    made: list[Instrument] = []

    async def make(bars: list[dict[str, Any]], symbol: str | None = None) -> Instrument:
        row = await Instrument.create(
            symbol=symbol or f"TIND{n}{len(made)}",
            name="Indicator test",
            asset_index=9000 + n * 10 + len(made),
            base="TIND",
            quote="USDC",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.001"),
            initial_price=Decimal(100),
            volatility=Decimal("0.001"),
        )
        made.append(row)
        # Its feed "started" right after the last candle: every read returns these candles, no history.
        start = bars[-1]["open_time"] + HOUR
        await Instrument.filter(id=row.id).update(created_at=start)
        await Candle.bulk_create([Candle(instrument_id=row.id, interval="1h", quote_volume=0, **b) for b in bars])
        return await Instrument.get(id=row.id)

    yield make
    for row in made:
        await row.delete()


# -- independent reference (exact fractions, TA-Lib definitions) -------------------------------------------

F = Fraction


def sma(xs: list[F], n: int) -> list[F | None]:
    return [None if i < n - 1 else sum(xs[i - n + 1 : i + 1], F(0)) / n for i in range(len(xs))]


def ema(xs: list[F | None], n: int) -> list[F | None]:
    """EMA with k = 2/(n+1), seeded with the SMA of the first n defined values."""
    out: list[F | None] = [None] * len(xs)
    first = next(i for i, x in enumerate(xs) if x is not None)
    k = F(2, n + 1)
    for i in range(first + n - 1, len(xs)):
        if i == first + n - 1:
            out[i] = sum((x for x in xs[first : i + 1] if x is not None), F(0)) / n
        else:
            prev = out[i - 1]
            x = xs[i]
            assert prev is not None and x is not None
            out[i] = prev + k * (x - prev)
    return out


def wma(xs: list[F], n: int) -> list[F | None]:
    weight = F(n * (n + 1), 2)
    return [
        None if i < n - 1 else sum((F(j + 1) * xs[i - n + 1 + j] for j in range(n)), F(0)) / weight
        for i in range(len(xs))
    ]


def wilder(values: list[F], n: int, first: int) -> list[F | None]:
    """Wilder's smoothing of values[first:]: the mean of the first n, then (prev (n-1) + x) / n."""
    out: list[F | None] = [None] * len(values)
    start = first + n - 1
    out[start] = sum(values[first : start + 1], F(0)) / n
    for i in range(start + 1, len(values)):
        prev = out[i - 1]
        assert prev is not None
        out[i] = (prev * (n - 1) + values[i]) / n
    return out


def rsi(xs: list[F], n: int) -> list[F | None]:
    changes = [F(0)] + [xs[i] - xs[i - 1] for i in range(1, len(xs))]
    gains = wilder([max(c, F(0)) for c in changes], n, 1)
    losses = wilder([max(-c, F(0)) for c in changes], n, 1)
    out: list[F | None] = []
    for g, lo in zip(gains, losses, strict=True):
        # TA-Lib's form: 100 g / (g + l), 0 when there was no move at all.
        out.append(None if g is None or lo is None else 100 * g / (g + lo) if g + lo else F(0))
    return out


def macd(xs: list[F], fast: int, slow: int, signal: int) -> list[tuple[F, F, F] | None]:
    """TA-Lib's MACD: both EMAs start at index slow - 1, the fast one seeded on the fast closes ending there."""
    slow_ema = ema(list(xs), slow)
    fast_ema = ema([None] * (slow - fast) + list(xs[slow - fast :]), fast)
    line: list[F | None] = [None if f is None or s is None else f - s for f, s in zip(fast_ema, slow_ema, strict=True)]
    sig = ema(line, signal)
    out: list[tuple[F, F, F] | None] = []
    for m, s in zip(line, sig, strict=True):
        out.append(None if m is None or s is None else (m, s, m - s))
    return out


def sqrt(x: F) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        return (Decimal(x.numerator) / Decimal(x.denominator)).sqrt()


def bbands(xs: list[F], n: int, k: int) -> list[tuple[Decimal, Decimal, Decimal] | None]:
    out: list[tuple[Decimal, Decimal, Decimal] | None] = []
    for i in range(len(xs)):
        if i < n - 1:
            out.append(None)
            continue
        window = xs[i - n + 1 : i + 1]
        mean = sum(window, F(0)) / n
        std = sqrt(sum(((x - mean) ** 2 for x in window), F(0)) / n)  # population
        m = dec(mean)
        out.append((m, m + k * std, m - k * std))
    return out


def atr(bars: list[dict[str, Any]], n: int) -> list[F | None]:
    h = [F(b["high"]) for b in bars]
    lo = [F(b["low"]) for b in bars]
    c = [F(b["close"]) for b in bars]
    tr = [F(0)] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(bars))]
    return wilder(tr, n, 1)


def stoch(bars: list[dict[str, Any]], k: int, smooth: int, d: int) -> list[tuple[F, F] | None]:
    raw: list[F | None] = []
    for i, b in enumerate(bars):
        if i < k - 1:
            raw.append(None)
            continue
        window = bars[i - k + 1 : i + 1]
        hh, ll = max(F(x["high"]) for x in window), min(F(x["low"]) for x in window)
        raw.append(100 * (F(b["close"]) - ll) / (hh - ll))
    slow_k = _sma_opt(raw, smooth)
    slow_d = _sma_opt(slow_k, d)
    return [None if a is None or b is None else (a, b) for a, b in zip(slow_k, slow_d, strict=True)]


def _sma_opt(xs: list[F | None], n: int) -> list[F | None]:
    out: list[F | None] = []
    for i in range(len(xs)):
        window = xs[max(0, i - n + 1) : i + 1]
        out.append(None if len(window) < n or any(x is None for x in window) else sum(window, F(0)) / n)  # type: ignore[arg-type]
    return out


def vwap(bars: list[dict[str, Any]]) -> list[F]:
    out, pv, vol, day = [], F(0), F(0), None
    for b in bars:
        if b["open_time"].date() != day:
            day, pv, vol = b["open_time"].date(), F(0), F(0)
        typical = (F(b["high"]) + F(b["low"]) + F(b["close"])) / 3
        pv += typical * F(b["volume"])
        vol += F(b["volume"])
        out.append(pv / vol)
    return out


def obv(bars: list[dict[str, Any]]) -> list[F]:
    out = [F(bars[0]["volume"])]
    for prev, b in itertools.pairwise(bars):
        step = F(b["volume"]) * ((b["close"] > prev["close"]) - (b["close"] < prev["close"]))
        out.append(out[-1] + step)
    return out


def dec(x: F | Decimal) -> Decimal:
    if isinstance(x, Decimal):
        return x
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(x.numerator) / Decimal(x.denominator)


def close_to(api: str | None, expected: F | Decimal) -> bool:
    """Within a relative 1e-10 (absolute for values under 1): the API's 12 significant digits of a float."""
    assert api is not None
    want = dec(expected)
    return abs(Decimal(api) - want) <= Decimal("1e-10") * max(Decimal(1), abs(want))


# -- indicators --------------------------------------------------------------------------------------------

KINDS = [
    {"kind": "SMA", "period": 5},
    {"kind": "EMA", "period": 5},
    {"kind": "WMA", "period": 5},
    {"kind": "RSI", "period": 5},
    {"kind": "MACD", "fastPeriod": 3, "slowPeriod": 6, "signalPeriod": 4},
    {"kind": "BBANDS", "period": 5, "deviations": "2"},
    {"kind": "ATR", "period": 5},
    {"kind": "STOCH", "kPeriod": 5, "kSmoothing": 3, "dPeriod": 3},
    {"kind": "VWAP"},
    {"kind": "OBV"},
]


async def test_indicator_values_match_first_principles(api: GraphQLClient, trader: Account, instrument: Any) -> None:
    bars = fixed_bars()
    row = await instrument(bars)
    closes = [F(b["close"]) for b in bars]
    async with as_user(api.base_url, trader) as client:
        variables = {"s": row.symbol, "k": KINDS, "from": T0.isoformat(), "to": (T0 + HOUR * 29).isoformat()}
        data = (await client.query(INDICATORS, variables))["indicators"]
    assert data["candleCount"] == 30
    series = {s["kind"]: s for s in data["series"]}
    assert [s["label"] for s in data["series"]] == [
        "SMA(5)",
        "EMA(5)",
        "WMA(5)",
        "RSI(5)",
        "MACD(3,6,4)",
        "BBANDS(5,2)",
        "ATR(5)",
        "STOCH(5,3,3)",
        "VWAP",
        "OBV",
    ]
    # TA-Lib's lookbacks: how many leading points are null.
    lookbacks = {"SMA": 4, "EMA": 4, "WMA": 4, "RSI": 5, "MACD": 8, "BBANDS": 4, "ATR": 5, "STOCH": 8}
    lookbacks |= {"VWAP": 0, "OBV": 0}
    for kind, lookback in lookbacks.items():
        points = series[kind]["points"]
        assert series[kind]["lookback"] == lookback
        assert [p["openTime"] for p in points] == [b["open_time"].isoformat() for b in bars]
        assert all(p["value"] is None for p in points[:lookback]), kind
        assert all(p["value"] is not None for p in points[lookback:]), kind

    def check(kind: str, expected: list[Any], field: str = "value") -> None:
        for i, (point, want) in enumerate(zip(series[kind]["points"], expected, strict=True)):
            if want is not None:
                assert close_to(point[field], want), (kind, field, i, point[field], dec(want))

    check("SMA", sma(closes, 5))
    check("EMA", ema(list(closes), 5))
    check("WMA", wma(closes, 5))
    check("RSI", rsi(closes, 5))
    reference = macd(closes, 3, 6, 4)
    check("MACD", [m and m[0] for m in reference])
    check("MACD", [m and m[1] for m in reference], "signal")
    check("MACD", [m and m[2] for m in reference], "histogram")
    bands = bbands(closes, 5, 2)
    check("BBANDS", [b and b[0] for b in bands])
    check("BBANDS", [b and b[1] for b in bands], "upper")
    check("BBANDS", [b and b[2] for b in bands], "lower")
    check("ATR", atr(bars, 5))
    slow = stoch(bars, 5, 3, 3)
    check("STOCH", [s and s[0] for s in slow])
    check("STOCH", [s and s[1] for s in slow], "d")
    check("VWAP", vwap(bars))
    check("OBV", obv(bars))
    # A hand-checked anchor: SMA(5) at index 4 is the mean of the first five closes.
    assert Decimal(series["SMA"]["points"][4]["value"]) == sum(b["close"] for b in bars[:5]) / 5


def test_a_market_without_moves_reads_as_ta_lib_says() -> None:
    """No gains and no losses: RSI 0; a window whose high equals its low: raw %K 0 (TA-Lib's values; talipp's
    own would be 100). Pure engine, no server."""
    flat = [
        Bar(T0 + HOUR * i, Decimal(100), Decimal(100), Decimal(100), Decimal(100), Decimal(5), Decimal(0))
        for i in range(20)
    ]
    strength, stochastic = compute([Spec.of(Kind.RSI, period=5), Spec.of(Kind.STOCH, k_period=5)], flat)
    assert [r.value for r in strength[5:]] == [Decimal(0)] * 15
    assert [(r.value, r.d) for r in stochastic[8:]] == [(Decimal(0), Decimal(0))] * 12


@pytest.mark.parametrize(
    ("kinds", "extra", "field"),
    [
        ([{"kind": "SMA", "period": 1}], {}, "kinds[0].period"),
        ([{"kind": "SMA"}, {"kind": "RSI", "period": 501}], {}, "kinds[1].period"),
        ([{"kind": "RSI", "fastPeriod": 5}], {}, "kinds[0].fastPeriod"),
        ([{"kind": "MACD", "fastPeriod": 26, "slowPeriod": 12}], {}, "kinds[0].fastPeriod"),
        ([{"kind": "BBANDS", "deviations": "0"}], {}, "kinds[0].deviations"),
        ([{"kind": "STOCH", "dPeriod": 0}], {}, "kinds[0].dPeriod"),
        ([], {}, "kinds"),
        ([{"kind": "SMA"}], {"limit": 0}, "limit"),
    ],
)
async def test_bad_indicator_parameters_name_the_field(
    api: GraphQLClient, trader: Account, kinds: list[dict[str, Any]], extra: dict[str, Any], field: str
) -> None:
    async with as_user(api.base_url, trader) as client:
        body = await client.execute(INDICATORS, {"s": "BTC", "k": kinds, **extra})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body


async def test_signed_in_users_only_and_viewers_read(api: GraphQLClient, trader: Account) -> None:
    body = await api.execute(INDICATORS, {"s": "BTC", "k": [{"kind": "SMA"}]})
    assert error_code(body) == "UNAUTHENTICATED"
    await User.filter(id=from_global_id(trader.user_id)[1]).update(role=Role.VIEWER)
    async with as_user(api.base_url, trader) as client:
        data = (await client.query(INDICATORS, {"s": "BTC", "k": [{"kind": "SMA"}], "limit": 500}))["indicators"]
        assert data["candleCount"] == 500
        assert (await client.query(SIGNAL, {"s": "BTC"}))["signal"]["action"] in {"BUY", "SELL", "HOLD"}
        assert (await client.query(PREDICTION, {"s": "BTC", "h": 3}))["pricePrediction"]["sampleSize"] == 100
        # Without symbols: every listed instrument, by asset index.
        every = (await client.query(SIGNALS))["signals"]
        listed = await Instrument.all().order_by("asset_index").values_list("symbol", flat=True)
        assert [s["symbol"] for s in every] == list(listed)
        body = await client.execute(PREDICTION, {"s": "BTC", "h": 0})
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "horizon"}


# -- signals -----------------------------------------------------------------------------------------------


def zigzag(
    n: int, up: str, down: str, *, rising: bool, start: datetime = T0, price: Decimal = Decimal(1000)
) -> list[dict[str, Any]]:
    """n hourly candles alternating +up / -down (rising) or -up / +down (falling); the last move is the
    trend's direction. Highs and lows half a unit beyond the body."""
    bars = []
    sign = 1 if rising else -1
    for i in range(n):
        # Ends on a trend move: index n-1 moves with the trend.
        with_trend = (n - 1 - i) % 2 == 0
        move = sign * (Decimal(up) if with_trend else -Decimal(down))
        close = price + move
        hi, lo = max(price, close) + Decimal("0.5"), min(price, close) - Decimal("0.5")
        bars.append(bar(i, str(price), str(hi), str(lo), str(close), "5", start))
        price = close
    return bars


def exponential(n: int) -> list[dict[str, Any]]:
    """n hourly candles rising 1% each (to the cent), wicks half a unit beyond the body."""
    bars, price = [], Decimal(1000)
    for i in range(n):
        close = (price * Decimal("1.01")).quantize(Decimal("0.01"))
        bars.append(bar(i, str(price), str(close + Decimal("0.5")), str(price - Decimal("0.5")), str(close), "5"))
        price = close
    return bars


def expected_votes(bars: list[dict[str, Any]]) -> dict[str, int]:
    """The rule's votes from the reference indicators: EMA(12)/EMA(26), MACD(12,26,9) histogram, RSI(14)."""
    closes = [F(b["close"]) for b in bars]
    fast, slow = ema(list(closes), 12)[-1], ema(list(closes), 26)[-1]
    histogram = macd(closes, 12, 26, 9)[-1]
    strength = rsi(closes, 14)[-1]
    assert fast is not None and slow is not None and histogram is not None and strength is not None
    return {
        "trend": (fast > slow) - (fast < slow),
        "momentum": (histogram[2] > 0) - (histogram[2] < 0),
        "rsi": 1 if strength < 30 else -1 if strength > 70 else 0,
    }


async def test_signal_rules_on_constructed_series(api: GraphQLClient, trader: Account, instrument: Any) -> None:
    # +2/-1 zigzag up: EMA(12) above EMA(26), the histogram up after an up move, RSI about 67: BUY 67.
    up = zigzag(210, "2", "1", rising=True)
    down = zigzag(210, "2", "1", rising=False)
    # A 1% rise every candle: trend and momentum up, but RSI 100 (overbought) votes against: HOLD 33.
    steep = exponential(210)
    rows = [await instrument(up), await instrument(down), await instrument(steep)]
    assert expected_votes(up[-200:]) == {"trend": 1, "momentum": 1, "rsi": 0}
    assert expected_votes(down[-200:]) == {"trend": -1, "momentum": -1, "rsi": 0}
    assert expected_votes(steep[-200:]) == {"trend": 1, "momentum": 1, "rsi": -1}
    async with as_user(api.base_url, trader) as client:
        got = (await client.query(SIGNALS, {"s": [r.symbol for r in rows]}))["signals"]
        single = (await client.query(SIGNAL, {"s": rows[0].symbol}))["signal"]
    assert single == got[0]
    buy, sell, hold = got
    assert (buy["action"], buy["strength"], Decimal(buy["confidence"])) == ("BUY", 67, Decimal("0.6667"))
    assert (sell["action"], sell["strength"]) == ("SELL", 67)
    assert (hold["action"], hold["strength"], Decimal(hold["confidence"])) == ("HOLD", 33, Decimal(0))
    assert {v["name"]: v["vote"] for v in buy["votes"]} == expected_votes(up[-200:])
    # Entry is the last close; stop and target are 2 and 3 ATR(14) away, on the 0.01 grid, away from entry.
    for signal, bars, direction in ((buy, up, 1), (sell, down, -1)):
        entry = bars[-1]["close"]
        assert Decimal(signal["entry"]) == entry
        average = atr(bars[-200:], 14)[-1]
        assert average is not None
        readings = {r["name"]: r["value"] for r in signal["readings"]}
        assert close_to(readings["ATR(14)"], average)
        stop, take = dec(F(entry) - direction * 2 * average), dec(F(entry) + direction * 3 * average)
        assert abs(Decimal(signal["stopLoss"]) - stop) < Decimal("0.01")
        assert abs(Decimal(signal["takeProfit"]) - take) < Decimal("0.01")
        assert (Decimal(signal["stopLoss"]) - stop) * direction <= 0  # never tighter than the rule
        assert signal["candleOpenTime"] == bars[-1]["open_time"].isoformat()
        assert signal["time"] == (bars[-1]["open_time"] + HOUR).isoformat()
    assert hold["stopLoss"] is None and hold["takeProfit"] is None


async def extend(row: Instrument, bars: list[dict[str, Any]]) -> Instrument:
    """More candles for a test instrument, its feed start moved past them."""
    await Candle.bulk_create([Candle(instrument_id=row.id, interval="1h", quote_volume=0, **b) for b in bars])
    await Instrument.filter(id=row.id).update(created_at=bars[-1]["open_time"] + HOUR)
    return await Instrument.get(id=row.id)


async def test_signal_changes_are_recorded_and_streamed_only_on_change(
    server: ServerHandle, api: GraphQLClient, trader: Account, instrument: Any
) -> None:
    """The leader's candle-close hook calls record_signal; it is called here directly on a test instrument
    the feed does not walk (the hook itself is covered by the next test)."""
    assert server.resources is not None
    bus, seed = server.resources.bus, server.settings.feed_seed
    up = zigzag(210, "2", "1", rising=True)
    row = await instrument(up)
    now = up[-1]["open_time"] + HOUR * 2
    first = await record_signal(bus, row, seed, "1h", now)
    assert first is not None and first.action == "BUY"
    async with GraphQLWSClient(
        server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
    ) as ws:
        stream = await ws.subscribe(CHANGED, {"s": [row.symbol]})
        # The stream opens with the latest stored change, and listens from then on.
        event = (await stream.data(timeout=30))["signalChanged"]
        assert event == {
            "sequence": 1,
            "snapshot": True,
            "change": {
                "symbol": row.symbol,
                "action": "BUY",
                "previousAction": None,
                "candleOpenTime": up[-1]["open_time"].isoformat(),
            },
        }
        # The same candle again, then two more candles on which it is still a BUY: nothing stored or sent.
        assert await record_signal(bus, row, seed, "1h", now) is None
        more = zigzag(2, "2", "1", rising=True, start=up[-1]["open_time"] + HOUR, price=up[-1]["close"])
        row = await extend(row, more)
        assert await record_signal(bus, row, seed, "1h", more[-1]["open_time"] + HOUR * 2) is None
        assert await SignalRecord.filter(instrument_id=row.id).count() == 1
        # New candles turn it into a SELL: stored and sent, right after the first event.
        falling = zigzag(210, "2", "1", rising=False, start=more[-1]["open_time"] + HOUR, price=more[-1]["close"])
        row = await extend(row, falling)
        later = falling[-1]["open_time"] + HOUR * 2
        second = await record_signal(bus, row, seed, "1h", later)
        assert second is not None and second.action == "SELL"
        event = (await stream.data(timeout=30))["signalChanged"]
        assert (event["sequence"], event["snapshot"]) == (2, False)
        assert (event["change"]["action"], event["change"]["previousAction"]) == ("SELL", "BUY")
        await stream.stop()
        # A new subscriber starts with the latest stored change.
        again = await ws.subscribe(CHANGED, {"s": [row.symbol]})
        opening = (await again.data(timeout=30))["signalChanged"]
        assert (opening["sequence"], opening["snapshot"], opening["change"]["action"]) == (1, True, "SELL")
        # Evaluating the same candles again changes nothing: no row, no event.
        assert await record_signal(bus, row, seed, "1h", later) is None
    async with as_user(api.base_url, trader) as client:
        page = (await client.query(HISTORY, {"s": row.symbol, "first": 1}))["signalHistory"]
        assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
        assert page["edges"][0]["node"]["action"] == "SELL"
        rest = await client.query(HISTORY, {"s": row.symbol, "first": 5, "after": page["pageInfo"]["endCursor"]})
        nodes = [e["node"] for e in rest["signalHistory"]["edges"]]
        assert [(n["action"], n["previousAction"]) for n in nodes] == [("BUY", None)]
    assert await SignalRecord.filter(instrument_id=row.id).count() == 2


async def test_feed_leader_records_signals_at_candle_close(api: GraphQLClient, trader: Account) -> None:
    """On taking the lead the hook evaluates every interval once; a signal exists for every seeded
    instrument and interval afterwards, stored once (one row per instrument and interval at most per
    candle)."""
    instruments = await Instrument.filter(symbol__in=["BTC", "ETH"])

    async def recorded() -> bool:
        counts = [await SignalRecord.filter(instrument_id=r.id, interval="1d").count() for r in instruments]
        return all(counts)

    await wait_until(recorded, timeout=120)
    async with as_user(api.base_url, trader) as client:
        page = (await client.query(HISTORY.replace("ONE_HOUR", "ONE_DAY"), {"s": "BTC"}))["signalHistory"]
    assert page["totalCount"] >= 1
    candles = await SignalRecord.filter(instrument_id=instruments[0].id, interval="1d").values_list(
        "candle_time", flat=True
    )
    assert len(candles) == len(set(candles))


async def test_signal_stream_rejects_unknown_symbols_and_anonymous_callers(
    server: ServerHandle, trader: Account
) -> None:
    async with GraphQLWSClient(
        server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
    ) as ws:
        stream = await ws.subscribe(CHANGED, {"s": ["NOPE"]})
        with pytest.raises(SubscriptionError) as caught:
            await stream.next(timeout=30)
        assert caught.value.errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbols"}
    async with GraphQLWSClient(server.ws_url) as anonymous:
        stream = await anonymous.subscribe(CHANGED, {"s": ["BTC"]})
        with pytest.raises(SubscriptionError) as caught:
            await stream.next(timeout=30)
        assert caught.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        updates = await anonymous.subscribe(UPDATES, {"s": "BTC", "k": [{"kind": "SMA"}], "w": 5})
        with pytest.raises(SubscriptionError) as caught:
            await updates.next(timeout=30)
        assert caught.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


# -- streamed indicators -----------------------------------------------------------------------------------

UPDATES = (
    "subscription($s: String!, $k: [IndicatorInput!]!, $w: Int) { indicatorUpdates(symbol: $s, "
    "interval: ONE_MINUTE, kinds: $k, window: $w) { sequence snapshot candles { openTime close } "
    "series { label points { openTime value } } } }"
)


async def test_indicator_stream_snapshot_then_incremental_updates(server: ServerHandle, trader: Account) -> None:
    async with GraphQLWSClient(
        server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"}
    ) as ws:
        stream = await ws.subscribe(UPDATES, {"s": "BTC", "k": [{"kind": "SMA", "period": 5}], "w": 20})
        snapshot = (await stream.data(timeout=30))["indicatorUpdates"]
        assert (snapshot["sequence"], snapshot["snapshot"]) == (1, True)
        candles = snapshot["candles"]
        assert len(candles) == 20
        points = snapshot["series"][0]["points"]
        assert [p["openTime"] for p in points] == [c["openTime"] for c in candles]
        assert all(p["value"] is None for p in points[:4])
        for i in range(4, 20):
            window = [Decimal(c["close"]) for c in candles[i - 4 : i + 1]]
            assert close_to(points[i]["value"], sum(window, Decimal(0)) / 5)
        # Each update carries the changed candle and the SMA at it: fold it into our own copy and check.
        for sequence in range(2, 5):
            update = (await stream.data(timeout=30))["indicatorUpdates"]
            assert (update["sequence"], update["snapshot"]) == (sequence, False)
            (candle,) = update["candles"]
            if candle["openTime"] == candles[-1]["openTime"]:
                candles[-1] = candle
            else:
                assert candle["openTime"] > candles[-1]["openTime"]
                candles.append(candle)
            (point,) = update["series"][0]["points"]
            assert point["openTime"] == candle["openTime"]
            window = [Decimal(c["close"]) for c in candles[-5:]]
            assert close_to(point["value"], sum(window, Decimal(0)) / 5)


# -- market structure --------------------------------------------------------------------------------------


def flat_with_swings() -> list[dict[str, Any]]:
    """200 hourly candles at 100 (high 101, low 99) with two swing highs and two swing lows; last close 99.5."""
    bars = [bar(i, "100", "101", "99", "100", "5") for i in range(200)]
    for index, high in ((150, "110"), (170, "105")):
        bars[index]["high"] = Decimal(high)
    for index, low in ((160, "90"), (180, "95")):
        bars[index]["low"] = Decimal(low)
    bars[-1]["close"] = Decimal("99.5")
    return bars


async def test_price_levels_and_phase_on_constructed_series(
    api: GraphQLClient, trader: Account, instrument: Any
) -> None:
    ranging = await instrument(flat_with_swings())
    rising = await instrument(
        [bar(i, str(1000 + 10 * i), str(1010 + 10 * i), str(999 + 10 * i), str(1010 + 10 * i), "5") for i in range(200)]
    )
    falling = await instrument(zigzag(200, "2", "1", rising=False))
    async with as_user(api.base_url, trader) as client:
        levels = (await client.query(LEVELS, {"s": ranging.symbol}))["priceLevels"]
        up = (await client.query(LEVELS, {"s": rising.symbol}))["priceLevels"]
        down = (await client.query(LEVELS, {"s": falling.symbol}))["priceLevels"]
    assert Decimal(levels["lastClose"]) == Decimal("99.5")
    assert [(Decimal(lv["price"]), lv["touches"]) for lv in levels["resistances"]] == [
        (Decimal(105), 1),
        (Decimal(110), 1),
    ]
    assert [(Decimal(lv["price"]), lv["touches"]) for lv in levels["supports"]] == [(Decimal(95), 1), (Decimal(90), 1)]
    # Range 90..110 over the last 50 candles, close 99.5: position 0.475, flat SMA: ACCUMULATION.
    assert Decimal(levels["rangePosition"]) == Decimal("0.475")
    assert levels["phase"] == "ACCUMULATION"
    # SMA(20) rises 10 a candle (100 over 10 candles) against an ATR of 11: MARKUP; the zigzag falls 5
    # over 10 candles against an ATR of about 2.5 (true ranges 3 and 2): MARKDOWN.
    assert Decimal(up["smaChange"]) == 100
    assert up["phase"] == "MARKUP"
    assert Decimal(down["smaChange"]) == -5
    assert down["phase"] == "MARKDOWN"


async def test_price_prediction_is_a_regression_channel(api: GraphQLClient, trader: Account, instrument: Any) -> None:
    # Closes on a line 500 + 2i plus a +-1 wiggle: slope 2, the band widens with the horizon.
    bars = []
    for i in range(120):
        close = Decimal(500 + 2 * i + (1 if i % 2 else -1))
        bars.append(bar(i, str(close), str(close + 1), str(close - 1), str(close), "5"))
    row = await instrument(bars)
    async with as_user(api.base_url, trader) as client:
        fit = (await client.query(PREDICTION, {"s": row.symbol, "h": 3}))["pricePrediction"]
    assert fit["method"] == "LINEAR_REGRESSION_CHANNEL" and fit["sampleSize"] == 100
    # Reference least squares over the last 100 closes, x = 0..99, in exact fractions.
    ys = [F(b["close"]) for b in bars[-100:]]
    n = len(ys)
    mx, my = F(n - 1, 2), sum(ys, F(0)) / n
    sxx = sum(((x - mx) ** 2 for x in range(n)), F(0))
    slope = sum(((x - mx) * (y - my) for x, y in enumerate(ys)), F(0)) / sxx
    intercept = my - slope * mx
    assert abs(Decimal(fit["slope"]) - dec(slope)) < Decimal("1e-11")
    residual = sum(((y - intercept - slope * x) ** 2 for x, y in enumerate(ys)), F(0)) / (n - 2)
    widths = []
    for point in fit["points"]:
        x = n - 1 + point["stepsAhead"]
        expected = intercept + slope * x
        assert abs(Decimal(point["expected"]) - dec(expected)) <= Decimal("0.005")
        half = Decimal("1.96") * sqrt(residual * (1 + F(1, n) + (x - mx) ** 2 / sxx))
        assert abs(Decimal(point["upper"]) - (dec(expected) + half)) < Decimal("0.01")
        assert abs(Decimal(point["lower"]) - (dec(expected) - half)) < Decimal("0.01")
        widths.append(Decimal(point["upper"]) - Decimal(point["lower"]))
    assert widths == sorted(widths)
    assert [p["openTime"] for p in fit["points"]] == [(bars[-1]["open_time"] + HOUR * k).isoformat() for k in (1, 2, 3)]
