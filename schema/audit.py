"""The audit log: its rows, the filter over them, and the result of checking its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from graphql_api import audit as chain
from graphql_api.pagination import to_global_id
from models import audit as m

from .common import enum_from

if TYPE_CHECKING:
    from graphql_api.audit import BreakKind as AuditChainBreakKind
    from models.audit import Outcome as AuditOutcome
else:
    AuditOutcome = enum_from(
        m.Outcome,
        "How an audited action ended.",
        {
            "SUCCESS": "It did what was asked.",
            "FAILURE": "It failed (an error, wrong credentials, a venue that could not be reached).",
            "DENIED": "It was refused: not allowed, or an input or state the caller can act on.",
        },
        name="AuditOutcome",
    )
    AuditChainBreakKind = enum_from(
        chain.BreakKind,
        "How the audit log's hash chain was broken.",
        {
            "ALTERED": "A row's content (or its link to the row before) was changed after it was written.",
            "REMOVED": "Rows are missing: `sequence` is the first missing place in the chain.",
            "INSERTED": "A row was added that was never appended through the chain.",
        },
        name="AuditChainBreakKind",
    )


@strawberry.type(description="One audited action: who did what to which target, from where, with what outcome.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Opaque global identifier of the row.")
    sequence: int | None = strawberry.field(description="The row's place in the hash chain (1, 2, 3, … no gaps).")
    at: datetime = strawberry.field(description="When the action happened (UTC).")
    actor_id: strawberry.ID | None = strawberry.field(description="The User who acted; null for anonymous calls.")
    actor_label: str = strawberry.field(description="The actor's email or wallet address when it acted.")
    action: str = strawberry.field(description="What was done, e.g. `order.place`, `auth.login`.")
    target_type: str = strawberry.field(description="The kind of object acted on, e.g. `Order`; empty if none.")
    target_id: str = strawberry.field(description="The id of the object acted on; empty if none.")
    ip: str = strawberry.field(description="The caller's address.")
    request_id: str = strawberry.field(description="The request (X-Request-ID) that wrote it.")
    outcome: AuditOutcome = strawberry.field(description="How it ended.")
    detail: JSON = strawberry.field(description="Structured detail of the action (amounts, codes, before/after).")
    prev_hash: str = strawberry.field(description="The hash of the row before it in the chain (empty for the first).")
    hash: str = strawberry.field(description="SHA-256 (hex) over the row's canonical content and prevHash.")

    @classmethod
    def from_model(cls, row: m.AuditEntry) -> AuditEntry:
        detail: Any = row.detail
        return cls(
            id=strawberry.ID(to_global_id("AuditEntry", row.id)),
            sequence=row.seq,
            at=row.at,
            actor_id=strawberry.ID(to_global_id("User", row.actor_id)) if row.actor_id is not None else None,
            actor_label=row.actor_label,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            ip=row.ip,
            request_id=row.request_id,
            outcome=AuditOutcome(row.outcome),
            detail=detail,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


@strawberry.input(description="Narrow the audit log; every field given must match.")
class AuditLogFilter:
    actor: strawberry.ID | None = strawberry.field(default=None, description="Only actions of this User (ID).")
    action: str | None = strawberry.field(default=None, description="Only this action, e.g. `order.place`.")
    target_type: str | None = strawberry.field(default=None, description="Only actions on this kind of object.")
    target_id: str | None = strawberry.field(default=None, description="Only actions on this object id.")
    outcome: AuditOutcome | None = strawberry.field(default=None, description="Only this outcome.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="At or after.")
    to: datetime | None = strawberry.field(default=None, description="Before.")


@strawberry.type(description="Where the audit log's hash chain first does not hold.")
class AuditChainBreak:
    kind: AuditChainBreakKind = strawberry.field(description="Altered, removed or inserted.")
    entry_id: strawberry.ID | None = strawberry.field(
        description="The altered or inserted row; for a removal, the first row after the gap (null when the "
        "chain's last rows were removed)."
    )
    sequence: int | None = strawberry.field(
        description="The altered or inserted row's place in the chain, or the first missing place of a removal."
    )
    message: str = strawberry.field(description="What is wrong, for people.")


@strawberry.type(description="The audit log checked row by row against its hash chain.")
class AuditChainVerification:
    ok: bool = strawberry.field(description="True when every row is in place, unaltered, and none was added.")
    checked_entries: int = strawberry.field(description="Rows found in order before the first break (all when ok).")
    first_break: AuditChainBreak | None = strawberry.field(description="The first break; null when ok.")

    @classmethod
    def from_report(cls, report: chain.ChainReport) -> AuditChainVerification:
        found = report.first_break
        return cls(
            ok=report.ok,
            checked_entries=report.checked,
            first_break=AuditChainBreak(
                kind=AuditChainBreakKind(found.kind),
                entry_id=strawberry.ID(to_global_id("AuditEntry", found.entry_id))
                if found.entry_id is not None
                else None,
                sequence=found.seq,
                message=found.message,
            )
            if found is not None
            else None,
        )
