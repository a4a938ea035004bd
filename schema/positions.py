"""Positions: holdings with live marks and PnL, closing them, the position stream."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from .common import InvalidInput, Node, NotFound
from .killswitch import KillSwitchActive
from .orders import ComplianceRejected, InsufficientFunds, Order, OrderPlaced


@strawberry.type(description="A holding in one instrument, with its live mark and profit and loss.")
class Position(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    quantity: Decimal = strawberry.field(description="Net quantity held: the sum of signed fills.")
    available_quantity: Decimal = strawberry.field(description="Quantity not reserved by working sell orders.")
    average_entry_price: Decimal = strawberry.field(description="Average price paid for what is held.")
    mark_price: Decimal = strawberry.field(description="Latest feed price.")
    market_value: Decimal = strawberry.field(description="quantity × markPrice.")
    cost_basis: Decimal = strawberry.field(description="quantity × averageEntryPrice.")
    unrealized_pnl: Decimal = strawberry.field(description="(markPrice − averageEntryPrice) × quantity.")
    unrealized_pnl_percent: Decimal = strawberry.field(description="unrealizedPnl / costBasis × 100 (0 when flat).")
    realized_pnl: Decimal = strawberry.field(description="Profit or loss locked in by sells, before fees.")
    fees: Decimal = strawberry.field(description="Fees paid on this instrument's fills.")
    updated_at: datetime = strawberry.field(description="When a fill last changed it.")


@strawberry.type(description="A closing order was placed for each position.")
class PositionsClosed:
    orders: list[Order] = strawberry.field(description="The closing market orders.")


@strawberry.input(description="Which positions to list.")
class PositionFilter:
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account.")
    symbol: str | None = strawberry.field(default=None, description="Only this symbol.")
    include_closed: bool = strawberry.field(default=False, description="Also positions now flat.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Admins: another user's positions.")


ClosePositionResult = Annotated[
    OrderPlaced | KillSwitchActive | ComplianceRejected | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union("ClosePositionResult", description="The closing order, or why not."),
]


CloseAllResult = Annotated[
    PositionsClosed | NotFound,
    strawberry.union("CloseAllResult", description="The closing orders, or the account was not found."),
]


@strawberry.type(description="One delivery on positionUpdates.")
class PositionUpdate:
    position: Position = strawberry.field(description="The position with its latest mark.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="Part of the opening snapshot of positions (or a resync).")
