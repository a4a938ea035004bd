"""HTTP exports: ``GET /exports/audit-log`` streams the audit log as CSV or JSON lines.

Authenticated as any API request (Bearer, or the session cookie) and for admins only, as the auditLog query
is. The filter is auditLog's, as query parameters (actor, action, targetType, targetId, outcome, from, to);
rows come newest first, as auditLog pages them, with the same fields and values. The body is streamed batch
by batch (keyset on id, one short query per batch): the log is never held in memory whole, and rows
appended during the export (ids above the first batch's) are not part of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from models.audit import AuditEntry, Outcome
from models.identity import Role

from . import audit
from .audit import Action
from .context import Context
from .errors import BadUserInput, error_response
from .ownership import Actor
from .pagination import parse_id, to_global_id
from .permissions import admin_address_allowed, has_role
from .scalars import parse_datetime, serialize_datetime
from .services.audit import AuditQuery, entries

EXPORT_BATCH = 500
COLUMNS = (
    "id",
    "sequence",
    "at",
    "actorId",
    "actorLabel",
    "action",
    "targetType",
    "targetId",
    "ip",
    "requestId",
    "outcome",
    "detail",
    "prevHash",
    "hash",
)
_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
_FILTER_PARAMS = ("actor", "action", "targetType", "targetId", "outcome", "from", "to")


def record(row: AuditEntry) -> dict[str, Any]:
    """One row as the auditLog query answers it (global IDs, DateTime strings, detail as JSON)."""
    return {
        "id": to_global_id("AuditEntry", row.id),
        "sequence": row.seq,
        "at": serialize_datetime(row.at),
        "actorId": to_global_id("User", row.actor_id) if row.actor_id is not None else None,
        "actorLabel": row.actor_label,
        "action": row.action,
        "targetType": row.target_type,
        "targetId": row.target_id,
        "ip": row.ip,
        "requestId": row.request_id,
        "outcome": str(row.outcome),
        "detail": row.detail,
        "prevHash": row.prev_hash,
        "hash": row.hash,
    }


def _query(params: Mapping[str, str]) -> AuditQuery:
    """The filter from the query string; BAD_USER_INPUT naming the parameter that does not parse."""
    unknown = set(params) - {"format", *_FILTER_PARAMS}
    if unknown:
        name = sorted(unknown)[0]
        raise BadUserInput(f"unknown parameter {name}; the filter is {', '.join(_FILTER_PARAMS)}", field=name)

    def parsed(name: str, parse: Callable[[str], Any]) -> Any:
        value = params.get(name)
        if value is None or value == "":
            return None
        try:
            return parse(value)
        except BadUserInput as exc:
            raise BadUserInput(f"{name}: {exc.message}", field=name) from None

    def outcome(value: str) -> Outcome:
        if value not in Outcome.__members__:
            raise BadUserInput(f"one of {', '.join(Outcome)}")
        return Outcome(value)

    return AuditQuery(
        actor_id=parsed("actor", lambda v: parse_id(v, "User", "actor")),
        action=params.get("action") or None,
        target_type=params.get("targetType") or None,
        target_id=params.get("targetId") or None,
        outcome=parsed("outcome", outcome),
        since=parsed("from", parse_datetime),
        until=parsed("to", parse_datetime),
    ).check()


async def _rows(query: AuditQuery) -> AsyncIterator[list[AuditEntry]]:
    last: int | None = None
    while True:
        batch = entries(query)
        if last is not None:
            batch = batch.filter(id__lt=last)
        rows = await batch.order_by("-id").limit(EXPORT_BATCH)
        if rows:
            yield rows
        if len(rows) < EXPORT_BATCH:
            return
        last = rows[-1].id


async def _csv(query: AuditQuery) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    async for rows in _rows(query):
        for row in rows:
            values = record(row)
            values["detail"] = orjson.dumps(values["detail"], option=orjson.OPT_SORT_KEYS).decode()
            writer.writerow("" if values[c] is None else values[c] for c in COLUMNS)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


async def _jsonl(query: AuditQuery) -> AsyncIterator[bytes]:
    async for rows in _rows(query):
        yield b"".join(orjson.dumps(record(row)) + b"\n" for row in rows)


def audit_log_export(context_for: Callable[[Request, None], Awaitable[Context]]) -> Callable[[Request], Any]:
    """The endpoint; ``context_for`` (the GraphQL view's) authenticates the request as for any query."""

    async def export(request: Request) -> Response:
        context = await context_for(request, None)
        if context.principal is None:
            return error_response(context.auth_error or "sign in required", "UNAUTHENTICATED", 401)
        if not has_role(context, Role.ADMIN):
            return error_response(f"requires the {Role.ADMIN.value} role", "FORBIDDEN", 403)
        if not admin_address_allowed(context):
            return error_response("admin operations are not allowed from this address", "FORBIDDEN", 403)
        fmt = request.query_params.get("format", "")
        if fmt not in _FORMATS:
            return error_response("format must be csv or jsonl", "BAD_USER_INPUT", 400, field="format")
        try:
            query = _query(request.query_params)
        except BadUserInput as exc:
            return error_response(exc.message, BadUserInput.code, 400, field=(exc.extensions or {}).get("field"))
        actor = Actor(context.principal.user, context.client.ip)
        detail = dict(request.query_params.items())
        await audit.by(actor, Action.AUDIT_EXPORT, Outcome.SUCCESS, target_type="AuditLog", detail=detail)
        body = _csv(query) if fmt == "csv" else _jsonl(query)
        return StreamingResponse(
            body,
            media_type=_FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="audit-log.{fmt}"', "Cache-Control": "no-store"},
        )

    return export
