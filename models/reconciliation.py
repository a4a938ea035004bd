"""T+0 reconciliation: the venue side of the books (the paper venue execution journal, uploaded drop copies),
the reconciliation runs and the breaks they find."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money
from .orders import Side


class RecordSource(StrEnum):
    JOURNAL = "JOURNAL"  # the paper venue execution journal
    DROP_COPY = "DROP_COPY"  # executions uploaded from a venue drop copy


class DropCopyFormat(StrEnum):
    CSV = "CSV"  # a header row of FIX field names, then one execution report per line
    JSON = "JSON"  # an array of objects keyed by FIX field names


class BreakType(StrEnum):
    MISSING_AT_VENUE = "MISSING_AT_VENUE"
    MISSING_IN_BOOKS = "MISSING_IN_BOOKS"
    QUANTITY_MISMATCH = "QUANTITY_MISMATCH"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    CASH_MISMATCH = "CASH_MISMATCH"
    POSITION_MISMATCH = "POSITION_MISMATCH"


class BreakStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class Settlement(StrEnum):
    SETTLED = "SETTLED"
    PENDING = "PENDING"
    FAILED = "FAILED"


class VenueExecution(Model):
    """An execution as the paper venue reports it, written by the venue when it fills, apart from the books."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField()
    exec_id = fields.CharField(max_length=64)
    order_id = fields.CharField(max_length=64, null=True)
    client_order_id = fields.CharField(max_length=64, null=True)
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(Side, max_length=4)
    price = money()
    quantity = money()
    fee = money(default=Decimal(0))
    # What the execution did to the account cash at the venue (spot: minus or plus the notional, minus the fee).
    cash_delta = money(default=Decimal(0))
    executed_at = fields.DatetimeField()

    class Meta:
        table = "venue_executions"
        unique_together = (("account_id", "exec_id"),)
        indexes = (Index(fields=["account_id", "executed_at"]),)


class VenueCashMovement(Model):
    """A cash movement at the venue that is not an execution (perp PnL, fees, funding, deposits)."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField(db_index=True)
    kind = fields.CharField(max_length=16)
    amount = money()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "venue_cash_movements"


class DropCopy(Model):
    """One uploaded drop-copy file of a venue account: its executions are the venue side of a reconciliation."""

    id = fields.UUIDField(primary_key=True)
    account_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField()
    format = fields.CharEnumField(DropCopyFormat, max_length=8)
    rows = fields.IntField()
    uploaded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "drop_copies"


class DropCopyExecution(Model):
    """An execution report of a drop copy, in FIX execution report terms (the latest upload of an ExecID wins)."""

    id = fields.BigIntField(primary_key=True)
    drop_copy_id = fields.UUIDField()
    account_id = fields.UUIDField()
    exec_id = fields.CharField(max_length=64)
    order_id = fields.CharField(max_length=64, null=True)
    client_order_id = fields.CharField(max_length=64, null=True)
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(Side, max_length=4)
    price = money()
    quantity = money()
    fee = money(default=Decimal(0))
    cash_delta = money()
    executed_at = fields.DatetimeField()
    settlement_date = fields.DateField()

    class Meta:
        table = "drop_copy_executions"
        unique_together = (("account_id", "exec_id"),)


class Reconciliation(Model):
    """One run: the books of a venue account compared with the venue records as of a time."""

    id = fields.UUIDField(primary_key=True)
    account_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    source = fields.CharEnumField(RecordSource, max_length=12)
    as_of = fields.DatetimeField()
    trades_compared = fields.IntField(default=0)
    trades_matched = fields.IntField(default=0)
    breaks = fields.IntField(default=0)
    books_cash = money()
    venue_cash = money()
    run_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reconciliations"


class ReconciledTrade(Model):
    """A trade seen by a run, on either side, with its T+0 settlement status."""

    id = fields.BigIntField(primary_key=True)
    reconciliation_id = fields.UUIDField()
    exec_id = fields.CharField(max_length=64)
    order_id = fields.CharField(max_length=64, null=True)
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(Side, max_length=4)
    quantity = money()
    price = money()
    executed_at = fields.DatetimeField()
    settlement_date = fields.DateField()
    settlement = fields.CharEnumField(Settlement, max_length=8)

    class Meta:
        table = "reconciled_trades"
        indexes = (Index(fields=["reconciliation_id", "id"]),)


class ReconciliationBreak(Model):
    """A difference between the books and the venue: what the books say (expected) and the venue (actual)."""

    id = fields.UUIDField(primary_key=True)
    reconciliation_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField()
    user_id = fields.UUIDField(db_index=True)
    type = fields.CharEnumField(BreakType, max_length=20)
    exec_id = fields.CharField(max_length=64, null=True)
    order_id = fields.CharField(max_length=64, null=True)
    symbol = fields.CharField(max_length=32, null=True)
    expected = money(null=True)
    actual = money(null=True)
    description = fields.TextField()
    status = fields.CharEnumField(BreakStatus, max_length=8, default=BreakStatus.OPEN)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.UUIDField(null=True)
    resolution_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reconciliation_breaks"
