"""Reconciliation: runs, their trades with T+0 settlement, breaks, drop-copy uploads and their results."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import paginate, to_global_id
from models import reconciliation as r

from .common import After, Connection, First, InvalidInput, Node, NotFound, enum_from
from .orders import Side

if TYPE_CHECKING:
    from models.reconciliation import BreakStatus, BreakType, DropCopyFormat, RecordSource, Settlement
else:
    RecordSource = enum_from(
        r.RecordSource,
        "Where the venue side of a reconciliation comes from.",
        {
            "JOURNAL": "The paper venue's execution journal, written by the venue at each fill, apart from the books.",
            "DROP_COPY": "The executions of the drop copies uploaded for the account (tokenized venues).",
        },
        name="ReconciliationSource",
    )
    BreakType = enum_from(
        r.BreakType,
        "What differs between the books and the venue. Executions match by id: a fill's id is its ExecID.",
        {
            "MISSING_AT_VENUE": "A fill of the books the venue has no execution for (expected: its quantity).",
            "MISSING_IN_BOOKS": "A venue execution with no fill in the books (actual: its quantity).",
            "QUANTITY_MISMATCH": "An execution's quantity, or an order's filled quantity against the sum of the "
            "venue's executions of it, differs.",
            "PRICE_MISMATCH": "An execution's price differs.",
            "CASH_MISMATCH": "The books' cash of the quote asset differs from the venue's (starting balance + the "
            "cash effect of every venue execution and cash movement).",
            "POSITION_MISMATCH": "A spot position's quantity differs from the venue's net executed quantity "
            "(buys − sells) of the symbol.",
        },
        name="ReconciliationBreakType",
    )
    BreakStatus = enum_from(
        r.BreakStatus,
        "Where a break is in its handling.",
        {"OPEN": "Found, not yet handled.", "RESOLVED": "Closed with a note."},
        name="ReconciliationBreakStatus",
    )
    Settlement = enum_from(
        r.Settlement,
        "T+0 settlement of a trade as of the run.",
        {
            "SETTLED": "No break, and its settlement date (the trade date, or the drop copy's SettlDate) is reached.",
            "PENDING": "No break, settlement date still ahead.",
            "FAILED": "The trade has a break: it cannot settle until it is resolved.",
        },
        name="SettlementStatus",
    )
    DropCopyFormat = enum_from(
        r.DropCopyFormat,
        "How a drop copy is written.",
        {
            "CSV": "A header row of FIX field names, then one execution report per line.",
            "JSON": "An array of objects keyed by FIX field names.",
        },
    )


@strawberry.type(description="A trade seen by a run, with its T+0 settlement status.")
class ReconciledTrade:
    execution_id: str = strawberry.field(description="The ExecID (the fill's id on the paper venue).")
    order_id: str | None = strawberry.field(description="The venue's OrderID (the order's id on the paper venue).")
    symbol: str = strawberry.field(description="Instrument.")
    side: Side = strawberry.field(description="Buy or sell.")
    quantity: Decimal = strawberry.field(description="Executed quantity (the books' when both sides have it).")
    price: Decimal = strawberry.field(description="Execution price (the books' when both sides have it).")
    executed_at: datetime = strawberry.field(description="When it executed.")
    settlement_date: date = strawberry.field(description="When it settles (T+0: the trade date).")
    settlement: Settlement = strawberry.field(description="SETTLED, PENDING or FAILED.")

    @classmethod
    def from_model(cls, row: r.ReconciledTrade) -> ReconciledTrade:
        return cls(
            execution_id=row.exec_id,
            order_id=row.order_id,
            symbol=row.symbol,
            side=Side(row.side),
            quantity=row.quantity,
            price=row.price,
            executed_at=row.executed_at,
            settlement_date=row.settlement_date,
            settlement=Settlement(row.settlement),
        )


@strawberry.type(
    description="One reconciliation run of a venue account: its books compared with the venue records as of a "
    "time. Cash and positions are compared as they stand at the run; trades executed up to asOf."
)
class Reconciliation(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    source: RecordSource = strawberry.field(description="Where the venue side came from.")
    as_of: datetime = strawberry.field(description="Trades executed up to this time were compared.")
    trades_compared: int = strawberry.field(description="Trades on either side.")
    trades_matched: int = strawberry.field(description="Trades with no break.")
    break_count: int = strawberry.field(description="Breaks found (zero: the account reconciles).")
    clean: bool = strawberry.field(description="True when no break was found.")
    books_cash: Decimal = strawberry.field(description="The books' cash of the quote asset.")
    venue_cash: Decimal = strawberry.field(description="The venue's cash of the quote asset.")
    created_at: datetime = strawberry.field(description="When it ran.")
    run_pk: strawberry.Private[str]

    @strawberry.field(description="The trades it compared, in execution order, each with its settlement status.")
    async def trades(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[ReconciledTrade]:
        page = await paginate(
            r.ReconciledTrade.filter(reconciliation_id=self.run_pk),
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=ReconciledTrade.from_model,
            order=("executed_at", "id"),
        )
        return Connection.of(page)

    @classmethod
    def from_model(cls, row: r.Reconciliation) -> Reconciliation:
        return cls(
            id=strawberry.ID(to_global_id("Reconciliation", row.id)),
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            source=RecordSource(row.source),
            as_of=row.as_of,
            trades_compared=row.trades_compared,
            trades_matched=row.trades_matched,
            break_count=row.breaks,
            clean=row.breaks == 0,
            books_cash=row.books_cash,
            venue_cash=row.venue_cash,
            created_at=row.created_at,
            run_pk=str(row.id),
        )


@strawberry.type(description="A difference between the books (expected) and the venue (actual).")
class ReconciliationBreak(Node):
    reconciliation_id: strawberry.ID = strawberry.field(description="Global ID of the run that found it.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    type: BreakType = strawberry.field(description="What differs.")
    execution_id: str | None = strawberry.field(description="The execution at fault, for trade breaks.")
    order_id: str | None = strawberry.field(description="The order concerned, if any.")
    symbol: str | None = strawberry.field(description="Instrument (the quote asset for CASH_MISMATCH).")
    expected: Decimal | None = strawberry.field(description="What the books say (null when the books lack it).")
    actual: Decimal | None = strawberry.field(description="What the venue says (null when the venue lacks it).")
    difference: Decimal | None = strawberry.field(description="actual − expected, when both are known.")
    description: str = strawberry.field(description="What differs, in words.")
    status: BreakStatus = strawberry.field(description="OPEN or RESOLVED.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    resolution_note: str = strawberry.field(description="How it was resolved.")
    created_at: datetime = strawberry.field(description="When it was found.")

    @classmethod
    def from_model(cls, row: r.ReconciliationBreak) -> ReconciliationBreak:
        known = row.expected is not None and row.actual is not None
        return cls(
            id=strawberry.ID(to_global_id("ReconciliationBreak", row.id)),
            reconciliation_id=strawberry.ID(to_global_id("Reconciliation", row.reconciliation_id)),
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            type=BreakType(row.type),
            execution_id=row.exec_id,
            order_id=row.order_id,
            symbol=row.symbol,
            expected=row.expected,
            actual=row.actual,
            difference=row.actual - row.expected if known else None,
            description=row.description,
            status=BreakStatus(row.status),
            resolved_at=row.resolved_at,
            resolution_note=row.resolution_note,
            created_at=row.created_at,
        )


@strawberry.input(description="Narrow the breaks listed.")
class ReconciliationBreakFilter:
    reconciliation_id: strawberry.ID | None = strawberry.field(default=None, description="Only this run's.")
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account's.")
    type: BreakType | None = strawberry.field(default=None, description="Only this type.")
    status: BreakStatus | None = strawberry.field(default=None, description="Only this status.")


@strawberry.input(description="A drop copy of a venue account's executions, in FIX execution-report fields.")
class UploadDropCopyInput:
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    format: DropCopyFormat = strawberry.field(description="CSV or JSON.")
    content: str = strawberry.field(
        description="The document. Columns: ExecID(17), Symbol(55), Side(54: BUY/SELL or 1/2), LastQty(32), "
        "LastPx(31), TransactTime(60: ISO-8601 with zone, or FIX YYYYMMDD-HH:MM:SS[.sss] UTC) required; OrderID(37), "
        "ClOrdID(11), Commission(12, quote asset), SettlDate(64: YYYYMMDD, default the trade date) optional. A bad "
        "row is refused naming it: field `content[<row from 1>].<column>`; nothing is stored then."
    )


@strawberry.type(description="A drop copy stored: its executions are now the venue side of the account.")
class DropCopyUploaded:
    id: strawberry.ID = strawberry.field(description="Global ID of the upload.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    rows: int = strawberry.field(description="Execution reports stored (an ExecID uploaded before is replaced).")
    uploaded_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="The run, with what it found.")
class ReconciliationRan:
    reconciliation: Reconciliation = strawberry.field(description="The run.")
    breaks: list[ReconciliationBreak] = strawberry.field(description="Every break it found.")


@strawberry.type(description="The break after the change.")
class BreakResolved:
    reconciliation_break: ReconciliationBreak = strawberry.field(name="break", description="The break.")


RunReconciliationResult = Annotated[
    ReconciliationRan | InvalidInput | NotFound,
    strawberry.union("RunReconciliationResult", description="The run, or why not."),
]
UploadDropCopyResult = Annotated[
    DropCopyUploaded | InvalidInput | NotFound,
    strawberry.union("UploadDropCopyResult", description="The upload, or the first bad row and column."),
]
ResolveBreakResult = Annotated[
    BreakResolved | InvalidInput | NotFound,
    strawberry.union("ResolveBreakResult", description="The break, or why not (INVALID_TRANSITION)."),
]
