"""Performance and risk metrics of an account, computed from its equity history.

Everything here is a pure function of its arguments, and every number is a ``Decimal``: money and ratios
never pass through binary floating point. All arithmetic runs in a private decimal context (34 significant
digits, ROUND_HALF_EVEN, traps on InvalidOperation, DivisionByZero and Overflow), so the caller's context
changes nothing. Results are *not* quantized: each carries up to 34 significant digits, and rounding for
display is the presentation layer's business (it knows the currency and the audience).

Inputs
    An equity history is a time-ordered sequence of ``(timestamp, equity)`` pairs; a benchmark (BTC) is a
    time-ordered sequence of ``(timestamp, price)`` pairs. Timestamps must be timezone-aware (UTC by
    convention; only the instant matters) and strictly increasing; values must be finite. Violations raise
    ``ValueError``.

Definitions (n is the length of the sequence the formula is applied to)
    return          r_i = v_i / v_{i-1} - 1, for consecutive observations; a pair whose previous value is
                    zero has no return and is skipped.
    mean            m(x) = (x_1 + ... + x_n) / n
    sample variance s²(x) = Σ (x_i - m(x))² / (n - 1)
    sample stdev    s(x) = sqrt(s²(x))
    covariance      c(x, y) = Σ (x_i - m(x)) (y_i - m(y)) / (n - 1)
    percentile      P_q(x) = numpy.percentile(x, q) with the default 'linear' method; see ``percentile``.
    VaR 95%         max(0, -P_5(r)) * max(0, V), V the current (last) equity.
    Sharpe          m(e) / s(e) * sqrt(periods_per_year), e_i = r_i - risk_free_rate_per_period.
    volatility      s(r) * sqrt(periods_per_year)
    beta            c(r_portfolio, r_benchmark) / s²(r_benchmark), on returns paired by ``align``.
    max drawdown    max over i of (peak_i - v_i) / peak_i, peak_i = max(v_0, ..., v_i), over points whose
                    running peak is positive.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from itertools import pairwise
from typing import TypeAlias

__all__ = [
    "PRECISION",
    "Drawdown",
    "Observation",
    "RiskMetrics",
    "align",
    "beta",
    "compute_risk",
    "drawdown",
    "max_drawdown",
    "percentile",
    "sharpe_ratio",
    "simple_returns",
    "value_at_risk_95",
    "volatility",
]

Observation: TypeAlias = tuple[datetime, Decimal]
"""``(timestamp, value)``: an equity observation or a benchmark price."""

PRECISION = 34
"""Significant digits of every intermediate result (IEEE 754 decimal128's precision)."""

# Trapping makes a division by zero or an operation on NaN an exception instead of a silent special value
# that would otherwise flow into an API response.
_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_VAR_PERCENTILE = Decimal(5)


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The largest peak-to-trough decline of a series.

    ``fraction`` is ``(peak_value - trough_value) / peak_value``. ``peak_at`` is when the running peak was
    first reached, ``trough_at`` the observation where the decline is deepest (the earliest one on ties).
    Both are None, and the values are None, when there is no decline at all.
    """

    fraction: Decimal
    peak_at: datetime | None
    trough_at: datetime | None
    peak_value: Decimal | None
    trough_value: Decimal | None


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    """What ``compute_risk`` reports for one equity history. Values are unquantized Decimals.

    observations       number of equity observations given.
    returns            number of equity returns used (observations - 1, less skipped zero-equity periods).
    var95              one-period historical VaR at 95% in money, at the last equity; None without returns.
    sharpe             annualised Sharpe ratio; None with fewer than 2 returns or zero deviation.
    volatility         annualised sample standard deviation of returns; None with fewer than 2 returns.
    beta               beta against the benchmark; None without a benchmark, with fewer than 2 aligned
                       pairs, or when the benchmark did not move.
    benchmark_pairs    number of (portfolio, benchmark) return pairs beta was computed from.
    max_drawdown       largest peak-to-trough decline as a fraction of the peak (0 when none).
    max_drawdown_peak_at / max_drawdown_trough_at
                       when that decline started and bottomed out; None when there was none.
    """

    observations: int
    returns: int
    var95: Decimal | None
    sharpe: Decimal | None
    volatility: Decimal | None
    beta: Decimal | None
    benchmark_pairs: int
    max_drawdown: Decimal
    max_drawdown_peak_at: datetime | None
    max_drawdown_trough_at: datetime | None


def _check_finite(values: Sequence[Decimal], what: str) -> None:
    for value in values:
        if not value.is_finite():
            raise ValueError(f"{what} must be finite, got {value}")


def _check_series(points: Sequence[Observation], what: str) -> None:
    previous: datetime | None = None
    for at, value in points:
        if at.utcoffset() is None:
            raise ValueError(f"{what} timestamps must be timezone-aware, got {at.isoformat()}")
        if previous is not None and at <= previous:
            raise ValueError(f"{what} timestamps must be strictly increasing: {at.isoformat()} after {previous}")
        if not value.is_finite():
            raise ValueError(f"{what} values must be finite, got {value} at {at.isoformat()}")
        previous = at


def _check_periods(periods_per_year: int) -> None:
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")


# The private helpers below assume they run inside ``localcontext(_CONTEXT)``.


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, _ZERO) / len(values)


def _sample_variance(values: Sequence[Decimal]) -> Decimal:
    # Two passes (mean first) rather than Σx² - n·m²: the one-pass form cancels catastrophically when the
    # returns are small next to their mean.
    m = _mean(values)
    return sum(((v - m) ** 2 for v in values), _ZERO) / (len(values) - 1)


def _sample_stdev(values: Sequence[Decimal]) -> Decimal:
    return _sample_variance(values).sqrt()


def simple_returns(values: Sequence[Decimal]) -> list[Decimal]:
    """Period returns ``r_i = v_i / v_{i-1} - 1`` for i = 1 .. n-1, in order.

    A period whose previous value is zero has no defined return and is skipped, so the result has
    ``n - 1 - (number of zeros among v_0 .. v_{n-2})`` elements. A negative previous value is used as is
    (the formula is applied literally). Fewer than two values give an empty list.
    """
    _check_finite(values, "values")
    with localcontext(_CONTEXT):
        return [current / previous - _ONE for previous, current in pairwise(values) if previous]


def align(equity: Sequence[Observation], benchmark: Sequence[Observation]) -> tuple[list[Decimal], list[Decimal]]:
    """Pair each equity return with the benchmark's return over the same interval.

    For consecutive equity observations (t_{i-1}, E_{i-1}) and (t_i, E_i), the benchmark price at a time t is
    ``B(t)`` = the price of the last benchmark observation whose timestamp is at or before t (as of t, no
    look-ahead; however old it is). The pair is::

        (E_i / E_{i-1} - 1,  B(t_i) / B(t_{i-1}) - 1)

    and it is skipped when E_{i-1} is zero, when no benchmark observation exists at or before t_{i-1}, or
    when B(t_{i-1}) is zero. Returns ``(portfolio_returns, benchmark_returns)``, equally long, in time order.
    """
    _check_series(equity, "equity")
    _check_series(benchmark, "benchmark")
    times = [at for at, _ in benchmark]
    portfolio_returns: list[Decimal] = []
    benchmark_returns: list[Decimal] = []
    with localcontext(_CONTEXT):
        for (t0, e0), (t1, e1) in pairwise(equity):
            # bisect_right - 1 is the last benchmark observation at or before the instant; -1 means none yet.
            i0 = bisect_right(times, t0) - 1
            if not e0 or i0 < 0 or not benchmark[i0][1]:
                continue
            b0 = benchmark[i0][1]
            b1 = benchmark[bisect_right(times, t1) - 1][1]
            portfolio_returns.append(e1 / e0 - _ONE)
            benchmark_returns.append(b1 / b0 - _ONE)
    return portfolio_returns, benchmark_returns


def percentile(values: Sequence[Decimal], q: Decimal | int) -> Decimal:
    """The q-th percentile (0 <= q <= 100) by linear interpolation between closest ranks.

    Identical to ``numpy.percentile(values, q)`` with its default ``method='linear'`` (Hyndman & Fan type
    7); for q = 100 k / m (0 < k < m) also to ``statistics.quantiles(values, n=m, method='inclusive')[k - 1]``,
    e.g. P_5 is ``quantiles(values, n=20, method='inclusive')[0]``. With ``x_0 <= ... <= x_{n-1}`` the sorted
    values, ``h = (n - 1) * q / 100`` and ``j = floor(h)``::

        P_q = x_j + (h - j) * (x_{j+1} - x_j)      (P_q = x_{n-1} when j = n - 1)

    Raises ValueError for an empty sequence or q outside [0, 100].
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    _check_finite(values, "values")
    with localcontext(_CONTEXT):
        rank = Decimal(q)
        if not _ZERO <= rank <= _HUNDRED:
            raise ValueError(f"percentile must be within [0, 100], got {q}")
        ordered = sorted(values)
        h = (len(ordered) - 1) * rank / _HUNDRED
        j = int(h.to_integral_value(rounding=ROUND_FLOOR))
        if j >= len(ordered) - 1:
            return +ordered[-1]
        return ordered[j] + (h - j) * (ordered[j + 1] - ordered[j])


def value_at_risk_95(returns: Sequence[Decimal], current_value: Decimal) -> Decimal | None:
    """One-period historical Value at Risk at 95% confidence, as a non-negative amount of money.

    ``VaR = max(0, -P_5(returns)) * max(0, current_value)``, with ``P_5`` the 5th percentile as defined by
    ``percentile`` (numpy's default 'linear' method): the loss over one period that history says is not
    exceeded with 95% confidence. A non-positive current value has nothing left to lose, hence 0. None when
    there are no returns: no history is not the same as no risk.
    """
    if not returns:
        return None
    if not current_value.is_finite():
        raise ValueError(f"current_value must be finite, got {current_value}")
    q05 = percentile(returns, _VAR_PERCENTILE)
    with localcontext(_CONTEXT):
        # _ZERO first: max() keeps the first of equal arguments, so a Decimal("-0") never escapes.
        return max(_ZERO, -q05) * max(_ZERO, current_value)


def sharpe_ratio(
    returns: Sequence[Decimal], periods_per_year: int, risk_free_rate_per_period: Decimal = _ZERO
) -> Decimal | None:
    """Annualised Sharpe ratio: ``m(e) / s(e) * sqrt(periods_per_year)``.

    ``e_i = r_i - risk_free_rate_per_period`` are the excess returns, ``m`` their arithmetic mean and ``s``
    their sample standard deviation (divisor n - 1). None with fewer than 2 returns, or when ``s`` is
    exactly zero (a flat series has no risk to reward).
    """
    _check_periods(periods_per_year)
    if len(returns) < 2:
        return None
    _check_finite(returns, "returns")
    with localcontext(_CONTEXT):
        excess = [r - risk_free_rate_per_period for r in returns]
        deviation = _sample_stdev(excess)
        if not deviation:
            return None
        return _mean(excess) / deviation * Decimal(periods_per_year).sqrt()


def volatility(returns: Sequence[Decimal], periods_per_year: int) -> Decimal | None:
    """Annualised volatility: ``s(r) * sqrt(periods_per_year)``, ``s`` the sample standard deviation
    (divisor n - 1). None with fewer than 2 returns; 0 for a flat series."""
    _check_periods(periods_per_year)
    if len(returns) < 2:
        return None
    _check_finite(returns, "returns")
    with localcontext(_CONTEXT):
        return _sample_stdev(returns) * Decimal(periods_per_year).sqrt()


def beta(portfolio_returns: Sequence[Decimal], benchmark_returns: Sequence[Decimal]) -> Decimal | None:
    """Beta of the portfolio against the benchmark: ``c(p, b) / s²(b)``.

    ``c`` is the sample covariance and ``s²`` the sample variance, both with divisor n - 1, over returns
    paired by position (see ``align``). Equivalently the least-squares slope of p on b. None with fewer than
    2 pairs or when the benchmark's variance is exactly zero. Raises ValueError on unequal lengths.
    """
    if len(portfolio_returns) != len(benchmark_returns):
        raise ValueError(f"{len(portfolio_returns)} portfolio returns but {len(benchmark_returns)} benchmark returns")
    if len(portfolio_returns) < 2:
        return None
    _check_finite(portfolio_returns, "portfolio returns")
    _check_finite(benchmark_returns, "benchmark returns")
    with localcontext(_CONTEXT):
        variance = _sample_variance(benchmark_returns)
        if not variance:
            return None
        mp = _mean(portfolio_returns)
        mb = _mean(benchmark_returns)
        n = len(portfolio_returns)
        covariance = sum(
            ((p - mp) * (b - mb) for p, b in zip(portfolio_returns, benchmark_returns, strict=True)), _ZERO
        ) / (n - 1)
        return covariance / variance


def _deepest(values: Sequence[Decimal]) -> tuple[Decimal, int, int] | None:
    """(fraction, peak index, trough index) of the deepest drawdown, or None when there is none."""
    best: tuple[Decimal, int, int] | None = None
    peak_index = 0
    with localcontext(_CONTEXT):
        for i, value in enumerate(values):
            # Strictly greater: a peak that is merely matched keeps its first date, so the reported
            # drawdown spans the whole time under water.
            if value > values[peak_index]:
                peak_index = i
            peak = values[peak_index]
            # A drawdown is a fraction of the peak; with no positive peak yet there is nothing to measure.
            if peak <= 0 or value >= peak:
                continue
            fraction = (peak - value) / peak
            if best is None or fraction > best[0]:
                best = (fraction, peak_index, i)
    return best


def max_drawdown(values: Sequence[Decimal]) -> Decimal:
    """Largest peak-to-trough decline as a fraction of the peak.

    ``max over i of (peak_i - v_i) / peak_i`` where ``peak_i = max(v_0, ..., v_i)``, taken over the points
    whose running peak is positive. 0 when the series never declines (including fewer than 2 values); within
    [0, 1] for non-negative values (it exceeds 1 only if a value goes negative). Example: 100, 120, 90, 130,
    65 gives (130 - 65) / 130 = 0.5.
    """
    _check_finite(values, "values")
    deepest = _deepest(values)
    return _ZERO if deepest is None else deepest[0]


def drawdown(points: Sequence[Observation]) -> Drawdown:
    """``max_drawdown`` of a timestamped series, with when it started (peak) and bottomed out (trough)."""
    _check_series(points, "equity")
    deepest = _deepest([value for _, value in points])
    if deepest is None:
        return Drawdown(_ZERO, None, None, None, None)
    fraction, peak, trough = deepest
    return Drawdown(fraction, points[peak][0], points[trough][0], points[peak][1], points[trough][1])


def compute_risk(
    equity_points: Sequence[Observation],
    benchmark_points: Sequence[Observation] | None,
    periods_per_year: int,
    risk_free_rate_per_period: Decimal = _ZERO,
) -> RiskMetrics:
    """All metrics of one equity history.

    ``periods_per_year`` is the number of equity observation intervals in a year (365 for daily snapshots of
    a market that never closes, 8760 for hourly); the history is expected to be evenly spaced, since every
    return counts as one period. With r = ``simple_returns`` of the equity values:

    - var95 = ``value_at_risk_95(r, last equity)``
    - sharpe = ``sharpe_ratio(r, periods_per_year, risk_free_rate_per_period)``
    - volatility = ``volatility(r, periods_per_year)``
    - beta = ``beta(*align(equity_points, benchmark_points))``; None when benchmark_points is None or empty
    - max_drawdown and its dates = ``drawdown(equity_points)``
    """
    _check_periods(periods_per_year)
    _check_series(equity_points, "equity")
    values = [value for _, value in equity_points]
    returns = simple_returns(values)

    beta_value: Decimal | None = None
    pairs = 0
    if benchmark_points:
        portfolio_returns, benchmark_returns = align(equity_points, benchmark_points)
        pairs = len(portfolio_returns)
        beta_value = beta(portfolio_returns, benchmark_returns)

    deepest = drawdown(equity_points)
    return RiskMetrics(
        observations=len(equity_points),
        returns=len(returns),
        var95=value_at_risk_95(returns, values[-1]) if returns else None,
        sharpe=sharpe_ratio(returns, periods_per_year, risk_free_rate_per_period),
        volatility=volatility(returns, periods_per_year),
        beta=beta_value,
        benchmark_pairs=pairs,
        max_drawdown=deepest.fraction,
        max_drawdown_peak_at=deepest.peak_at,
        max_drawdown_trough_at=deepest.trough_at,
    )
