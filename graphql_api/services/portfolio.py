"""Portfolio reads without GraphQL: equity history and risk figures over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from models.portfolio import EquitySnapshot

from ..engine import risk

_SECONDS_PER_YEAR = 365 * 24 * 3600


async def equity_history(
    account_ids: list[str], window: timedelta | None
) -> list[tuple[datetime, Decimal, Decimal | None]]:
    """Summed equity per snapshot instant: (ts, equity, BTC price)."""
    query = EquitySnapshot.filter(account_id__in=account_ids)
    if window is not None:
        query = query.filter(ts__gte=datetime.now(UTC) - window)
    sums: dict[datetime, list[Decimal | None]] = {}
    for ts, equity, bench in await query.order_by("ts").values_list("ts", "equity", "benchmark_price"):
        slot = sums.setdefault(ts, [Decimal(0), bench])
        slot[0] = (slot[0] or Decimal(0)) + equity
    return [(ts, values[0] or Decimal(0), values[1]) for ts, values in sums.items()]


@dataclass
class RiskFigures:
    observations: int
    value_at_risk_95: Decimal
    sharpe_ratio: Decimal | None
    beta: Decimal | None
    max_drawdown: Decimal
    volatility: Decimal | None


async def risk_figures(account_ids: list[str], window: timedelta | None, snapshot_interval: int) -> RiskFigures:
    history = await equity_history(account_ids, window)
    if not history:
        return RiskFigures(0, Decimal(0), None, None, Decimal(0), None)
    periods_per_year = max(1, _SECONDS_PER_YEAR // snapshot_interval)
    equity = [(ts, value) for ts, value, _ in history]
    benchmark = [(ts, price) for ts, _, price in history if price is not None]
    result = risk.compute_risk(equity, benchmark, periods_per_year)
    return RiskFigures(
        observations=result.returns,
        value_at_risk_95=result.var95 if result.var95 is not None else Decimal(0),
        sharpe_ratio=result.sharpe,
        beta=result.beta,
        max_drawdown=result.max_drawdown,
        volatility=result.volatility,
    )
