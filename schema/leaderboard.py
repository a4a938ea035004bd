"""Leaderboard: ranked standings per period and metric, totals, daily activity, and a user's profile on it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, TypedDict

import strawberry

from graphql_api.engine import standings as st
from graphql_api.pagination import to_global_id
from graphql_api.services import leaderboard as lb
from models import leaderboard as m

from .common import InvalidInput, enum_from

if TYPE_CHECKING:
    from models.leaderboard import Metric as LeaderboardMetric
    from models.leaderboard import StandingPeriod as LeaderboardPeriod
else:
    LeaderboardPeriod = enum_from(
        m.StandingPeriod,
        "The period a standing covers: the current one, cut in UTC (weeks start on Monday).",
        {"DAY": "Today.", "WEEK": "This week.", "MONTH": "This month.", "ALL": "All time."},
        name="LeaderboardPeriod",
    )
    LeaderboardMetric = enum_from(
        m.Metric,
        "What the leaderboard ranks by (best first; equal values share a rank). Ranking compares the metric "
        "to the millionth, rounded half-even.",
        {
            "PNL": "Realized PnL less fees.",
            "ROI": "Realized PnL / closed cost (the entry value of what was closed), before fees.",
            "WIN_RATE": "Wins / closes: the share of position-reducing fills that realized a profit.",
            "VOLUME": "Traded notional, Σ price × quantity.",
        },
        name="LeaderboardMetric",
    )


@strawberry.type(description="One user's results over a period and their rank by the requested metric.")
class LeaderboardEntry:
    id: strawberry.ID = strawberry.field(description="Stable ID of this user's standing in this period.")
    rank: int = strawberry.field(description="1 + the number of visible users strictly ahead by the metric.")
    user_id: strawberry.ID = strawberry.field(description="Global ID of the user.")
    display_name: str = strawberry.field(
        description="The name the user chose, or an anonymous label (trader-xxxxxxxx) until they do."
    )
    hidden: bool = strawberry.field(description="The user hides from the leaderboard (only they see this entry).")
    period_start: datetime = strawberry.field(description="Start of the period (the epoch for ALL).")
    pnl: Decimal = strawberry.field(description="realizedPnl − fees.")
    realized_pnl: Decimal = strawberry.field(
        description="Σ realized PnL of position-reducing fills: (price − entry) × quantity long, the reverse short."
    )
    fees: Decimal = strawberry.field(description="Σ trading fees paid.")
    roi: Decimal = strawberry.field(
        description="realizedPnl / closedCost as a ratio (0.05 is 5%), 0 until something closed."
    )
    closed_cost: Decimal = strawberry.field(description="Σ entry price × quantity of what the reducing fills closed.")
    win_rate: Decimal = strawberry.field(description="wins / closes as a ratio, 0 until something closed.")
    volume: Decimal = strawberry.field(description="Σ price × quantity of every fill.")
    trades: int = strawberry.field(description="Number of fills (liquidations included).")
    closes: int = strawberry.field(description="Fills that reduced a position.")
    wins: int = strawberry.field(description="Closes that realized a profit.")

    @classmethod
    def of(cls, r: lb.Ranked) -> LeaderboardEntry:
        row = r.row
        return cls(
            id=strawberry.ID(to_global_id("LeaderboardEntry", row.id)),
            rank=r.rank,
            user_id=strawberry.ID(to_global_id("User", row.user_id)),
            display_name=r.display_name,
            hidden=r.hidden,
            period_start=row.period_start,
            pnl=st.pnl(row),
            realized_pnl=row.realized_pnl,
            fees=row.fees,
            roi=st.roi(row),
            closed_cost=row.closed_cost,
            win_rate=st.win_rate(row),
            volume=row.volume,
            trades=row.trades,
            closes=row.closes,
            wins=row.wins,
        )


@strawberry.interface(description="Trading activity over a span: counts, and sums of each user's figures.")
class LeaderboardActivity:
    traders: int = strawberry.field(description="Users with at least one fill in the span.")
    profitable_traders: int = strawberry.field(description="Of them, those whose PnL over the span is positive.")
    trades: int = strawberry.field(description="Fills.")
    volume: Decimal = strawberry.field(description="Σ volume (each user's to the millionth).")
    pnl: Decimal = strawberry.field(description="Σ PnL (each user's to the millionth).")


class _ActivityFields(TypedDict):
    traders: int
    profitable_traders: int
    trades: int
    volume: Decimal
    pnl: Decimal


def _activity(a: lb.Activity) -> _ActivityFields:
    return {
        "traders": a.traders,
        "profitable_traders": a.profitable_traders,
        "trades": a.trades,
        "volume": a.volume,
        "pnl": a.pnl,
    }


@strawberry.type(description="Totals of everyone who traded in the current period (hidden users included).")
class LeaderboardStats(LeaderboardActivity):
    period: LeaderboardPeriod = strawberry.field(description="The period.")
    period_start: datetime = strawberry.field(description="Its start.")
    period_end: datetime | None = strawberry.field(description="Its end (exclusive); null for ALL.")

    @classmethod
    def of(cls, w: lb.Window, a: lb.Activity) -> LeaderboardStats:
        return cls(period=w.period, period_start=w.start, period_end=w.end, **_activity(a))


@strawberry.type(description="Trading activity of one UTC day.")
class LeaderboardDay(LeaderboardActivity):
    start: datetime = strawberry.field(description="The day's start (UTC midnight).")

    @classmethod
    def of(cls, start: datetime, a: lb.Activity) -> LeaderboardDay:
        return cls(start=start, **_activity(a))


@strawberry.type(description="Daily activity over the last days, oldest first (days without trades are zeros).")
class LeaderboardAnalytics:
    days: list[LeaderboardDay] = strawberry.field(description="One entry per UTC day, today last.")


@strawberry.type(description="How a user appears on the leaderboard.")
class LeaderboardProfile:
    display_name: str = strawberry.field(description="The chosen name, or the anonymous label.")
    hidden: bool = strawberry.field(description="Left out of leaderboard pages and other users' userRank.")


@strawberry.type(description="The profile was updated.")
class LeaderboardProfileUpdated:
    profile: LeaderboardProfile = strawberry.field(description="The profile now.")


@strawberry.input(description="How to appear on the leaderboard; a field left out keeps its value.")
class UpdateLeaderboardProfileInput:
    display_name: str | None = strawberry.field(
        default=None, description="3 to 32 letters, digits, spaces or _ . - (no leading or trailing space)."
    )
    hidden: bool | None = strawberry.field(default=None, description="True to leave the leaderboard.")


UpdateLeaderboardProfileResult = Annotated[
    LeaderboardProfileUpdated | InvalidInput,
    strawberry.union("UpdateLeaderboardProfileResult", description="The profile, or why not."),
]
