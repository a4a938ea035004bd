"""Reconciliation: run it, upload drop copies, list runs and breaks, resolve breaks (the actions are
graphql_api/services/reconciliation.py; the venue journal is graphql_api/engine/journal.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.services import reconciliation as actions
from models import reconciliation as m
from schema.common import After, Connection, First, GlobalID
from schema.reconciliation import (
    BreakResolved,
    DropCopyUploaded,
    Reconciliation,
    ReconciliationBreak,
    ReconciliationBreakFilter,
    ReconciliationRan,
    RecordSource,
    ResolveBreakResult,
    RunReconciliationResult,
    UploadDropCopyInput,
    UploadDropCopyResult,
)

from .node import node_type
from .results import actor, audited, result

AccountArg = Annotated[strawberry.ID | None, strawberry.argument(description="Only this venue account's (global ID).")]


# -- queries -------------------------------------------------------------------------------------------------


async def reconciliations(
    info: Info, venue_account_id: AccountArg = None, first: First = None, after: After = None
) -> Connection[Reconciliation]:
    query = actions.visible(m.Reconciliation.all(), actor(info))
    if venue_account_id is not None:
        query = query.filter(account_id=parse_id(venue_account_id, "VenueAccount", "venueAccountId"))
    page = await paginate(
        query, first=first, after=after, cap=info.context.settings.max_page_size, convert=Reconciliation.from_model
    )
    return Connection.of(page)


async def reconciliation_breaks(
    info: Info,
    filter: Annotated[
        ReconciliationBreakFilter | None, strawberry.argument(description="Run, account, type, status.")
    ] = None,
    first: First = None,
    after: After = None,
) -> Connection[ReconciliationBreak]:
    query = actions.visible(m.ReconciliationBreak.all(), actor(info))
    if filter is not None:
        if filter.reconciliation_id is not None:
            query = query.filter(
                reconciliation_id=parse_id(filter.reconciliation_id, "Reconciliation", "filter.reconciliationId")
            )
        if filter.venue_account_id is not None:
            query = query.filter(account_id=parse_id(filter.venue_account_id, "VenueAccount", "filter.venueAccountId"))
        if filter.type is not None:
            query = query.filter(type=m.BreakType(filter.type.value))
        if filter.status is not None:
            query = query.filter(status=m.BreakStatus(filter.status.value))
    page = await paginate(
        query,
        first=first,
        after=after,
        cap=info.context.settings.max_page_size,
        convert=ReconciliationBreak.from_model,
    )
    return Connection.of(page)


@node_type("Reconciliation", Reconciliation)
async def reconciliation_node(info: Info, pk: str) -> Reconciliation | None:
    row = await load_owned(m.Reconciliation, pk, actor(info))
    return Reconciliation.from_model(row) if row is not None else None


@node_type("ReconciliationBreak", ReconciliationBreak)
async def break_node(info: Info, pk: str) -> ReconciliationBreak | None:
    row = await load_owned(m.ReconciliationBreak, pk, actor(info))
    return ReconciliationBreak.from_model(row) if row is not None else None


# -- mutations -----------------------------------------------------------------------------------------------


async def run_reconciliation(
    info: Info,
    venue_account_id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of the venue account.")],
    as_of: Annotated[
        datetime | None, strawberry.argument(description="Compare trades executed up to this time (default now).")
    ] = None,
    records: Annotated[
        RecordSource | None,
        strawberry.argument(
            name="source", description="The venue side (default: DROP_COPY for tokenized venues, else JOURNAL)."
        ),
    ] = None,
) -> RunReconciliationResult:
    pk = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    kind = m.RecordSource(records.value) if records is not None else None
    return await result(
        actions.run(actor(info), pk, as_of, kind),
        lambda ran: ReconciliationRan(
            reconciliation=Reconciliation.from_model(ran.run),
            breaks=[ReconciliationBreak.from_model(b) for b in ran.breaks],
        ),
    )


async def upload_drop_copy(
    info: Info, input: Annotated[UploadDropCopyInput, strawberry.argument(description="The drop copy.")]
) -> UploadDropCopyResult:
    pk = parse_id(input.venue_account_id, "VenueAccount", "input.venueAccountId")
    return await result(
        actions.upload_drop_copy(actor(info), pk, m.DropCopyFormat(input.format.value), input.content),
        lambda row: DropCopyUploaded(
            id=strawberry.ID(to_global_id("DropCopy", row.id)),
            venue_account_id=input.venue_account_id,
            rows=row.rows,
            uploaded_at=row.uploaded_at,
        ),
    )


async def resolve_break(
    info: Info,
    id: GlobalID,
    note: Annotated[str, strawberry.argument(description="How it was resolved (1–2000 characters).")],
) -> ResolveBreakResult:
    pk = parse_id(id, "ReconciliationBreak")
    return await result(
        actions.resolve_break(actor(info), pk, note),
        lambda row: BreakResolved(reconciliation_break=ReconciliationBreak.from_model(row)),
    )


@strawberry.type
class Query:
    reconciliations: Connection[Reconciliation] = strawberry.field(
        resolver=reconciliations,
        permission_classes=[IsAuthenticated],
        description="Reconciliation runs, newest first: of your accounts (admins: every account).",
    )
    reconciliation_breaks: Connection[ReconciliationBreak] = strawberry.field(
        resolver=reconciliation_breaks,
        permission_classes=[IsAuthenticated],
        description="Reconciliation breaks, newest first: of your accounts (admins: every account).",
    )


@strawberry.type
class Mutation:
    run_reconciliation: RunReconciliationResult = strawberry.mutation(
        resolver=audited(Action.RECONCILIATION_RUN)(run_reconciliation),
        permission_classes=[IsTrader],
        description="Reconcile a venue account (yours; admins: any) as of a time: the books against the venue's "
        "journal or drop copy, every difference a typed break.",
    )
    upload_drop_copy: UploadDropCopyResult = strawberry.mutation(
        resolver=audited(Action.RECONCILIATION_UPLOAD_DROP_COPY)(upload_drop_copy),
        permission_classes=[IsTrader],
        description="Store a venue's drop copy of an account's executions (FIX execution-report fields), all rows "
        "or none.",
    )
    resolve_break: ResolveBreakResult = strawberry.mutation(
        resolver=audited(Action.RECONCILIATION_RESOLVE_BREAK)(resolve_break),
        permission_classes=[IsTrader],
        description="OPEN → RESOLVED with a note (the account's owner or an admin).",
    )
