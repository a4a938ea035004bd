"""Reading the audit log: the one filter the auditLog query, the HTTP export and the admin activity feed share,
and the chain check. Writing is graphql_api/audit.py (every domain action does it in its own transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet

from models.audit import AuditEntry, Outcome

from ..audit import Action, ChainReport, verify_chain
from ..errors import BadUserInput

# Newest first; ids follow the chain, so this is also the chain's order reversed.
NEWEST_FIRST = ("-id",)
_ACTIONS = {a.value for a in Action}


@dataclass(frozen=True)
class AuditQuery:
    """Which rows: each set field narrows the log; ``since`` inclusive, ``until`` exclusive."""

    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: Outcome | None = None
    since: datetime | None = None
    until: datetime | None = None
    actions: tuple[str, ...] = ()  # any of these (the activity feed's kinds)

    def check(self, prefix: str = "") -> AuditQuery:
        """The query, or BAD_USER_INPUT naming the field (``prefix`` + name) that cannot match anything."""
        if self.action is not None and self.action not in _ACTIONS:
            example = Action.ORDER_PLACE.value
            raise BadUserInput(f"action is not an audited action (e.g. {example})", field=f"{prefix}action")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise BadUserInput("to must be after from", field=f"{prefix}to")
        return self


def entries(query: AuditQuery) -> QuerySet[AuditEntry]:
    rows = AuditEntry.all()
    if query.actor_id is not None:
        rows = rows.filter(actor_id=query.actor_id)
    if query.action is not None:
        rows = rows.filter(action=query.action)
    if query.actions:
        rows = rows.filter(action__in=list(query.actions))
    if query.target_type is not None:
        rows = rows.filter(target_type=query.target_type)
    if query.target_id is not None:
        rows = rows.filter(target_id=query.target_id)
    if query.outcome is not None:
        rows = rows.filter(outcome=query.outcome)
    if query.since is not None:
        rows = rows.filter(at__gte=query.since)
    if query.until is not None:
        rows = rows.filter(at__lt=query.until)
    return rows


async def verify() -> ChainReport:
    return await verify_chain()
