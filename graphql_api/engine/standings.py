"""Leaderboard standings, kept by the fill path (``fills.after_fill``).

Every fill adds to four rows of its user, in the transaction that writes the fill: the UTC day, week (from
Monday) and month it happened in, and all time. The board is never behind the fills, an order rolled back
leaves no trace on it, and a page or a rank is one range of an index, not an aggregation over fills.

The metrics, from the exact sums of a row:
- VOLUME = Σ price × quantity of the fills.
- PNL = Σ realized PnL − Σ fees. Realized PnL is booked by fills that reduce a position:
  (price − entry) × quantity for a long, (entry − price) × quantity for a short.
- ROI = Σ realized PnL / Σ closed cost, the closed cost of a reducing fill being the entry value
  (entry price × quantity) of what it closed: the return on the capital of the closed trades, before
  fees, as a ratio (0.05 is 5%); 0 until something closed.
- WIN_RATE = wins / closes, a close being a fill that reduced a position and a win a close whose realized
  PnL was positive; 0 until something closed.

Ranks order by integer keys, each metric in millionths (USDC's own precision) rounded half-even: SQLite
stores decimals as text and would sort "10" before "9", while integers sort (and sum) alike on both
databases, straight from one index. Equal keys share a rank: 1 + the number of users strictly ahead.

Two accounts of one user fill under different account locks, so the rows are read FOR UPDATE, in a fixed
order so that two fills cannot deadlock, after inserting any missing one (ignoring a row that a racing
fill inserted first).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from models.leaderboard import Standing, StandingPeriod

from ..periods import period_start
from .fills import FillFacts

ZERO = Decimal(0)
SCALE = Decimal(10**6)
_PLACES = Decimal("1e-12")
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_UPDATED = [
    "volume",
    "realized_pnl",
    "fees",
    "closed_cost",
    "trades",
    "closes",
    "wins",
    "pnl_key",
    "roi_key",
    "win_rate_key",
    "volume_key",
    "updated_at",
]


def start_of(period: StandingPeriod, at: datetime) -> datetime:
    """The start of the period holding ``at`` (all time starts at the epoch)."""
    return ALL_TIME if period == StandingPeriod.ALL else period_start(at.astimezone(UTC), period.value)


def pnl(row: Standing) -> Decimal:
    return row.realized_pnl - row.fees


def roi(row: Standing) -> Decimal:
    if row.closed_cost == 0:
        return ZERO
    return (row.realized_pnl / row.closed_cost).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def win_rate(row: Standing) -> Decimal:
    if row.closes == 0:
        return ZERO
    return (Decimal(row.wins) / Decimal(row.closes)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def rank_key(value: Decimal) -> int:
    """A metric as the integer it ranks by: millionths, rounded half-even."""
    return int((value * SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))


def _add(row: Standing, fill: FillFacts) -> None:
    row.volume += fill.notional
    row.fees += fill.fee
    row.trades += 1
    if fill.realized is not None:
        row.realized_pnl += fill.realized
        row.closed_cost += fill.closed_cost
        row.closes += 1
        row.wins += fill.realized > 0
    row.pnl_key = rank_key(pnl(row))
    row.roi_key = rank_key(roi(row))
    row.win_rate_key = rank_key(win_rate(row))
    row.volume_key = rank_key(row.volume)


async def _locked(conn: BaseDBAsyncClient, user_id: str, starts: dict[StandingPeriod, datetime]) -> list[Standing]:
    which = Q(*(Q(period=p, period_start=s) for p, s in starts.items()), join_type=Q.OR)

    def lock() -> Any:
        return Standing.filter(which, user_id=user_id).using_db(conn).order_by("period").select_for_update()

    rows: list[Standing] = await lock()
    if len(rows) < len(starts):
        have = {StandingPeriod(r.period) for r in rows}
        missing = [Standing(user_id=user_id, period=p, period_start=s) for p, s in starts.items() if p not in have]
        await Standing.bulk_create(missing, ignore_conflicts=True, using_db=conn)
        rows = await lock()
    return rows


async def record(conn: BaseDBAsyncClient, fill: FillFacts) -> None:
    """Add one fill to its user's standings of every period holding it."""
    starts = {p: start_of(p, fill.at) for p in StandingPeriod}
    for row in await _locked(conn, fill.user_id, starts):
        _add(row, fill)
        await row.save(using_db=conn, update_fields=_UPDATED)
