"""Admin monitoring over GraphQL: activity, broadcast, systemMetrics (graphql_api/services/monitoring.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.pagination import paginate
from graphql_api.permissions import IsAdmin
from graphql_api.services import monitoring as actions
from graphql_api.services.audit import NEWEST_FIRST, entries
from models.alerts import Severity
from schema.alerts import AlertSeverity
from schema.audit import AuditEntry
from schema.common import After, Connection, First
from schema.monitoring import ActivityFilter, BroadcastResult, BroadcastSent, SystemMetrics

from .audit import user_id
from .results import actor, audited, result


async def activity(
    info: Info,
    filter: Annotated[ActivityFilter | None, strawberry.argument(description="Whose, which kinds, when.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[AuditEntry]:
    given = filter or ActivityFilter()
    query = actions.activity_query(
        user_id(given.user, "filter.user") if given.user is not None else None,
        [actions.ActivityKind(k.value) for k in given.kinds] if given.kinds else None,
        given.from_,
        given.to,
    )
    rows = entries(query).filter(actor_id__isnull=False)
    cap = info.context.settings.max_page_size
    page = await paginate(rows, first=first, after=after, cap=cap, convert=AuditEntry.from_model, order=NEWEST_FIRST)
    return Connection.of(page)


async def broadcast(
    info: Info,
    message: Annotated[str, strawberry.argument(description="What to tell every user (1–1000 characters).")],
    severity: Annotated[AlertSeverity, strawberry.argument(description="The alerts' severity.")] = AlertSeverity.LOW,
) -> BroadcastResult:
    sent = actions.broadcast(info.context.bus, actor(info), message, Severity(severity.name))
    return await result(sent, BroadcastSent.of)


async def system_metrics(info: Info) -> SystemMetrics:
    return SystemMetrics.of(await actions.system_figures(info.context.bus, info.context.feed))


@strawberry.type
class Query:
    activity: Connection[AuditEntry] = strawberry.field(
        resolver=activity,
        permission_classes=[IsAdmin],
        description="Admin: what users did (sign-ins, orders, bots, funds, …), newest first, from the audit log.",
    )
    system_metrics: SystemMetrics = strawberry.field(
        resolver=system_metrics,
        permission_classes=[IsAdmin],
        description="Admin: health and load of the API process that answers (feed lag, bus, pool, streams, jobs).",
    )


@strawberry.type
class Mutation:
    broadcast: BroadcastResult = strawberry.mutation(
        resolver=audited(Action.ADMIN_BROADCAST)(broadcast),
        permission_classes=[IsAdmin],
        description="Admin: raise a SYSTEM alert for every active user, delivered live on alertRaised.",
    )
