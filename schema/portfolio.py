"""The portfolio: value, cash, PnL, allocation, performance history and risk, the portfolio stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from graphql_api.services.portfolio import equity_history, risk_figures

PERIOD_WINDOWS: dict[str, timedelta | None] = {
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(days=7),
    "MONTH": timedelta(days=30),
    "ALL": None,
}


@strawberry.type(description="Share of the portfolio held in one asset.")
class AllocationEntry:
    asset: str = strawberry.field(description="Asset symbol, or the quote asset for cash.")
    value: Decimal = strawberry.field(description="Value in the quote asset.")
    percent: Decimal = strawberry.field(description="Share of total value, in percent.")


@strawberry.type(description="Portfolio value at one moment.")
class EquityPoint:
    timestamp: datetime = strawberry.field(description="When it was measured (UTC).")
    equity: Decimal = strawberry.field(description="Cash plus positions at mark.")


@strawberry.type(
    description="Risk figures from the equity history of the chosen period (returns between consecutive "
    "equity snapshots). Formulas are given on each field."
)
class RiskMetrics:
    observations: int = strawberry.field(description="Number of returns used.")
    value_at_risk_95: Decimal = strawberry.field(
        description="Historical one-period VaR at 95%: max(0, −q05) × current value, where q05 is the 5th "
        "percentile of returns with linear interpolation between closest ranks."
    )
    sharpe_ratio: Decimal | None = strawberry.field(
        description="mean(returns) / sample stdev(returns) × sqrt(periods per year); risk-free rate 0; null with "
        "fewer than 2 returns or no variation."
    )
    beta: Decimal | None = strawberry.field(
        description="Sample covariance(returns, BTC returns) / sample variance(BTC returns), BTC taken at or "
        "just before each snapshot; null without enough data."
    )
    max_drawdown: Decimal = strawberry.field(
        description="Largest fall from a running peak of equity, as a fraction of that peak (0 to 1)."
    )
    volatility: Decimal | None = strawberry.field(description="Sample stdev of returns × sqrt(periods per year).")


@strawberry.enum(description="A window of history.")
class Period(Enum):
    HOUR = strawberry.enum_value("1H", description="The last hour.")
    DAY = strawberry.enum_value("1D", description="The last 24 hours.")
    WEEK = strawberry.enum_value("1W", description="The last 7 days.")
    MONTH = strawberry.enum_value("1M", description="The last 30 days.")
    ALL = strawberry.enum_value("ALL", description="Everything recorded.")


@strawberry.type(description="The signed-in user's holdings across paper accounts, valued at the latest feed prices.")
class Portfolio:
    total_value: Decimal = strawberry.field(description="Cash plus positions at mark.")
    cash: Decimal = strawberry.field(description="Total quote-asset cash (including reserved).")
    positions_value: Decimal = strawberry.field(description="Positions at mark.")
    unrealized_pnl: Decimal = strawberry.field(description="Sum of positions' unrealized PnL.")
    realized_pnl: Decimal = strawberry.field(description="Sum of positions' realized PnL.")
    daily_pnl: Decimal = strawberry.field(description="totalValue − value at the start of the UTC day.")
    daily_pnl_percent: Decimal = strawberry.field(description="dailyPnl / value at the start of the UTC day × 100.")
    allocation: list[AllocationEntry] = strawberry.field(description="Value per asset, largest first.")
    as_of: datetime = strawberry.field(description="When it was computed.")
    account_ids: strawberry.Private[list[str]]

    @strawberry.field(description="Equity over a period, oldest first.")
    async def performance_history(
        self,
        info: strawberry.Info,
        period: Annotated[Period, strawberry.argument(description="Which window.")] = Period.DAY,
    ) -> list[EquityPoint]:
        history = await equity_history(self.account_ids, PERIOD_WINDOWS[period.name])
        return [EquityPoint(timestamp=ts, equity=equity) for ts, equity, _ in history]

    @strawberry.field(description="Risk metrics over a period.")
    async def risk_metrics(
        self,
        info: strawberry.Info,
        period: Annotated[Period, strawberry.argument(description="Which window.")] = Period.DAY,
    ) -> RiskMetrics:
        interval = info.context.settings.equity_snapshot_interval
        figures = await risk_figures(self.account_ids, PERIOD_WINDOWS[period.name], interval)
        return RiskMetrics(**vars(figures))


@strawberry.type(description="One delivery on portfolioUpdates.")
class PortfolioUpdate:
    portfolio: Portfolio = strawberry.field(description="The portfolio now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")
