"""Perpetuals: the Query / Mutation fields of the perps domain (actions in graphql_api/services/perps.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.engine import margin as mg
from graphql_api.engine.ledger import SYSTEM_INSURANCE
from graphql_api.ownership import load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import perps as actions
from models import perps as p
from models.funds import LedgerEntry
from models.venues import VenueAccount
from schema.common import After, Connection, First, NotFound
from schema.perps import (
    FundingPayment,
    InsuranceFund,
    LeverageSetting,
    LeverageUpdated,
    PerpAccount,
    PerpLiquidation,
    PerpPosition,
    PositionSide,
    UpdateLeverageInput,
    UpdateLeverageResult,
)

from .results import actor, audited, result

ZERO = Decimal(0)
AccountArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of a Hyperliquid paper account.")]


def position_view(state: actions.PositionState) -> PerpPosition:
    row = state.row
    return PerpPosition(
        id=strawberry.ID(to_global_id("PerpPosition", row.id)),
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
        symbol=row.symbol,
        asset_index=state.asset_index,
        side=PositionSide.LONG if row.size >= 0 else PositionSide.SHORT,
        size=row.size,
        entry_price=row.entry_price,
        mark_price=state.mark,
        oracle_price=state.oracle,
        position_value=state.position_value,
        unrealized_pnl=state.unrealized_pnl,
        leverage=row.leverage,
        max_leverage=mg.max_leverage(row.symbol),
        margin_mode=row.margin_mode,
        initial_margin=state.initial_margin,
        maintenance_margin=state.maintenance_margin,
        isolated_margin=row.isolated_margin,
        margin_used=state.margin_used,
        liquidation_price=state.liquidation_price,
        realized_pnl=row.realized_pnl,
        fees=row.fees,
        funding_paid=row.funding_paid,
        updated_at=row.updated_at,
    )


def account_view(state: actions.AccountState) -> PerpAccount:
    cash = state.cash
    risk_value = (
        cash.total
        - cash.reserved
        + sum((s.unrealized_pnl for s in state.positions if s.row.margin_mode == p.MarginMode.CROSS), ZERO)
    )
    return PerpAccount(
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", state.account.id)),
        cash=cash.total,
        collateral=state.collateral,
        funding_paid=state.funding_paid,
        unrealized_pnl=state.unrealized_pnl,
        account_value=state.account_value,
        isolated_margin=cash.reserved,
        cross_initial_margin=state.cross_initial,
        cross_maintenance_margin=state.cross_maintenance,
        cross_account_value=risk_value,
        withdrawable=state.withdrawable,
        positions=[position_view(s) for s in state.positions if s.row.size != 0],
    )


async def _visible_account(info: Info, venue_account_id: str) -> VenueAccount | None:
    pk = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    return await load_owned(VenueAccount, pk, actor(info))


async def perp_account(info: Info, venue_account_id: AccountArg) -> PerpAccount | None:
    account = await _visible_account(info, venue_account_id)
    if account is None:
        return None
    return account_view(await actions.account_state(info.context, account))


async def perp_positions(
    info: Info,
    venue_account_id: AccountArg,
    include_closed: Annotated[bool, strawberry.argument(description="Also flat positions.")] = False,
) -> list[PerpPosition]:
    account = await _visible_account(info, venue_account_id)
    if account is None:
        return []
    state = await actions.account_state(info.context, account, include_flat=include_closed)
    return [position_view(s) for s in state.positions]


async def funding_payments(
    info: Info, venue_account_id: AccountArg, first: First = None, after: After = None
) -> Connection[FundingPayment]:
    account = await _visible_account(info, venue_account_id)
    query = p.FundingPayment.filter(account_id=account.id if account else None)

    def convert(r: p.FundingPayment) -> FundingPayment:
        return FundingPayment(
            symbol=r.symbol,
            size=r.size,
            oracle_price=r.oracle_price,
            premium=r.premium,
            rate=r.rate,
            amount=r.amount,
            funding_time=r.funding_time,
        )

    page = await paginate(
        query, first=first, after=after, cap=info.context.settings.max_page_size, convert=convert, order=("-id",)
    )
    return Connection.of(page)


async def perp_liquidations(info: Info, venue_account_id: AccountArg) -> list[PerpLiquidation]:
    account = await _visible_account(info, venue_account_id)
    if account is None:
        return []
    rows = await p.Liquidation.filter(account_id=account.id).order_by("-id").limit(200)
    return [
        PerpLiquidation(
            symbol=r.symbol,
            size=r.size,
            entry_price=r.entry_price,
            mark_price=r.mark_price,
            margin_mode=r.margin_mode,
            realized_pnl=r.realized_pnl,
            insurance_covered=r.insurance_covered,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def insurance_fund(info: Info) -> InsuranceFund:
    amounts = await LedgerEntry.filter(ledger_account=SYSTEM_INSURANCE).values_list("amount", flat=True)
    # The fund's legs are the negatives of what it paid to accounts.
    covered = -sum((Decimal(a) for a in amounts), ZERO)
    return InsuranceFund(balance=info.context.settings.perp_insurance_fund - covered, covered=covered)


async def update_leverage(
    info: Info, input: Annotated[UpdateLeverageInput, strawberry.argument(description="The asset and its leverage.")]
) -> UpdateLeverageResult:
    account = parse_id(input.venue_account_id, "VenueAccount", "venueAccountId")
    mode = p.MarginMode(input.margin_mode.value if hasattr(input.margin_mode, "value") else input.margin_mode)
    action = actions.update_leverage(info.context, actor(info), account, input.asset_index, input.leverage, mode)
    return await result(
        action,
        lambda s: LeverageUpdated(
            setting=LeverageSetting(
                venue_account_id=strawberry.ID(to_global_id("VenueAccount", s.account_id)),
                symbol=s.symbol,
                asset_index=s.asset_index,
                leverage=s.leverage,
                max_leverage=mg.max_leverage(s.symbol),
                margin_mode=s.margin_mode,
            )
        ),
    )


@strawberry.type
class Query:
    perp_account: PerpAccount | None = strawberry.field(
        resolver=perp_account,
        permission_classes=[IsAuthenticated],
        description="A Hyperliquid paper account's margin state and open perp positions (null if not yours).",
    )
    perp_positions: list[PerpPosition] = strawberry.field(
        resolver=perp_positions,
        permission_classes=[IsAuthenticated],
        description="Perp positions of an account, with mark, PnL, margin and liquidation price.",
    )
    funding_payments: Connection[FundingPayment] = strawberry.field(
        resolver=funding_payments,
        permission_classes=[IsAuthenticated],
        description="Hourly funding payments of an account's positions, newest first.",
    )
    perp_liquidations: list[PerpLiquidation] = strawberry.field(
        resolver=perp_liquidations,
        permission_classes=[IsAuthenticated],
        description="Liquidations of an account's positions, newest first (at most 200).",
    )
    insurance_fund: InsuranceFund = strawberry.field(
        resolver=insurance_fund,
        permission_classes=[IsAuthenticated],
        description="The insurance fund that pays liquidation losses beyond the margin.",
    )


@strawberry.type
class Mutation:
    update_leverage: UpdateLeverageResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.PERP_UPDATE_LEVERAGE)(update_leverage),
        permission_classes=[IsTrader],
        description="Set an asset's leverage (1 to its maximum) and margin mode for a perp account.",
    )


__all__ = ["Mutation", "NotFound", "Query"]
