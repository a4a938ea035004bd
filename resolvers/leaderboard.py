"""Leaderboard: the Query / Mutation fields (reads and the profile action in
graphql_api/services/leaderboard.py; the standings are kept by graphql_api/engine/standings.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.errors import BadUserInput
from graphql_api.pagination import Page, parse_id
from graphql_api.permissions import IsAuthenticated, require_principal
from graphql_api.rejections import Invalid
from graphql_api.services import leaderboard as actions
from models.leaderboard import Metric, StandingPeriod
from schema.common import After, Connection, First
from schema.leaderboard import (
    LeaderboardAnalytics,
    LeaderboardDay,
    LeaderboardEntry,
    LeaderboardMetric,
    LeaderboardPeriod,
    LeaderboardProfile,
    LeaderboardProfileUpdated,
    LeaderboardStats,
    UpdateLeaderboardProfileInput,
    UpdateLeaderboardProfileResult,
)

from .results import actor, audited, result

PeriodArg = Annotated[LeaderboardPeriod, strawberry.argument(description="The current day, week, month, or all time.")]
MetricArg = Annotated[LeaderboardMetric, strawberry.argument(description="What to rank by.")]


def _period(value: Any) -> StandingPeriod:
    return StandingPeriod(str(getattr(value, "value", value)))


def _metric(value: Any) -> Metric:
    return Metric(str(getattr(value, "value", value)))


async def leaderboard(
    info: Info,
    period: PeriodArg = StandingPeriod.ALL,
    metric: MetricArg = Metric.PNL,
    first: First = None,
    after: After = None,
) -> Connection[LeaderboardEntry]:
    cap = info.context.settings.max_page_size
    found = await actions.page(_period(period), _metric(metric), first, after, cap)
    entries = [(cursor, LeaderboardEntry.of(r)) for cursor, r in found.items]
    return Connection.of(Page(entries, found.has_next_page, found.has_previous_page, found.total_count))


async def user_rank(
    info: Info,
    user_id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of the user.")],
    period: PeriodArg = StandingPeriod.ALL,
    metric: MetricArg = Metric.PNL,
) -> LeaderboardEntry | None:
    viewer = str(require_principal(info.context).user_id)
    found = await actions.rank_of(parse_id(user_id, "User", "userId"), _period(period), _metric(metric), viewer)
    return LeaderboardEntry.of(found) if found is not None else None


async def leaderboard_stats(info: Info, period: PeriodArg = StandingPeriod.ALL) -> LeaderboardStats:
    return LeaderboardStats.of(*await actions.totals(_period(period)))


async def leaderboard_analytics(
    info: Info,
    days: Annotated[
        int, strawberry.argument(description=f"How many days back, today included (1 to {actions.MAX_DAYS}).")
    ] = 30,
) -> LeaderboardAnalytics:
    try:
        series = await actions.daily(days)
    except Invalid as refused:
        raise BadUserInput(refused.message, field=refused.field) from None
    return LeaderboardAnalytics(days=[LeaderboardDay.of(start, a) for start, a in series])


async def update_leaderboard_profile(
    info: Info, input: Annotated[UpdateLeaderboardProfileInput, strawberry.argument(description="The profile.")]
) -> UpdateLeaderboardProfileResult:
    def view(row: Any) -> LeaderboardProfileUpdated:
        name = row.display_name or actions.default_name(row.user_id)
        return LeaderboardProfileUpdated(profile=LeaderboardProfile(display_name=name, hidden=row.hidden))

    action = actions.update_profile(actor(info), input.display_name, input.hidden)
    return await result(action, view)


@strawberry.type
class Query:
    leaderboard: Connection[LeaderboardEntry] = strawberry.field(
        resolver=leaderboard,
        permission_classes=[IsAuthenticated],
        description="Users ranked by a metric over the current period, best first (hidden users left out); "
        "the standings are kept by every fill, so this is one indexed read.",
    )
    leaderboard_stats: LeaderboardStats = strawberry.field(
        resolver=leaderboard_stats,
        permission_classes=[IsAuthenticated],
        description="Totals of the current period.",
    )
    user_rank: LeaderboardEntry | None = strawberry.field(
        resolver=user_rank,
        permission_classes=[IsAuthenticated],
        description="A user's standing and rank; null when they have not traded in the period or hide (except "
        "from themselves).",
    )
    leaderboard_analytics: LeaderboardAnalytics = strawberry.field(
        resolver=leaderboard_analytics,
        permission_classes=[IsAuthenticated],
        description="Trading activity per UTC day over the last days.",
    )


@strawberry.type
class Mutation:
    update_leaderboard_profile: UpdateLeaderboardProfileResult = strawberry.mutation(
        resolver=audited(Action.LEADERBOARD_UPDATE_PROFILE)(update_leaderboard_profile),
        permission_classes=[IsAuthenticated],
        description="Choose the name you appear under on the leaderboard, or hide from it.",
    )
