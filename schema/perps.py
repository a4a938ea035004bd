"""Perpetuals: positions with margin, liquidation price and funding; the account's margin summary;
leverage settings; funding payments and liquidations. Formulas: graphql_api/engine/margin.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import perps as p

from .common import InvalidInput, Node, NotFound, enum_from
from .orders import InsufficientFunds

if TYPE_CHECKING:
    from models.perps import MarginMode
else:
    MarginMode = enum_from(
        p.MarginMode,
        "How a perp position is margined.",
        {
            "CROSS": "Shares the account's cash not held by isolated positions with every cross position.",
            "ISOLATED": "Holds its own margin, reserved out of the cash; it can lose at most that margin.",
        },
    )


@strawberry.enum(description="Which way a perp position faces.")
class PositionSide(Enum):
    LONG = strawberry.enum_value("LONG", description="Size above zero: gains when the mark rises.")
    SHORT = strawberry.enum_value("SHORT", description="Size below zero: gains when the mark falls.")


@strawberry.type(description="A perpetual position on the paper Hyperliquid venue, valued at the mark price.")
class PerpPosition(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    asset_index: int = strawberry.field(description="Hyperliquid asset index of the instrument.")
    side: PositionSide = strawberry.field(description="LONG or SHORT.")
    size: Decimal = strawberry.field(description="Signed size: above zero long, below zero short.")
    entry_price: Decimal = strawberry.field(description="Size-weighted average price of the fills that opened it.")
    mark_price: Decimal = strawberry.field(
        description="median(best bid, best ask, oracle price): Hyperliquid's book-based mark, the oracle "
        "standing in for the last trade. Margin, PnL and liquidation use it."
    )
    oracle_price: Decimal = strawberry.field(description="The feed price of the instrument (funding uses it).")
    position_value: Decimal = strawberry.field(description="|size| × markPrice.")
    unrealized_pnl: Decimal = strawberry.field(description="size × (markPrice − entryPrice).")
    leverage: int = strawberry.field(description="Leverage the position is margined at.")
    max_leverage: int = strawberry.field(description="The instrument's maximum leverage.")
    margin_mode: MarginMode = strawberry.field(description="CROSS or ISOLATED.")
    initial_margin: Decimal = strawberry.field(description="|size| × markPrice / leverage.")
    maintenance_margin: Decimal = strawberry.field(
        description="|size| × markPrice / (2 × maxLeverage): half the initial margin at maximum leverage."
    )
    isolated_margin: Decimal = strawberry.field(
        description="ISOLATED: the margin held by the position (Σ fill notional / leverage, less funding paid); "
        "0 when CROSS."
    )
    margin_used: Decimal = strawberry.field(description="isolatedMargin when ISOLATED, initialMargin when CROSS.")
    liquidation_price: Decimal | None = strawberry.field(
        description="Mark at which the position is liquidated: markPrice − side × marginAvailable / |size| / "
        "(1 − side / (2 × maxLeverage)), side +1 long −1 short, marginAvailable = (isolatedMargin, or the cross "
        "account value) − maintenance margin, other positions' marks held. Null when no positive price liquidates."
    )
    realized_pnl: Decimal = strawberry.field(description="PnL locked in by reducing fills and liquidations.")
    fees: Decimal = strawberry.field(description="Trading fees paid on this instrument.")
    funding_paid: Decimal = strawberry.field(
        description="Funding paid (positive) or received (negative) over the position's life."
    )
    updated_at: datetime = strawberry.field(description="When a fill, funding or leverage change last changed it.")


@strawberry.type(
    description="A perp account's margin state. Invariant: accountValue = collateral + unrealizedPnl − fundingPaid."
)
class PerpAccount:
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    cash: Decimal = strawberry.field(description="The USDC balance: the sum of the account's ledger rows.")
    collateral: Decimal = strawberry.field(
        description="Cash before funding: deposits and transfers + realized PnL − fees (cash + fundingPaid)."
    )
    funding_paid: Decimal = strawberry.field(description="Σ funding paid less received, over all positions.")
    unrealized_pnl: Decimal = strawberry.field(description="Σ unrealized PnL of the open positions at the mark.")
    account_value: Decimal = strawberry.field(description="collateral + unrealizedPnl − fundingPaid.")
    isolated_margin: Decimal = strawberry.field(description="Cash held by isolated positions.")
    cross_initial_margin: Decimal = strawberry.field(description="Σ initial margin of the cross positions.")
    cross_maintenance_margin: Decimal = strawberry.field(
        description="Σ maintenance margin of the cross positions; below it, they are liquidated."
    )
    cross_account_value: Decimal = strawberry.field(
        description="cash − isolatedMargin + Σ cross unrealized PnL: what the cross positions draw on."
    )
    withdrawable: Decimal = strawberry.field(
        description="max(0, min(cash − isolatedMargin, crossAccountValue − crossInitialMargin))."
    )
    positions: list[PerpPosition] = strawberry.field(description="Open positions.")


@strawberry.type(description="Leverage and margin mode of one asset in one account.")
class LeverageSetting:
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    asset_index: int = strawberry.field(description="Hyperliquid asset index.")
    leverage: int = strawberry.field(description="Leverage new fills of the asset use.")
    max_leverage: int = strawberry.field(description="The instrument's maximum leverage.")
    margin_mode: MarginMode = strawberry.field(description="CROSS or ISOLATED.")


@strawberry.type(description="The leverage was set (and applied to the open position, if any).")
class LeverageUpdated:
    setting: LeverageSetting = strawberry.field(description="The asset's setting now.")


@strawberry.input(description="Set an asset's leverage and margin mode (Hyperliquid's updateLeverage).")
class UpdateLeverageInput:
    venue_account_id: strawberry.ID = strawberry.field(description="A Hyperliquid paper account of yours.")
    asset_index: int = strawberry.field(description="Hyperliquid asset index (BTC 0, ETH 1, …).")
    leverage: int = strawberry.field(description="1 to the instrument's maximum leverage.")
    margin_mode: MarginMode = strawberry.field(
        default=p.MarginMode.CROSS, description="CROSS (default) or ISOLATED; fixed while a position is open."
    )


UpdateLeverageResult = Annotated[
    LeverageUpdated | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union("UpdateLeverageResult", description="The setting, or why not."),
]


@strawberry.type(description="One hourly funding payment of a position.")
class FundingPayment:
    symbol: str = strawberry.field(description="Instrument symbol.")
    size: Decimal = strawberry.field(description="The position's signed size at the hour.")
    oracle_price: Decimal = strawberry.field(description="Oracle price at the hour.")
    premium: Decimal = strawberry.field(
        description="Average premium of the hour: (max(impact bid − oracle, 0) − max(oracle − impact ask, 0)) "
        "/ oracle, impact prices for a 6000 USDC market order."
    )
    rate: Decimal = strawberry.field(
        description="Hourly rate: (premium + clamp(0.0001 − premium, −0.0005, 0.0005)) / 8, capped at ±0.04."
    )
    amount: Decimal = strawberry.field(
        description="size × oraclePrice × rate, rounded to 8 places: paid when positive, received when negative."
    )
    funding_time: datetime = strawberry.field(description="The hour settled.")


@strawberry.type(description="A position closed by the liquidation engine at the mark price.")
class PerpLiquidation:
    symbol: str = strawberry.field(description="Instrument symbol.")
    size: Decimal = strawberry.field(description="Signed size closed.")
    entry_price: Decimal = strawberry.field(description="Entry price of what was closed.")
    mark_price: Decimal = strawberry.field(description="Mark price it was closed at.")
    margin_mode: MarginMode = strawberry.field(description="CROSS or ISOLATED.")
    realized_pnl: Decimal = strawberry.field(description="size × (markPrice − entryPrice).")
    insurance_covered: Decimal = strawberry.field(
        description="The loss beyond the margin it could draw on, paid by the insurance fund (0 usually)."
    )
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="The insurance fund that absorbs liquidation losses accounts cannot cover.")
class InsuranceFund:
    balance: Decimal = strawberry.field(description="PERP_INSURANCE_FUND − Σ losses covered.")
    covered: Decimal = strawberry.field(description="Σ liquidation losses the fund has paid.")
