"""Risk metrics against independent computations on the same data.

The oracles are deliberately not the module's own code paths: exact ``Fraction`` arithmetic, the standard
library's ``statistics`` (``quantiles(method="inclusive")`` is numpy's default 'linear' percentile,
``linear_regression`` gives beta as a slope) and brute force where the module is clever (drawdown, alignment).
Floats appear only here, as an oracle with a relative tolerance; exact oracles get a 1e-30 tolerance, since
the module computes with 34 significant digits.
"""

from __future__ import annotations

import ast
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest

from graphql_api.engine import risk
from graphql_api.engine.risk import (
    Observation,
    align,
    beta,
    compute_risk,
    drawdown,
    max_drawdown,
    percentile,
    sharpe_ratio,
    simple_returns,
    value_at_risk_95,
    volatility,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
EXACT = Fraction(1, 10**30)


def D(values: str) -> list[Decimal]:
    return [Decimal(v) for v in values.split()]


def series(values: list[Decimal], start: datetime = T0, step: timedelta = HOUR) -> list[Observation]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def assert_rationals_close(actual: Fraction, expected: Fraction) -> None:
    """Equal up to the module's 34-digit rounding: 1e-30, relative above 1 and absolute below."""
    assert abs(actual - expected) <= EXACT * max(Fraction(1), abs(expected)), (float(actual), float(expected))


def assert_exact(actual: Decimal | None, expected: Fraction) -> None:
    assert actual is not None
    assert isinstance(actual, Decimal)
    assert_rationals_close(Fraction(actual), expected)


def assert_float_close(actual: Decimal | None, expected: float) -> None:
    assert actual is not None
    assert isinstance(actual, Decimal)
    assert math.isclose(float(actual), expected, rel_tol=1e-9, abs_tol=1e-12), (actual, expected)


def random_walk(
    seed: int, n: int, start: str = "10000.00", drift: float = 0.0003, sigma: float = 0.02
) -> list[Decimal]:
    """A positive price/equity path rounded to cents, as an account's equity would be."""
    rng = random.Random(seed)
    value = Decimal(start)
    values = [value]
    for _ in range(n - 1):
        step = Decimal(repr(round(rng.gauss(drift, sigma), 6)))
        value = max(Decimal("0.01"), (value * (1 + step)).quantize(Decimal("0.01")))
        values.append(value)
    return values


# --- independent oracles ---------------------------------------------------------------------------------


def exact_returns(values: list[Decimal]) -> list[Fraction]:
    out: list[Fraction] = []
    for i in range(1, len(values)):
        if values[i - 1] != 0:
            out.append(Fraction(values[i]) / Fraction(values[i - 1]) - 1)
    return out


def numpy_percentiles(data: list[Fraction]) -> list[Fraction]:
    """numpy.percentile(data, q) ('linear') for q = 0 .. 100: statistics.quantiles' inclusive cut points."""
    if len(data) == 1:
        return data * 101
    return [min(data), *statistics.quantiles(data, n=100, method="inclusive"), max(data)]


def brute_drawdown(values: list[Decimal]) -> tuple[Fraction, int, int] | None:
    """Deepest (v_i - v_j) / v_i over all pairs i <= j (positive values): earliest trough, then earliest peak.

    Quadratic, so the values are scaled to integers and fractions compared by cross-multiplication.
    """
    scale = 10 ** max(0, *(-int(v.as_tuple().exponent) for v in values))
    ints = [int(v * scale) for v in values]
    best: tuple[int, int, int, int] | None = None  # numerator, denominator, i, j
    for j, trough in enumerate(ints):
        for i in range(j + 1):
            fall, peak = ints[i] - trough, ints[i]
            if fall > 0 and (best is None or fall * best[1] > best[0] * peak):
                best = (fall, peak, i, j)
    return None if best is None else (Fraction(best[0], best[1]), best[2], best[3])


def brute_align(equity: list[Observation], benchmark: list[Observation]) -> tuple[list[Fraction], list[Fraction]]:
    """Alignment by a merge sweep: walk the benchmark forward alongside the equity times."""
    prices: list[Decimal | None] = []
    k = -1
    for at, _ in equity:
        while k + 1 < len(benchmark) and benchmark[k + 1][0] <= at:
            k += 1
        prices.append(benchmark[k][1] if k >= 0 else None)

    port: list[Fraction] = []
    bench: list[Fraction] = []
    for i in range(1, len(equity)):
        e0, e1 = equity[i - 1][1], equity[i][1]
        b0, b1 = prices[i - 1], prices[i]
        if e0 == 0 or b0 is None or b0 == 0:
            continue
        assert b1 is not None
        port.append(Fraction(e1) / Fraction(e0) - 1)
        bench.append(Fraction(b1) / Fraction(b0) - 1)
    return port, bench


def correlated_market(seed: int, hours: int) -> tuple[list[Observation], list[Observation]]:
    """BTC every 20 minutes from 10 minutes before the equity history starts; equity hourly, half in BTC.

    The grids differ on purpose so that alignment has to look up the price at or before each equity time.
    """
    rng = random.Random(seed)
    btc_start = T0 - timedelta(minutes=10)
    btc_values = random_walk(seed + 1, hours * 3 + 3, start="96250.00", drift=0.0, sigma=0.004)
    btc = series(btc_values, start=btc_start, step=timedelta(minutes=20))
    equity_values = [Decimal("50000.00")]
    for hour in range(1, hours):
        b0 = btc[(hour - 1) * 3][1]
        b1 = btc[hour * 3][1]
        noise = Decimal(repr(round(rng.gauss(0.0, 0.002), 6)))
        move = Decimal("0.5") * (b1 / b0 - 1) + noise
        equity_values.append((equity_values[-1] * (1 + move)).quantize(Decimal("0.01")))
    return series(equity_values), btc


# --- simple returns ---------------------------------------------------------------------------------------


def test_simple_returns_hand_made() -> None:
    assert simple_returns(D("100 110 99")) == D("0.1 -0.1")
    assert simple_returns([]) == []
    assert simple_returns(D("5")) == []
    assert simple_returns(D("7 7 7")) == D("0 0")


def test_simple_returns_skip_a_zero_previous_value() -> None:
    # 100 -> 0 is a -100% return; 0 -> 50 has no defined return and is skipped.
    assert simple_returns(D("100 0 50 75")) == D("-1 0.5")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simple_returns_random_walk(seed: int) -> None:
    values = random_walk(seed, 1000)
    returns = simple_returns(values)
    expected = exact_returns(values)
    assert len(returns) == len(expected) == 999
    for actual, exact in zip(returns, expected, strict=True):
        assert_exact(actual, exact)


# --- percentile and VaR -----------------------------------------------------------------------------------


def test_percentile_matches_numpy_examples() -> None:
    # numpy.percentile([1, 2, 3, 4], 5) == 1.15; numpy's docs: percentile([[10, 7, 4], [3, 2, 1]], 50) == 3.5.
    assert percentile(D("4 1 3 2"), 5) == Decimal("1.15")
    assert percentile(D("10 7 4 3 2 1"), 50) == Decimal("3.5")
    assert percentile(D("3 1 2"), 0) == 1
    assert percentile(D("3 1 2"), 100) == 3
    assert percentile(D("42"), 5) == 42


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("n", [2, 3, 21, 200, 999])
def test_percentile_matches_statistics_quantiles_at_every_percent(seed: int, n: int) -> None:
    rng = random.Random(seed)
    values = [Decimal(rng.randrange(-(10**6), 10**6)) / Decimal(10**6) for _ in range(n)]
    exact = [Fraction(v) for v in values]
    for q, expected in enumerate(numpy_percentiles(exact)):
        assert_exact(percentile(values, q), expected)


def test_var95_hand_made() -> None:
    # 21 returns -10% .. +10%: h = 20 * 0.05 = 1, so q05 is the second smallest, -9%.
    returns = [Decimal(i) / 100 for i in range(-10, 11)]
    assert value_at_risk_95(returns, Decimal("1000")) == Decimal("90")
    # 10 returns: h = 9 * 0.05 = 0.45 -> q05 = -0.2 + 0.45 * (-0.1 - -0.2) = -0.155.
    returns = D("-0.2 -0.1 0 0.01 0.02 0.03 0.04 0.05 0.06 0.07")
    assert value_at_risk_95(returns, Decimal("200")) == Decimal("31")


def test_var95_is_zero_when_every_return_is_positive() -> None:
    assert value_at_risk_95(D("0.01 0.02 0.03"), Decimal("1000")) == 0
    assert value_at_risk_95(D("0 0 0"), Decimal("1000")) == 0
    assert value_at_risk_95(D("-0.5 -0.4"), Decimal("0")) == 0
    assert value_at_risk_95(D("-0.5 -0.4"), Decimal("-10")) == 0
    assert value_at_risk_95([], Decimal("1000")) is None


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_var95_random_walk(seed: int) -> None:
    values = random_walk(seed, 500 + 250 * (seed - 6))
    returns = simple_returns(values)
    q05 = statistics.quantiles(exact_returns(values), n=20, method="inclusive")[0]
    expected = max(Fraction(0), -q05) * Fraction(values[-1])
    assert expected > 0
    assert_exact(value_at_risk_95(returns, values[-1]), expected)


# --- Sharpe and volatility --------------------------------------------------------------------------------


def test_sharpe_and_volatility_hand_made() -> None:
    # Returns 0.1, -0.1: mean 0 -> Sharpe 0; stdev = sqrt(0.02) -> volatility sqrt(0.02 * 4) at 4 periods/year.
    assert sharpe_ratio(D("0.1 -0.1"), 4) == 0
    assert_float_close(volatility(D("0.1 -0.1"), 4), math.sqrt(0.08))
    # Returns 1%, 2%, 3%: mean 0.02, stdev 0.01 -> Sharpe 2 per period, 2 * sqrt(365) annualised.
    assert_float_close(sharpe_ratio(D("0.01 0.02 0.03"), 1), 2.0)
    assert_float_close(sharpe_ratio(D("0.01 0.02 0.03"), 365), 2 * math.sqrt(365))
    # A 1% risk-free rate per period leaves excess returns 0%, 1%, 2%: Sharpe 1 per period.
    assert_float_close(sharpe_ratio(D("0.01 0.02 0.03"), 1, Decimal("0.01")), 1.0)


def test_sharpe_and_volatility_edge_cases() -> None:
    assert sharpe_ratio([], 365) is None
    assert sharpe_ratio(D("0.5"), 365) is None
    assert volatility([], 365) is None
    assert volatility(D("0.5"), 365) is None
    # Flat: zero deviation, no Sharpe; volatility is a defined 0.
    assert sharpe_ratio(D("0.01 0.01 0.01"), 365) is None
    assert volatility(D("0.01 0.01 0.01"), 365) == 0
    with pytest.raises(ValueError, match="periods_per_year"):
        sharpe_ratio(D("0.1 0.2"), 0)
    with pytest.raises(ValueError, match="periods_per_year"):
        volatility(D("0.1 0.2"), -1)


@pytest.mark.parametrize("seed", [9, 10, 11])
@pytest.mark.parametrize("periods_per_year", [365, 8760])
def test_sharpe_and_volatility_random_walk(seed: int, periods_per_year: int) -> None:
    values = random_walk(seed, 200 + 400 * (seed - 9))
    returns = simple_returns(values)
    rf = Decimal("0.0001")
    floats = [float(r) for r in exact_returns(values)]
    excess = [r - float(rf) for r in floats]

    expected_sharpe = statistics.mean(excess) / statistics.stdev(excess) * math.sqrt(periods_per_year)
    sharpe = sharpe_ratio(returns, periods_per_year, rf)
    assert_float_close(sharpe, expected_sharpe)
    assert_float_close(volatility(returns, periods_per_year), statistics.stdev(floats) * math.sqrt(periods_per_year))

    # Squared, both are rational: check them exactly (statistics.variance is exact on Fractions).
    exact_excess = [r - Fraction(rf) for r in exact_returns(values)]
    mean = statistics.mean(exact_excess)
    assert sharpe is not None
    signed_square = Fraction(sharpe) * abs(Fraction(sharpe))
    assert_rationals_close(signed_square, mean * abs(mean) / statistics.variance(exact_excess) * periods_per_year)
    vol = volatility(returns, periods_per_year)
    assert vol is not None
    expected_square = statistics.variance(exact_returns(values)) * periods_per_year
    assert_rationals_close(Fraction(vol) * Fraction(vol), expected_square)


# --- beta and alignment -----------------------------------------------------------------------------------


def test_beta_against_itself_and_scaled_copies() -> None:
    r = simple_returns(random_walk(12, 300))
    # Build the copies without rounding: the default 28-digit context would cut the 34-digit returns.
    with localcontext() as ctx:
        ctx.prec = 80
        doubled, negated = [2 * x for x in r], [-x for x in r]
        shifted = [x + Decimal("0.01") for x in r]
    assert_exact(beta(r, r), Fraction(1))
    assert_exact(beta(doubled, r), Fraction(2))
    assert_exact(beta(r, doubled), Fraction(1, 2))
    assert_exact(beta(negated, r), Fraction(-1))
    # Adding a constant to the portfolio shifts its mean, not its covariance.
    assert_exact(beta(shifted, r), Fraction(1))


def test_beta_edge_cases() -> None:
    assert beta([], []) is None
    assert beta(D("0.1"), D("0.2")) is None
    assert beta(D("0.1 0.2 0.3"), D("0.05 0.05 0.05")) is None  # the benchmark did not move
    assert beta(D("0 0 0"), D("0.1 -0.1 0.2")) == 0
    with pytest.raises(ValueError, match="2 portfolio returns but 3 benchmark returns"):
        beta(D("0.1 0.2"), D("0.1 0.2 0.3"))


def test_beta_hand_made() -> None:
    # b = (-1, 0, 1) %, p = (-1, 1, 3) %: means 0 and 1 %, cov = 4e-4 / 2, var(b) = 2e-4 / 2, so beta = 2.
    assert beta(D("-0.01 0.01 0.03"), D("-0.01 0 0.01")) == 2


@pytest.mark.parametrize("seed", [13, 14, 15])
def test_beta_random_walk(seed: int) -> None:
    # Exact sums of ratios grow huge denominators: keep these histories a few hundred points long.
    hours = 200 + 200 * (seed - 13)
    equity, btc = correlated_market(seed, hours)
    port, bench = align(equity, btc)
    exact_port, exact_bench = brute_align(equity, btc)
    assert len(port) == len(bench) == hours - 1

    result = beta(port, bench)
    slope = statistics.linear_regression([float(b) for b in exact_bench], [float(p) for p in exact_port]).slope
    assert_float_close(result, slope)
    mp, mb = statistics.mean(exact_port), statistics.mean(exact_bench)
    covariance = sum((p - mp) * (b - mb) for p, b in zip(exact_port, exact_bench, strict=True))
    assert_exact(result, covariance / sum(((b - mb) * (b - mb) for b in exact_bench), Fraction(0)))
    assert 0.3 < float(slope) < 0.7  # the equity holds half its value in BTC


def test_align_uses_the_price_at_or_before_each_equity_time() -> None:
    equity = series(D("100 110 121 133.1 0 50 60"))  # at T0 + 0h .. 6h
    btc = [
        (T0 + timedelta(minutes=30), Decimal("200")),  # after T0: no price for the start of (0h, 1h), skipped
        (T0 + HOUR, Decimal("210")),  # exactly at 1h, still the price at 2h: (1h, 2h) pairs with 0
        (T0 + timedelta(minutes=150), Decimal("0")),  # the price at 3h: (2h, 3h) pairs with -1
        (T0 + timedelta(minutes=210), Decimal("252")),  # (3h, 4h) starts at a zero price, skipped
        (T0 + timedelta(minutes=330), Decimal("277.2")),  # (4h, 5h) starts at zero equity, skipped; (5h, 6h) 0.1
        (T0 + timedelta(hours=9), Decimal("1")),  # after the history: never used
    ]
    port, bench = align(equity, btc)
    assert port == D("0.1 0.1 0.2")
    assert bench == D("0 -1 0.1")
    exact_port, exact_bench = brute_align(equity, btc)
    assert [Fraction(p) for p in port] == exact_port
    assert [Fraction(b) for b in bench] == exact_bench


def test_align_with_a_stale_benchmark_uses_its_last_price() -> None:
    equity = series(D("100 101 102"))
    port, bench = align(equity, [(T0 - HOUR, Decimal("5"))])
    assert port[0] == Decimal("0.01")
    assert_exact(port[1], Fraction(102, 101) - 1)
    assert bench == D("0 0")


# --- drawdown ---------------------------------------------------------------------------------------------


def test_max_drawdown_known_example() -> None:
    points = series(D("100 120 90 130 65"))
    assert max_drawdown([v for _, v in points]) == Decimal("0.5")
    deepest = drawdown(points)
    assert deepest.fraction == Decimal("0.5")
    assert (deepest.peak_at, deepest.trough_at) == (T0 + 3 * HOUR, T0 + 4 * HOUR)
    assert (deepest.peak_value, deepest.trough_value) == (Decimal(130), Decimal(65))
    # Without the last point the deepest fall is 120 -> 90.
    assert max_drawdown(D("100 120 90 130")) == Decimal("0.25")


def test_max_drawdown_edge_cases() -> None:
    assert max_drawdown([]) == 0
    assert max_drawdown(D("100")) == 0
    assert max_drawdown(D("100 101 102 103")) == 0
    assert max_drawdown(D("100 100 100")) == 0
    assert max_drawdown(D("100 50")) == Decimal("0.5")
    assert max_drawdown(D("100 0")) == 1
    assert max_drawdown(D("0 0 10 5")) == Decimal("0.5")  # no positive peak before 10
    assert drawdown([]) == risk.Drawdown(Decimal(0), None, None, None, None)
    # A matched peak keeps its first date: the drawdown spans the whole time under water.
    deepest = drawdown(series(D("100 90 100 80 95")))
    assert (deepest.fraction, deepest.peak_at, deepest.trough_at) == (Decimal("0.2"), T0, T0 + 3 * HOUR)


@pytest.mark.parametrize("seed", [16, 17, 18])
def test_max_drawdown_random_walk(seed: int) -> None:
    values = random_walk(seed, 400, sigma=0.03)
    points = series(values)
    expected = brute_drawdown(values)
    assert expected is not None
    fraction, i, j = expected
    assert_exact(max_drawdown(values), fraction)
    deepest = drawdown(points)
    assert_exact(deepest.fraction, fraction)
    assert (deepest.peak_at, deepest.trough_at) == (points[i][0], points[j][0])
    assert 0 < deepest.fraction <= 1


# --- compute_risk -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [19, 20])
def test_compute_risk_matches_independent_computation(seed: int) -> None:
    hours = 1000 if seed == 19 else 250
    equity, btc = correlated_market(seed, hours)
    metrics = compute_risk(equity, btc, periods_per_year=8760)
    values = [v for _, v in equity]
    returns = exact_returns(values)
    floats = [float(r) for r in returns]

    assert metrics.observations == hours
    assert metrics.returns == hours - 1
    assert metrics.benchmark_pairs == hours - 1
    q05 = statistics.quantiles(returns, n=20, method="inclusive")[0]
    assert_exact(metrics.var95, max(Fraction(0), -q05) * Fraction(values[-1]))
    assert_float_close(metrics.sharpe, statistics.mean(floats) / statistics.stdev(floats) * math.sqrt(8760))
    assert_float_close(metrics.volatility, statistics.stdev(floats) * math.sqrt(8760))
    port, bench = brute_align(equity, btc)
    slope = statistics.linear_regression([float(b) for b in bench], [float(p) for p in port]).slope
    assert_float_close(metrics.beta, slope)
    deepest = brute_drawdown(values)
    assert deepest is not None
    assert_exact(metrics.max_drawdown, deepest[0])
    assert (metrics.max_drawdown_peak_at, metrics.max_drawdown_trough_at) == (
        equity[deepest[1]][0],
        equity[deepest[2]][0],
    )


def test_compute_risk_small_histories() -> None:
    empty = compute_risk([], None, 365)
    assert empty == risk.RiskMetrics(0, 0, None, None, None, None, 0, Decimal(0), None, None)
    one = compute_risk(series(D("100")), series(D("50000")), 365)
    assert (one.observations, one.returns, one.var95, one.sharpe, one.volatility, one.beta) == (
        1,
        0,
        None,
        None,
        None,
        None,
    )
    two = compute_risk(series(D("100 90")), series(D("50000 51000")), 365)
    assert (two.returns, two.var95, two.sharpe, two.volatility, two.beta, two.benchmark_pairs) == (
        1,
        Decimal("9.0"),  # a single -10% return at equity 90
        None,
        None,
        None,
        1,
    )
    assert two.max_drawdown == Decimal("0.1")


def test_compute_risk_flat_history() -> None:
    metrics = compute_risk(series(D("1000 1000 1000 1000")), series(D("50000 50000 50000 50000")), 365)
    assert metrics.var95 == 0
    assert metrics.sharpe is None
    assert metrics.volatility == 0
    assert metrics.beta is None  # the benchmark did not move
    assert metrics.max_drawdown == 0
    assert metrics.max_drawdown_peak_at is None


def test_compute_risk_rising_history_has_no_var_or_drawdown() -> None:
    metrics = compute_risk(series(D("100 101 103 106 110")), [], 365)
    assert metrics.var95 == 0
    assert metrics.max_drawdown == 0
    assert metrics.beta is None
    assert metrics.sharpe is not None and metrics.sharpe > 0


# --- properties of the module -----------------------------------------------------------------------------


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    equity, btc = correlated_market(21, 200)
    reference = compute_risk(equity, btc, 365)
    with localcontext() as ctx:
        ctx.prec = 3
        assert compute_risk(equity, btc, 365) == reference


def test_invalid_input_is_rejected() -> None:
    naive = [(datetime(2025, 1, 1), Decimal(1)), (datetime(2025, 1, 2), Decimal(2))]
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_risk(naive, None, 365)
    with pytest.raises(ValueError, match="strictly increasing"):
        compute_risk([(T0, Decimal(1)), (T0, Decimal(2))], None, 365)
    with pytest.raises(ValueError, match="strictly increasing"):
        align(series(D("1 2")), [(T0 + HOUR, Decimal(1)), (T0, Decimal(1))])
    with pytest.raises(ValueError, match="finite"):
        simple_returns(D("1 NaN 2"))
    with pytest.raises(ValueError, match="finite"):
        max_drawdown(D("1 Infinity"))
    with pytest.raises(ValueError, match="empty"):
        percentile([], 5)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        percentile(D("1 2"), 101)
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_risk(series(D("1 2")), None, 0)


def test_the_module_uses_no_float() -> None:
    tree = ast.parse(Path(risk.__file__).read_text())
    floats = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Constant) and isinstance(node.value, float))
        or (isinstance(node, ast.Name) and node.id in {"float", "math"})
        or (isinstance(node, ast.alias) and node.name in {"math", "statistics"})
    ]
    assert floats == []
