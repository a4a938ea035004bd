"""The append-only audit log: who did what to which target, from where, with what outcome."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DENIED = "DENIED"


class AuditEntry(Model):
    """One audited action. Rows are only ever inserted (PostgreSQL enforces it with a trigger)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_id = fields.UUIDField(null=True, db_index=True)
    actor_label = fields.CharField(max_length=254, default="")
    action = fields.CharField(max_length=64, db_index=True)
    target_type = fields.CharField(max_length=32, default="")
    target_id = fields.CharField(max_length=64, default="", db_index=True)
    ip = fields.CharField(max_length=64, default="")
    # The request (X-Request-ID) that wrote the row: joins it to that request's log lines.
    request_id = fields.CharField(max_length=128, default="", db_index=True)
    outcome = fields.CharEnumField(Outcome, max_length=16)
    detail: Any = fields.JSONField(default=dict)
    # The hash chain (graphql_api/audit.py): seq is the row's place in the chain (1, 2, 3, ... without gaps),
    # prev_hash the hash of the row before it, hash = sha256 over this row's canonical content and prev_hash,
    # so an edited, removed or inserted row breaks the chain.
    seq = fields.BigIntField(null=True, unique=True)
    prev_hash = fields.CharField(max_length=64, default="")
    hash = fields.CharField(max_length=64, default="")

    class Meta:
        table = "audit_log"


class AuditChainHead(Model):
    """The single row (id 1) that serialises writers of the audit log: the id, place and hash of its last row.
    Writers lock it as the last step of their transaction (see graphql_api/audit.py)."""

    id = fields.IntField(primary_key=True)
    last_id = fields.BigIntField(default=0)
    last_seq = fields.BigIntField(default=0, db_default=0)
    last_hash = fields.CharField(max_length=64, default="")

    class Meta:
        table = "audit_chain_head"
