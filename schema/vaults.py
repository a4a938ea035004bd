"""Vaults (PAMM / LP): the vault, a holding of it, LP totals, and the deposit / withdraw / fee results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.services.vaults import equity_history
from models import vaults as v

from .common import Conflict, InvalidInput, Node, NotFound, enum_from
from .orders import InsufficientFunds

if TYPE_CHECKING:
    from models.vaults import FeePeriod
else:
    FeePeriod = enum_from(
        v.FeePeriod,
        "How often a vault's performance fee crystallises (calendar periods in UTC).",
        {
            "MONTHLY": "At the end of every calendar month.",
            "QUARTERLY": "At the end of every calendar quarter.",
            "YEARLY": "At the end of every calendar year.",
        },
        name="VaultFeePeriod",
    )


@strawberry.type(description="A vault's equity at one snapshot instant.")
class VaultEquityPoint:
    at: datetime = strawberry.field(description="When (UTC).")
    equity: Decimal = strawberry.field(description="The vault account's equity then: cash plus positions at the mark.")


@strawberry.type(description="A vault's performance fee terms.")
class VaultFeeTerms:
    performance_fee_rate: Decimal = strawberry.field(
        description="Fraction (0 to 0.5) of each depositor's gain above their high-water mark paid to the manager, "
        "in shares."
    )
    fee_period: FeePeriod = strawberry.field(description="When the fee crystallises (also on each withdrawal).")
    last_crystallized_at: datetime | None = strawberry.field(description="The last crystallisation.")
    next_crystallization_at: datetime = strawberry.field(description="The next scheduled crystallisation.")


@strawberry.type(
    description="A vault (PAMM / LP pool): a paper venue account traded by its manager (a bot or a person) and "
    "owned by its depositors in shares. NAV per share = equity / shares outstanding."
)
class Vault(Node):
    name: str = strawberry.field(description="Name (unique).")
    description: str = strawberry.field(description="What it trades and how.")
    manager_user_id: strawberry.ID = strawberry.field(description="Global ID of the manager (the account's owner).")
    manager_bot_id: strawberry.ID | None = strawberry.field(description="Global ID of the bot that trades it, if any.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the vault's own paper account.")
    venue: str = strawberry.field(description="The venue its account trades on.")
    minimum_deposit: Decimal = strawberry.field(description="Smallest deposit, in the quote asset.")
    fee_terms: VaultFeeTerms = strawberry.field(description="Performance fee terms.")
    equity: Decimal = strawberry.field(description="Net asset value: quote cash plus every position at its mark.")
    cash: Decimal = strawberry.field(description="Quote cash of the vault account.")
    free_cash: Decimal = strawberry.field(description="Cash not reserved by working orders: what withdrawals can take.")
    shares_outstanding: Decimal = strawberry.field(description="Shares issued and not burned (8 decimal places).")
    nav_per_share: Decimal = strawberry.field(
        description="equity / sharesOutstanding, rounded down to 12 places; 1 while no shares exist."
    )
    depositors_count: int = strawberry.field(description="Users holding shares (the manager's fee shares included).")
    high_water_mark: Decimal | None = strawberry.field(
        description="Your high-water mark (NAV per share) in this vault, if you hold it; null otherwise."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    account_pk: strawberry.Private[str]

    @strawberry.field(description="The vault's equity at its last snapshots, oldest first.")
    async def equity_history(
        self,
        last: Annotated[int, strawberry.argument(description="How many snapshots (1 to 500).")] = 100,
    ) -> list[VaultEquityPoint]:
        rows = await equity_history(self.account_pk, max(1, min(last, 500)))
        return [VaultEquityPoint(at=at, equity=equity) for at, equity in rows]


@strawberry.type(description="Your holding of one vault, valued now.")
class VaultPosition:
    vault_id: strawberry.ID = strawberry.field(description="Global ID of the vault.")
    vault_name: str = strawberry.field(description="The vault's name.")
    shares: Decimal = strawberry.field(description="Shares held.")
    nav_per_share: Decimal = strawberry.field(description="The vault's NAV per share now.")
    value: Decimal = strawberry.field(
        description="shares × equity / sharesOutstanding, rounded down to the cent: what withdrawing all would pay "
        "before any performance fee."
    )
    cost_basis: Decimal = strawberry.field(
        description="What the shares held cost: deposits, reduced pro rata by the shares withdrawn."
    )
    pnl: Decimal = strawberry.field(description="value − costBasis.")
    high_water_mark: Decimal = strawberry.field(description="NAV per share above which a performance fee is due.")
    deposited: Decimal = strawberry.field(description="Everything deposited.")
    withdrawn: Decimal = strawberry.field(description="Everything paid out.")
    fees_paid: Decimal = strawberry.field(description="Value of the fee shares taken, at the NAV they were taken at.")


@strawberry.type(description="LP figures of one vault for the caller.")
class LpVaultTotal:
    vault_id: strawberry.ID = strawberry.field(description="Global ID of the vault.")
    vault_name: str = strawberry.field(description="The vault's name.")
    deposits: Decimal = strawberry.field(description="Everything deposited.")
    withdrawals: Decimal = strawberry.field(description="Everything paid out.")
    current_value: Decimal = strawberry.field(description="Value of the shares held now.")
    income: Decimal = strawberry.field(description="currentValue + withdrawals − deposits.")


@strawberry.type(description="The caller's LP totals (the Trading App's LP and LP total): per vault and overall.")
class LpTotals:
    vaults: list[LpVaultTotal] = strawberry.field(description="One row per vault the caller ever deposited into.")
    deposits: Decimal = strawberry.field(description="Sum of deposits.")
    withdrawals: Decimal = strawberry.field(description="Sum of payouts.")
    current_value: Decimal = strawberry.field(description="Sum of current values.")
    income: Decimal = strawberry.field(description="Sum of incomes.")


@strawberry.input(description="A new vault.")
class CreateVaultInput:
    name: str = strawberry.field(description="Name, 1 to 100 characters, unique.")
    description: str = strawberry.field(default="", description="Up to 1000 characters.")
    manager_bot_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A STOPPED bot that will trade the vault: the vault's account is its owner's, on its venue, "
        "and the bot moves onto it. Null: you manage it by hand.",
    )
    venue_id: str | None = strawberry.field(
        default=None, description="Spot paper venue of the vault's account (default binance, or the bot's)."
    )
    performance_fee_rate: Decimal = strawberry.field(description="Fraction from 0 to 0.5, at most 4 decimals.")
    fee_period: FeePeriod = strawberry.field(description="When the fee crystallises.")
    minimum_deposit: Decimal = strawberry.field(description="Smallest deposit (0 or more, at most 6 decimals).")


@strawberry.type(description="A vault was created.")
class VaultCreated:
    vault: Vault = strawberry.field(description="The vault.")


@strawberry.type(description="Cash moved into or out of a vault, and shares issued or burned.")
class VaultMoved:
    vault: Vault = strawberry.field(description="The vault afterwards.")
    position: VaultPosition = strawberry.field(description="Your holding afterwards.")
    shares: Decimal = strawberry.field(description="Shares issued (deposit) or burned (withdrawal).")
    amount: Decimal = strawberry.field(description="Cash deposited, or paid out (rounded down to the cent).")
    fee_shares: Decimal = strawberry.field(description="Shares moved to the manager as performance fee.")
    nav_per_share: Decimal = strawberry.field(description="The NAV per share it was done at.")


@strawberry.type(description="The performance fee was crystallised.")
class VaultFeesCrystallized:
    vault: Vault = strawberry.field(description="The vault afterwards.")
    nav_per_share: Decimal = strawberry.field(description="The NAV per share it was charged at.")
    fee_shares: Decimal = strawberry.field(description="Shares moved to the manager in all.")
    positions_charged: int = strawberry.field(description="Positions that were above their high-water mark.")


CreateVaultResult = Annotated[
    VaultCreated | InvalidInput | NotFound | Conflict,
    strawberry.union("CreateVaultResult", description="The vault, or why not (each input named by field)."),
]
VaultMoveResult = Annotated[
    VaultMoved | InvalidInput | NotFound | InsufficientFunds,
    strawberry.union(
        "VaultMoveResult",
        description="The movement, or why not: INVALID_INPUT naming the field, BELOW_MINIMUM, INSUFFICIENT_SHARES, "
        "INSUFFICIENT_FUNDS (your account), VAULT_CASH_SHORT (the vault's free cash cannot pay the withdrawal).",
    ),
]
CrystallizeResult = Annotated[
    VaultFeesCrystallized | NotFound,
    strawberry.union("CrystallizeVaultFeesResult", description="The fee charged, or no such vault."),
]

__all__ = [
    "CreateVaultInput",
    "CreateVaultResult",
    "CrystallizeResult",
    "FeePeriod",
    "LpTotals",
    "LpVaultTotal",
    "Vault",
    "VaultCreated",
    "VaultEquityPoint",
    "VaultFeeTerms",
    "VaultFeesCrystallized",
    "VaultMoveResult",
    "VaultMoved",
    "VaultPosition",
]
