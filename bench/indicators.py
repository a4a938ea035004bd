"""`python -m bench.indicators [--bars 100000] [--seed 1]`: indicator computation time over N candles.

Measures ``graphql_api.engine.indicators.compute`` (talipp inside, Decimal candles in, Decimal readings
out) per indicator kind with default parameters, the incremental path a stream takes per tick (``update``
of the open candle), and, when the TA-Lib Python package is importable (it is not a dependency of the
project: ``pip install TA-Lib numpy`` into the same environment), TA-Lib's time on the same arrays and the
largest relative difference between the two. Figures go to stdout.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from graphql_api.engine.candles import Bar
from graphql_api.engine.indicators import IndicatorSet, Kind, Spec, compute

from .console import out

# TA-Lib function and outputs (ours, by Reading field) per kind, default parameters as in DEFAULTS.
_TALIB: dict[Kind, tuple[str, tuple[str, ...]]] = {
    Kind.SMA: ("SMA", ("value",)),
    Kind.EMA: ("EMA", ("value",)),
    Kind.WMA: ("WMA", ("value",)),
    Kind.RSI: ("RSI", ("value",)),
    Kind.MACD: ("MACD", ("value", "signal", "histogram")),
    Kind.BBANDS: ("BBANDS", ("upper", "value", "lower")),
    Kind.ATR: ("ATR", ("value",)),
    Kind.STOCH: ("STOCH", ("value", "d")),
    Kind.OBV: ("OBV", ("value",)),
}


def candles(count: int, seed: int) -> list[Bar]:
    """A reproducible random walk of ``count`` one-minute candles, prices to the cent."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    price = 100.0
    bars = []
    for i in range(count):
        close = max(1.0, price + rng.gauss(0, 0.3))
        high = max(price, close) + abs(rng.gauss(0, 0.1))
        low = min(price, close) - abs(rng.gauss(0, 0.1))
        bars.append(
            Bar(
                start + timedelta(minutes=i),
                Decimal(f"{price:.2f}"),
                Decimal(f"{high:.2f}"),
                Decimal(f"{low:.2f}"),
                Decimal(f"{close:.2f}"),
                Decimal(rng.randint(1, 1000)),
                Decimal(0),
            )
        )
        price = close
    return bars


def _talib_outputs(talib: Any, np: Any, kind: Kind, bars: list[Bar]) -> tuple[float, list[Any]]:
    high, low, close, volume = (
        np.array([float(getattr(b, name)) for b in bars]) for name in ("high", "low", "close", "volume")
    )
    call = {
        Kind.SMA: lambda: talib.SMA(close, 20),
        Kind.EMA: lambda: talib.EMA(close, 20),
        Kind.WMA: lambda: talib.WMA(close, 20),
        Kind.RSI: lambda: talib.RSI(close, 14),
        Kind.MACD: lambda: talib.MACD(close, 12, 26, 9),
        Kind.BBANDS: lambda: talib.BBANDS(close, 20, 2, 2),
        Kind.ATR: lambda: talib.ATR(high, low, close, 14),
        Kind.STOCH: lambda: talib.STOCH(high, low, close, 14, 3, 0, 3, 0),
        Kind.OBV: lambda: talib.OBV(close, volume),
    }[kind]
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    return elapsed, list(result) if isinstance(result, tuple) else [result]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import talib
    except ImportError:
        talib = np = None
    bars = candles(args.bars, args.seed)
    out(f"{args.bars} candles; TA-Lib {'v' + talib.__version__ if talib else 'not installed'}")
    out(f"{'indicator':16} {'ours (s)':>10} {'TA-Lib (s)':>11} {'ratio':>8} {'max rel diff':>13}")
    for kind in Kind:
        spec = Spec.of(kind)
        started = time.perf_counter()
        (series,) = compute([spec], bars)
        ours = time.perf_counter() - started
        if talib is None or kind not in _TALIB:
            out(f"{spec.label:16} {ours:10.3f} {'-':>11} {'-':>8} {'-':>13}")
            continue
        theirs, outputs = _talib_outputs(talib, np, kind, bars)
        worst = 0.0
        for field, reference in zip(_TALIB[kind][1], outputs, strict=True):
            for reading, want in zip(series, reference, strict=True):
                got = getattr(reading, field)
                if got is None or want != want:  # warm-up (TA-Lib's NaN)
                    continue
                worst = max(worst, abs(float(got) - want) / max(1.0, abs(want)))
        out(f"{spec.label:16} {ours:10.3f} {theirs:11.4f} {ours / theirs:8.0f} {worst:13.1e}")
    # The live path: one tick updates the open candle of every default indicator at once.
    indicators = IndicatorSet([Spec.of(kind) for kind in Kind])
    for bar in bars[:1000]:
        indicators.push(bar)
    last = bars[999]
    rounds = 10_000
    started = time.perf_counter()
    for i in range(rounds):
        indicators.push(
            Bar(last.open_time, last.open, last.high, last.low, last.close + i % 7, last.volume, last.quote_volume)
        )
    per_tick = (time.perf_counter() - started) / rounds
    out(f"incremental: one tick folded into all {len(Kind)} indicators in {per_tick * 1e6:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
