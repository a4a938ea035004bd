"""Funds: ledger transactions, deposits, withdrawals, USDC transfers, deposit totals and income."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import to_global_id
from graphql_api.services import funds as f
from models import funds as m

from .common import InvalidInput, Node, NotFound, enum_from
from .orders import InsufficientFunds

if TYPE_CHECKING:
    from graphql_api.services.funds import Period
    from models.funds import EntryKind
else:
    EntryKind = enum_from(
        m.EntryKind,
        "What moved an account's cash.",
        {
            "OPENING": "The balance the account held before its first ledger row (a paper starting balance).",
            "DEPOSIT": "A deposit.",
            "WITHDRAWAL": "A withdrawal.",
            "TRANSFER_IN": "USDC received from another user.",
            "TRANSFER_OUT": "USDC sent to another user.",
            "REALIZED_PNL": "Profit or loss of a fill that reduced a perp position.",
            "FEE": "A trading fee.",
            "FUNDING": "An hourly funding payment (negative: paid).",
            "LIQUIDATION": "The loss or gain of a liquidated position.",
            "INSURANCE": "The insurance fund covering what a liquidation lost beyond the margin.",
            "REWARD": "A reward claimed.",
        },
        name="TransactionKind",
    )
    Period = enum_from(
        f.Period,
        "A calendar period (UTC; weeks start on Monday).",
        {"DAY": "One day.", "WEEK": "One week.", "MONTH": "One month."},
        name="IncomePeriod",
    )


@strawberry.type(description="One ledger row of one of your accounts.")
class Transaction(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    kind: EntryKind = strawberry.field(description="What moved the cash.")
    amount: Decimal = strawberry.field(description="Credited (positive) or debited (negative).")
    balance_after: Decimal | None = strawberry.field(description="The account's cash after this row.")
    asset: str = strawberry.field(description="Asset (USDC).")
    transaction_id: str = strawberry.field(
        description="The ledger transaction: its rows (this one and its counter rows) sum to zero."
    )
    symbol: str | None = strawberry.field(description="Instrument, for trading rows.")
    counterparty_user_id: strawberry.ID | None = strawberry.field(description="For transfers: the other user.")
    created_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_model(cls, row: m.LedgerEntry, user_id: str) -> Transaction:
        detail = row.detail or {}
        other = detail.get("toUser") if detail.get("fromUser") == user_id else detail.get("fromUser")
        return cls(
            id=strawberry.ID(to_global_id("Transaction", row.id)),
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            kind=row.kind,
            amount=row.amount,
            balance_after=row.balance_after,
            asset=row.asset,
            transaction_id=str(row.txn_id),
            symbol=detail.get("symbol"),
            counterparty_user_id=strawberry.ID(to_global_id("User", other)) if other else None,
            created_at=row.created_at,
        )


@strawberry.input(description="Which transactions to list.")
class TransactionFilter:
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account.")
    kinds: list[EntryKind] | None = strawberry.field(default=None, description="Any of these kinds.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="At or after.")
    to: datetime | None = strawberry.field(default=None, description="Before.")


@strawberry.type(description="Cash moved.")
class FundsMoved:
    venue_account_id: strawberry.ID = strawberry.field(description="The account whose cash moved.")
    amount: Decimal = strawberry.field(description="The amount moved.")
    balance: Decimal = strawberry.field(description="The account's cash afterwards.")


@strawberry.input(description="A deposit.")
class DepositInput:
    amount: Decimal = strawberry.field(description="USDC, positive, at most 6 decimals.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="A Hyperliquid paper account of yours; default your first (opened if none)."
    )
    tx_hash: str | None = strawberry.field(
        default=None, description="An on-chain deposit to verify (live only; needs a configured verifier)."
    )


@strawberry.input(description="A withdrawal.")
class WithdrawInput:
    amount: Decimal = strawberry.field(description="USDC, positive, at most the account's withdrawable.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="A Hyperliquid paper account of yours; default your first."
    )
    destination: str | None = strawberry.field(default=None, description="EVM address it is for (recorded).")


@strawberry.input(description="USDC to another user.")
class SendUsdcInput:
    to: str = strawberry.field(description="The recipient: a user ID or a wallet address.")
    amount: Decimal = strawberry.field(description="USDC, positive, at most your withdrawable.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="The account to send from; default your first Hyperliquid paper account."
    )


FundsResult = Annotated[
    FundsMoved | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union("FundsResult", description="The movement, or why not."),
]


@strawberry.type(description="Deposits and withdrawals of your accounts.")
class DepositTotals:
    total_deposited: Decimal = strawberry.field(description="Σ deposits.")
    deposit_count: int = strawberry.field(description="Number of deposits.")
    total_withdrawn: Decimal = strawberry.field(description="Σ withdrawals (positive).")
    net_deposited: Decimal = strawberry.field(description="totalDeposited − totalWithdrawn.")
    asset: str = strawberry.field(description="USDC.")


@strawberry.type(description="Income of one span of time.")
class IncomeBucket:
    start: datetime = strawberry.field(description="Start (inclusive).")
    end: datetime = strawberry.field(description="End (exclusive).")
    realized_pnl: Decimal = strawberry.field(description="Realized PnL, liquidations included.")
    fees: Decimal = strawberry.field(description="Trading fees paid (positive).")
    funding: Decimal = strawberry.field(description="Funding received less paid.")
    rewards: Decimal = strawberry.field(description="Rewards.")
    net: Decimal = strawberry.field(description="realizedPnl − fees + funding + rewards.")

    @classmethod
    def of(cls, b: f.IncomeBucket) -> IncomeBucket:
        return cls(
            start=b.start,
            end=b.end,
            realized_pnl=b.realized_pnl,
            fees=b.fees,
            funding=b.funding,
            rewards=b.rewards,
            net=b.net,
        )


@strawberry.type(description="Income over a range, in total and per bucket.")
class IncomeReport:
    start: datetime = strawberry.field(description="Start of the range (inclusive).")
    end: datetime = strawberry.field(description="End of the range (exclusive).")
    bucket: Period = strawberry.field(description="Size of each bucket.")
    total: IncomeBucket = strawberry.field(description="The whole range.")
    buckets: list[IncomeBucket] = strawberry.field(description="Per bucket, oldest first.")

    @classmethod
    def of(cls, r: f.Income) -> IncomeReport:
        return cls(
            start=r.start,
            end=r.end,
            bucket=r.bucket,
            total=IncomeBucket.of(r.total),
            buckets=[IncomeBucket.of(b) for b in r.buckets],
        )
