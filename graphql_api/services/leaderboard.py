"""Leaderboard: pages of the standings by a metric with ranks, one user's rank, totals and daily activity,
and the profile a user appears under (or hides behind). The standings are kept by the fill path
(``engine/standings.py``, where the metrics and the ranking are defined); everything here reads them.

Hidden users are left out of pages and ranks (nobody else sees where they stand; they still see their own
rank), but count in the totals, which name nobody."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.leaderboard import RANK_KEYS, LeaderboardProfile, Metric, Standing, StandingPeriod

from .. import audit
from ..audit import Action
from ..engine.standings import SCALE, start_of
from ..ownership import Actor
from ..pagination import Page, paginate
from ..periods import next_start
from ..rejections import Invalid

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{1,30}[A-Za-z0-9_.-]$")
MAX_DAYS = 366


@dataclass
class Ranked:
    """A standing with its rank (1 + the number of visible users strictly ahead) and how it is shown."""

    row: Standing
    rank: int
    display_name: str = ""
    hidden: bool = False


@dataclass
class Window:
    period: StandingPeriod
    start: datetime
    end: datetime | None  # None for all time


def window(period: StandingPeriod, now: datetime | None = None) -> Window:
    """The current period: its start and end (UTC)."""
    start = start_of(period, now or datetime.now(UTC))
    end = None if period == StandingPeriod.ALL else next_start(start, period.value)
    return Window(period, start, end)


def default_name(user_id: object) -> str:
    """Users appear under an anonymous label until they choose a name."""
    return f"trader-{str(user_id).replace('-', '')[:8]}"


def _of(w: Window) -> QuerySet[Standing]:
    return Standing.filter(period=w.period, period_start=w.start)


def _visible(query: QuerySet[Standing]) -> QuerySet[Standing]:
    return query.exclude(user_id__in=Subquery(LeaderboardProfile.filter(hidden=True).values("user_id")))


def _ahead(w: Window, key: str, value: int) -> QuerySet[Standing]:
    return _visible(_of(w)).filter(**{f"{key}__gt": value})


async def _names(rows: list[Ranked]) -> None:
    profiles = {str(p.user_id): p for p in await LeaderboardProfile.filter(user_id__in=[r.row.user_id for r in rows])}
    for r in rows:
        profile = profiles.get(str(r.row.user_id))
        r.display_name = (profile.display_name if profile else None) or default_name(r.row.user_id)
        r.hidden = bool(profile and profile.hidden)


async def page(period: StandingPeriod, metric: Metric, first: int | None, after: str | None, cap: int) -> Page[Ranked]:
    """A page of the visible standings, best first (ties: the later user id first)."""
    w = window(period)
    key = RANK_KEYS[metric]
    found = await paginate(
        _visible(_of(w)),
        first=first,
        after=after,
        cap=cap,
        convert=lambda row: Ranked(row, 0),
        order=(f"-{key}", "-user_id"),
    )
    items = [r for _, r in found.items]
    if items:
        head = items[0].row
        value = getattr(head, key)
        ahead = await _ahead(w, key, value).count()
        tied_before = await _visible(_of(w)).filter(**{key: value, "user_id__gt": head.user_id}).count()
        for i, r in enumerate(items):
            if i == 0:
                r.rank = ahead + 1
            elif getattr(items[i - 1].row, key) == getattr(r.row, key):
                r.rank = items[i - 1].rank
            else:  # everyone before it in the order is strictly ahead
                r.rank = ahead + tied_before + i + 1
        await _names(items)
    return found


async def rank_of(user_id: str, period: StandingPeriod, metric: Metric, viewer_id: str) -> Ranked | None:
    """The user's standing and rank this period; None when they have not traded in it, or are hidden from
    a viewer other than themselves."""
    w = window(period)
    row = await _of(w).filter(user_id=user_id).first()
    if row is None:
        return None
    ranked = Ranked(row, 0)
    await _names([ranked])
    if ranked.hidden and str(user_id) != str(viewer_id):
        return None
    key = RANK_KEYS[metric]
    ranked.rank = await _ahead(w, key, getattr(row, key)).count() + 1
    return ranked


def _units(value: Any) -> Decimal:
    """A sum of rank keys back in the metric's units."""
    return Decimal(str(value or 0)) / SCALE


@dataclass
class Activity:
    """Totals over a set of standings: each user's volume and PnL counted to the millionth (their rank keys,
    summed exactly as integers on both databases)."""

    traders: int = 0
    profitable_traders: int = 0
    trades: int = 0
    volume: Decimal = Decimal(0)
    pnl: Decimal = Decimal(0)


_SUMS = ("traders", "profitable", "trades_sum", "volume_sum", "pnl_sum")


def _summed(query: QuerySet[Standing]) -> QuerySet[Standing]:
    return query.annotate(
        traders=Count("id"),
        profitable=Count("id", _filter=Q(pnl_key__gt=0)),
        trades_sum=Sum("trades"),
        volume_sum=Sum("volume_key"),
        pnl_sum=Sum("pnl_key"),
    )


def _activity(found: dict[str, Any]) -> Activity:
    return Activity(
        traders=found["traders"] or 0,
        profitable_traders=found["profitable"] or 0,
        trades=int(found["trades_sum"] or 0),
        volume=_units(found["volume_sum"]),
        pnl=_units(found["pnl_sum"]),
    )


async def totals(period: StandingPeriod) -> tuple[Window, Activity]:
    """Everyone who traded in the current period, hidden users included."""
    w = window(period)
    (found,) = await _summed(_of(w)).values(*_SUMS)
    return w, _activity(found)


async def daily(days: int, now: datetime | None = None) -> list[tuple[datetime, Activity]]:
    """Activity per UTC day over the last ``days`` days (today included), oldest first; days without trades
    are included with zeros."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be 1 to {MAX_DAYS}", field="days")
    today = window(StandingPeriod.DAY, now).start
    first = today - timedelta(days=days - 1)
    query = Standing.filter(period=StandingPeriod.DAY, period_start__gte=first)
    rows = await _summed(query).group_by("period_start").values("period_start", *_SUMS)
    by_day = {r["period_start"].astimezone(UTC): _activity(r) for r in rows}
    starts = [first + timedelta(days=i) for i in range(days)]
    return [(start, by_day.get(start, Activity())) for start in starts]


def _display_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip()
    if not _NAME.match(name):
        raise Invalid(
            "displayName must be 3 to 32 letters, digits, spaces or _ . - (not starting or ending with a space)",
            field="displayName",
        )
    return name


async def update_profile(actor: Actor, display_name: str | None, hidden: bool | None) -> LeaderboardProfile:
    """Set how the caller appears on the leaderboard (an argument left out keeps its value)."""
    async with audit.refusals(actor, Action.LEADERBOARD_UPDATE_PROFILE, target_type="User", target_id=actor.user.id):
        name = _display_name(display_name)
        async with in_transaction() as conn:
            # Racing updates of one user: both insert (one is ignored), then each waits for the row.
            await LeaderboardProfile.bulk_create(
                [LeaderboardProfile(user_id=actor.user.id)], ignore_conflicts=True, using_db=conn
            )
            profile = await LeaderboardProfile.filter(user_id=actor.user.id).using_db(conn).select_for_update().get()
            if display_name is not None:
                profile.display_name = name
            if hidden is not None:
                profile.hidden = hidden
            await profile.save(using_db=conn)
            await audit.by(
                actor,
                Action.LEADERBOARD_UPDATE_PROFILE,
                Outcome.SUCCESS,
                target_type="User",
                target_id=actor.user.id,
                detail={"displayName": profile.display_name, "hidden": profile.hidden},
                conn=conn,
            )
    return profile
