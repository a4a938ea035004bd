"""Vaults (PAMM / LP): the Query / Mutation fields (the actions and the share accounting are
graphql_api/services/vaults.py). Vaults are public products: every signed-in user reads them; a holding and LP
totals are the caller's own."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAdmin, IsAuthenticated, IsTrader
from graphql_api.rejections import Rejection
from graphql_api.services import vaults as actions
from models import vaults as m
from schema.common import After, Connection, First, GlobalID
from schema.vaults import (
    CreateVaultInput,
    CreateVaultResult,
    CrystallizeResult,
    FeePeriod,
    LpTotals,
    LpVaultTotal,
    Vault,
    VaultCreated,
    VaultFeesCrystallized,
    VaultFeeTerms,
    VaultMoved,
    VaultMoveResult,
    VaultPosition,
)

from .node import node_type
from .results import actor, audited, error_result


def _vault_view(row: m.Vault, figures: actions.Figures) -> Vault:
    return Vault(
        id=strawberry.ID(to_global_id("Vault", row.id)),
        name=row.name,
        description=row.description,
        manager_user_id=strawberry.ID(to_global_id("User", row.manager_user_id)),
        manager_bot_id=strawberry.ID(to_global_id("Bot", row.manager_bot_id)) if row.manager_bot_id else None,
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
        venue=figures.venue,
        minimum_deposit=row.minimum_deposit,
        fee_terms=VaultFeeTerms(
            performance_fee_rate=row.performance_fee_rate,
            fee_period=FeePeriod[row.fee_period],
            last_crystallized_at=row.last_crystallized_at,
            next_crystallization_at=row.next_crystallization_at,
        ),
        equity=figures.equity,
        cash=figures.cash,
        free_cash=figures.free_cash,
        shares_outstanding=figures.shares_outstanding,
        nav_per_share=figures.nav_per_share,
        depositors_count=figures.depositors,
        high_water_mark=figures.high_water_mark,
        created_at=row.created_at,
        account_pk=str(row.account_id),
    )


async def _views(rows: list[m.Vault], reader: object) -> list[Vault]:
    figures = await actions.figures_of(rows, reader)
    return [_vault_view(row, figures[row.id]) for row in rows]


async def _view(row: m.Vault, reader: object) -> Vault:
    return (await _views([row], reader))[0]


def _position_view(holding: actions.Holding) -> VaultPosition:
    row = holding.position
    return VaultPosition(
        vault_id=strawberry.ID(to_global_id("Vault", holding.vault.id)),
        vault_name=holding.vault.name,
        shares=row.shares,
        nav_per_share=holding.figures.nav_per_share,
        value=holding.value,
        cost_basis=row.cost_basis,
        pnl=holding.pnl,
        high_water_mark=row.high_water_mark,
        deposited=row.deposited,
        withdrawn=row.withdrawn,
        fees_paid=row.fees_paid,
    )


# -- queries -------------------------------------------------------------------------------------------------


async def vaults(info: Info, first: First = None, after: After = None) -> Connection[Vault]:
    viewer = actor(info)
    page = await paginate(
        m.Vault.all(), first=first, after=after, cap=info.context.settings.max_page_size, convert=lambda r: r
    )
    views = await _views([row for _, row in page.items], viewer.user.id)
    page.items = [(cursor, view) for (cursor, _), view in zip(page.items, views, strict=True)]
    return Connection.of(page)


async def vault(info: Info, id: GlobalID) -> Vault | None:
    row = await m.Vault.get_or_none(id=parse_id(id, "Vault"))
    return await _view(row, actor(info).user.id) if row is not None else None


@node_type("Vault", Vault)
async def vault_node(info: Info, pk: str) -> Vault | None:
    row = await m.Vault.get_or_none(id=pk)
    return await _view(row, actor(info).user.id) if row is not None else None


async def my_vault_positions(info: Info) -> list[VaultPosition]:
    return [_position_view(h) for h in await actions.holdings(actor(info).user.id)]


async def lp_totals(info: Info) -> LpTotals:
    rows = [
        LpVaultTotal(
            vault_id=strawberry.ID(to_global_id("Vault", h.vault.id)),
            vault_name=h.vault.name,
            deposits=h.position.deposited,
            withdrawals=h.position.withdrawn,
            current_value=h.value,
            income=h.income,
        )
        for h in await actions.holdings(actor(info).user.id)
    ]
    zero = Decimal(0)
    return LpTotals(
        vaults=rows,
        deposits=sum((r.deposits for r in rows), zero),
        withdrawals=sum((r.withdrawals for r in rows), zero),
        current_value=sum((r.current_value for r in rows), zero),
        income=sum((r.income for r in rows), zero),
    )


# -- mutations -----------------------------------------------------------------------------------------------


async def _run(action: Any) -> Any:
    try:
        return await action
    except Rejection as rejection:
        return error_result(rejection)


async def create_vault(
    info: Info, input: Annotated[CreateVaultInput, strawberry.argument(description="The vault.")]
) -> CreateVaultResult:
    spec = actions.VaultSpec(
        name=input.name,
        description=input.description,
        manager_bot_id=parse_id(input.manager_bot_id, "Bot", "input.managerBotId") if input.manager_bot_id else None,
        performance_fee_rate=input.performance_fee_rate,
        fee_period=m.FeePeriod(input.fee_period.value),
        minimum_deposit=input.minimum_deposit,
        venue_id=input.venue_id,
    )
    done = await _run(actions.create_vault(info.context, actor(info), spec))
    if isinstance(done, m.Vault):
        return VaultCreated(vault=await _view(done, actor(info).user.id))
    return done


async def _moved(info: Info, done: Any) -> Any:
    if not isinstance(done, actions.Moved):
        return done
    reader = actor(info).user.id
    (holding,) = [h for h in await actions.holdings(reader) if h.vault.id == done.vault.id]
    return VaultMoved(
        vault=await _view(done.vault, reader),
        position=_position_view(holding),
        shares=done.shares,
        amount=done.amount,
        fee_shares=done.fee_shares,
        nav_per_share=done.nav_per_share,
    )


async def deposit_to_vault(
    info: Info,
    vault_id: GlobalID,
    venue_account_id: Annotated[
        strawberry.ID, strawberry.argument(description="Your PAMM source: a PAPER account of yours (same quote asset).")
    ],
    amount: Annotated[Decimal, strawberry.argument(description="Cash to deposit (at most 6 decimals).")],
) -> VaultMoveResult:
    done = await _run(
        actions.deposit(
            info.context,
            actor(info),
            parse_id(vault_id, "Vault", "vaultId"),
            parse_id(venue_account_id, "VenueAccount", "venueAccountId"),
            amount,
        )
    )
    return await _moved(info, done)


async def withdraw_from_vault(
    info: Info,
    vault_id: GlobalID,
    shares: Annotated[Decimal, strawberry.argument(description="Shares to redeem (at most 8 decimals).")],
    venue_account_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Account to pay into; default the account of your last deposit."),
    ] = None,
) -> VaultMoveResult:
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId") if venue_account_id else None
    done = await _run(
        actions.withdraw(info.context, actor(info), parse_id(vault_id, "Vault", "vaultId"), shares, account)
    )
    return await _moved(info, done)


async def crystallize_vault_fees(info: Info, vault_id: GlobalID) -> CrystallizeResult:
    done = await _run(actions.crystallize(info.context, actor(info), parse_id(vault_id, "Vault", "vaultId")))
    if isinstance(done, actions.Crystallized):
        return VaultFeesCrystallized(
            vault=await _view(done.vault, actor(info).user.id),
            nav_per_share=done.nav_per_share,
            fee_shares=done.fee_shares,
            positions_charged=done.positions_charged,
        )
    return done


@strawberry.type
class Query:
    vaults: Connection[Vault] = strawberry.field(
        resolver=vaults, permission_classes=[IsAuthenticated], description="Every vault, newest first."
    )
    vault: Vault | None = strawberry.field(
        resolver=vault,
        permission_classes=[IsAuthenticated],
        description="One vault: NAV, NAV per share, shares outstanding, equity history, depositors, fee terms.",
    )
    my_vault_positions: list[VaultPosition] = strawberry.field(
        resolver=my_vault_positions,
        permission_classes=[IsAuthenticated],
        description="Your vault holdings (every vault you ever deposited into), valued now.",
    )
    lp_totals: LpTotals = strawberry.field(
        resolver=lp_totals,
        permission_classes=[IsAuthenticated],
        description="Your LP totals: deposits, current value and income per vault and overall.",
    )


@strawberry.type
class Mutation:
    create_vault: CreateVaultResult = strawberry.mutation(
        resolver=audited(Action.VAULT_CREATE)(create_vault),
        permission_classes=[IsAdmin],
        description="Create a vault with its own paper account (admins).",
    )
    deposit_to_vault: VaultMoveResult = strawberry.mutation(
        resolver=audited(Action.VAULT_DEPOSIT)(deposit_to_vault),
        permission_classes=[IsTrader],
        description="Move cash from your paper account into a vault, for shares at the current NAV per share "
        "(rounded down to 8 places).",
    )
    withdraw_from_vault: VaultMoveResult = strawberry.mutation(
        resolver=audited(Action.VAULT_WITHDRAW)(withdraw_from_vault),
        permission_classes=[IsTrader],
        description="Redeem shares at the NAV per share, less the performance fee on their gain above your "
        "high-water mark; paid (rounded down to the cent) from the vault's free cash, else refused.",
    )
    crystallize_vault_fees: CrystallizeResult = strawberry.mutation(
        resolver=audited(Action.VAULT_CRYSTALLIZE)(crystallize_vault_fees),
        permission_classes=[IsAdmin],
        description="Charge the performance fee now (admins); it also runs at the end of every fee period.",
    )
