"""Writing the audit log. Every state-changing action records one row, in the action's own transaction."""

from __future__ import annotations

from typing import Any

from models.audit import AuditEntry, Outcome
from models.identity import User


async def record(
    action: str,
    outcome: Outcome,
    *,
    actor: User | None = None,
    actor_label: str | None = None,
    target_type: str = "",
    target_id: object = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
    conn: Any = None,
) -> AuditEntry:
    """Append one audit row; pass ``conn`` to write it in the caller's transaction."""
    label = actor_label if actor_label is not None else (actor.email or actor.wallet_address or "") if actor else ""
    return await AuditEntry.create(
        actor_id=actor.id if actor else None,
        actor_label=label[:254],
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        ip=ip,
        outcome=outcome,
        detail=detail or {},
        using_db=conn,
    )
