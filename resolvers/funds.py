"""Funds: the Query / Mutation fields of the funds domain (actions in graphql_api/services/funds.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.periods import next_start, period_start
from graphql_api.permissions import IsAuthenticated, IsTrader, require_principal
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import funds as actions
from models.funds import EntryKind as EntryKindRow
from models.funds import LedgerEntry
from schema.common import After, Connection, First
from schema.funds import (
    DepositInput,
    DepositTotals,
    FundsMoved,
    FundsResult,
    IncomeReport,
    Period,
    SendUsdcInput,
    Transaction,
    TransactionFilter,
    WithdrawInput,
)

from .results import actor, audited, result


def _moved(amount: Decimal) -> Callable[[actions.Moved], FundsMoved]:
    def view(m: actions.Moved) -> FundsMoved:
        return FundsMoved(
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", m.account_id)), amount=amount, balance=m.balance
        )

    return view


def _account(id: strawberry.ID | None) -> str | None:
    return parse_id(id, "VenueAccount", "input.venueAccountId") if id is not None else None


async def deposit(
    info: Info, input: Annotated[DepositInput, strawberry.argument(description="The deposit.")]
) -> FundsResult:
    action = actions.deposit(info.context, actor(info), input.amount, _account(input.venue_account_id), input.tx_hash)
    return await result(action, _moved(input.amount))


async def withdraw(
    info: Info, input: Annotated[WithdrawInput, strawberry.argument(description="The withdrawal.")]
) -> FundsResult:
    action = actions.withdraw(
        info.context, actor(info), input.amount, _account(input.venue_account_id), input.destination
    )
    return await result(action, _moved(input.amount))


async def claim_reward(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="A Hyperliquid paper account of yours; default your first (opened if none)."),
    ] = None,
) -> FundsResult:
    def view(m: actions.Moved) -> FundsMoved:
        return _moved(sum((r.amount for r in m.entries), Decimal(0)))(m)

    action = actions.claim_reward(actor(info), _account(venue_account_id))
    return await result(action, view)


async def send_usdc(
    info: Info, input: Annotated[SendUsdcInput, strawberry.argument(description="The transfer.")]
) -> FundsResult:
    action = actions.send_usdc(info.context, actor(info), input.to, input.amount, _account(input.venue_account_id))
    return await result(action, _moved(input.amount))


async def my_transactions(
    info: Info,
    filter: Annotated[TransactionFilter | None, strawberry.argument(description="Which transactions.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Transaction]:
    user_id = str(require_principal(info.context).user_id)
    f = filter or TransactionFilter()
    query = LedgerEntry.filter(user_id=user_id, ledger_account__startswith="va:")
    if f.venue_account_id is not None:
        query = query.filter(account_id=parse_id(f.venue_account_id, "VenueAccount", "filter.venueAccountId"))
    if f.kinds:
        query = query.filter(kind__in=[EntryKindRow(k.value if hasattr(k, "value") else k) for k in f.kinds])
    if f.from_ is not None:
        query = query.filter(created_at__gte=f.from_)
    if f.to is not None:
        query = query.filter(created_at__lt=f.to)
    page = await paginate(
        query,
        first=first,
        after=after,
        cap=info.context.settings.max_page_size,
        convert=lambda row: Transaction.from_model(row, user_id),
        order=("-id",),
    )
    return Connection.of(page)


async def total_deposited(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this account; default all of yours.")
    ] = None,
) -> DepositTotals:
    user_id = str(require_principal(info.context).user_id)
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId") if venue_account_id else None
    totals = await actions.deposit_totals(user_id, account)
    deposited, count = totals[EntryKindRow.DEPOSIT]
    withdrawn = -totals[EntryKindRow.WITHDRAWAL][0]
    return DepositTotals(
        total_deposited=deposited,
        deposit_count=count,
        total_withdrawn=withdrawn,
        net_deposited=deposited - withdrawn,
        asset="USDC",
    )


def _period(value: object) -> actions.Period:
    return actions.Period(str(getattr(value, "value", value)))


async def income(
    info: Info,
    period: Annotated[Period, strawberry.argument(description="The current day, week or month (UTC).")],
) -> IncomeReport:
    user_id = str(require_principal(info.context).user_id)
    now = datetime.now(UTC)
    kind = _period(period)
    start = period_start(now, kind)
    report = await actions.income(user_id, start, next_start(start, kind), actions.Period.DAY)
    return IncomeReport.of(report)


async def income_custom(
    info: Info,
    from_: Annotated[datetime, strawberry.argument(name="from", description="Start (inclusive).")],
    to: Annotated[datetime, strawberry.argument(description="End (exclusive).")],
    bucket: Annotated[Period, strawberry.argument(description="Bucket size (default DAY).")] = actions.Period.DAY,
) -> IncomeReport:
    from graphql_api.errors import BadUserInput
    from graphql_api.rejections import Invalid

    user_id = str(require_principal(info.context).user_id)
    try:
        report = await actions.income(user_id, from_, to, _period(bucket))
    except Invalid as refused:
        raise BadUserInput(refused.message, field=refused.field) from None
    return IncomeReport.of(report)


@strawberry.type
class Query:
    my_transactions: Connection[Transaction] = strawberry.field(
        resolver=my_transactions,
        permission_classes=[IsAuthenticated],
        description="Ledger rows of your accounts, newest first.",
    )
    total_deposited: DepositTotals = strawberry.field(
        resolver=total_deposited,
        permission_classes=[IsAuthenticated],
        description="Your deposits and withdrawals in total.",
    )
    income: IncomeReport = strawberry.field(
        resolver=income,
        permission_classes=[IsAuthenticated],
        description="Your realized PnL, fees, funding and rewards over the current day, week or month, per day.",
    )
    income_custom: IncomeReport = strawberry.field(
        resolver=income_custom,
        permission_classes=[IsAuthenticated],
        description="Your income over [from, to), per bucket.",
    )


@strawberry.type
class Mutation:
    deposit: FundsResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.FUNDS_DEPOSIT)(deposit),
        permission_classes=[IsTrader],
        description="Credit paper USDC to a Hyperliquid paper account (limited per UTC day).",
    )
    withdraw: FundsResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.FUNDS_WITHDRAW)(withdraw),
        permission_classes=[IsTrader],
        description="Withdraw USDC, at most the account's withdrawable.",
    )
    claim_reward: FundsResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.FUNDS_CLAIM_REWARD)(claim_reward),
        permission_classes=[IsTrader],
        description="Credit your unclaimed referral rewards (REFERRAL_REWARD_RATE of your referred users' fees) "
        "to a Hyperliquid paper account as one REWARD ledger row; exactly once, however many claims race.",
    )
    send_usdc: FundsResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.FUNDS_SEND_USDC)(send_usdc),
        permission_classes=[IsTrader],
        description="Send USDC to another user (by user ID or wallet address), atomically.",
    )
