"""The audit log for admins (the compliance officers): the log itself, filtered and paged, and its chain check."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.context import Info
from graphql_api.errors import BadUserInput
from graphql_api.pagination import paginate, parse_id
from graphql_api.permissions import IsAdmin
from graphql_api.services import audit as actions
from models.audit import Outcome
from schema.audit import AuditChainVerification, AuditEntry, AuditLogFilter
from schema.common import After, Connection, First


def user_id(value: str, field: str) -> str:
    try:
        return parse_id(value, "User", field)
    except BadUserInput:
        raise BadUserInput(f"{field} is not a User ID", field=field) from None


def audit_query(filter: AuditLogFilter | None) -> actions.AuditQuery:
    if filter is None:
        return actions.AuditQuery()
    return actions.AuditQuery(
        actor_id=user_id(filter.actor, "filter.actor") if filter.actor is not None else None,
        action=filter.action,
        target_type=filter.target_type,
        target_id=filter.target_id,
        outcome=Outcome(filter.outcome.value) if filter.outcome is not None else None,
        since=filter.from_,
        until=filter.to,
    ).check("filter.")


async def audit_log(
    info: Info,
    filter: Annotated[AuditLogFilter | None, strawberry.argument(description="Which rows.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[AuditEntry]:
    rows = actions.entries(audit_query(filter))
    page = await paginate(
        rows,
        first=first,
        after=after,
        cap=info.context.settings.max_page_size,
        convert=AuditEntry.from_model,
        order=actions.NEWEST_FIRST,
    )
    return Connection.of(page)


async def verify_audit_chain(info: Info) -> AuditChainVerification:
    return AuditChainVerification.from_report(await actions.verify())


@strawberry.type
class Query:
    audit_log: Connection[AuditEntry] = strawberry.field(
        resolver=audit_log,
        permission_classes=[IsAdmin],
        description="Admin (compliance): the audit log, newest first.",
    )
    verify_audit_chain: AuditChainVerification = strawberry.field(
        resolver=verify_audit_chain,
        permission_classes=[IsAdmin],
        description="Admin (compliance): check every row of the audit log against its hash chain; names the "
        "first row altered, removed or inserted.",
    )
