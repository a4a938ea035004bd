"""Orders and fills: the order type, placing and cancelling results, filters, the order stream."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader

from graphql_api.pagination import to_global_id
from models import orders as o

from .common import InvalidInput, Node, NotFound, UserError, enum_from
from .killswitch import KillSwitchActive


class FillsByOrderLoader(DataLoader[str, list[o.Fill]]):
    """An order's fills, oldest first, for many orders in one query."""

    def __init__(self, *, cache: bool = True) -> None:
        super().__init__(load_fn=self._load, cache=cache)

    @staticmethod
    async def _load(keys: Sequence[str]) -> list[list[o.Fill]]:
        grouped: dict[str, list[o.Fill]] = defaultdict(list)
        for row in await o.Fill.filter(order_id__in=list(keys)).order_by("id"):
            grouped[str(row.order_id)].append(row)
        return [grouped.get(key, []) for key in keys]


if TYPE_CHECKING:
    from models.orders import Liquidity, OrderStatus, OrderType, Side, TimeInForce
else:
    Side = enum_from(
        o.Side,
        "Buy or sell.",
        {
            "BUY": "Buy the base asset with the quote asset.",
            "SELL": "Sell the base asset for the quote asset.",
        },
    )

    OrderType = enum_from(
        o.OrderType,
        "How an order executes.",
        {
            "MARKET": "Fill now against the book at any price.",
            "LIMIT": "Fill at `price` or better; the rest rests on the book.",
            "STOP": "Becomes a market order when the mark crosses `stopPrice`.",
            "STOP_LIMIT": "Becomes a limit order at `price` when the mark crosses `stopPrice`.",
        },
    )

    TimeInForce = enum_from(
        o.TimeInForce,
        "How long an order stays working.",
        {
            "GTC": "Good till cancelled: what does not fill rests.",
            "IOC": "Immediate or cancel: fill what is possible now, cancel the rest.",
            "FOK": "Fill or kill: fill all of it now, or none of it.",
        },
    )

    OrderStatus = enum_from(
        o.OrderStatus,
        "Lifecycle of an order.",
        {
            "PENDING": "A stop order waiting for its trigger.",
            "OPEN": "Working on the book, nothing filled yet.",
            "PARTIALLY_FILLED": "Working, partly filled.",
            "FILLED": "Completely filled.",
            "CANCELED": "Ended before filling completely (see filledQuantity).",
            "REJECTED": "Refused by the venue.",
        },
    )

    Liquidity = enum_from(
        o.Liquidity,
        "Whether a fill added or removed liquidity.",
        {
            "MAKER": "The order was resting on the book.",
            "TAKER": "The order took liquidity from the book.",
        },
    )


@strawberry.type(description="One execution of an order.")
class Fill:
    id: strawberry.ID = strawberry.field(description="Fill identifier.")
    price: Decimal = strawberry.field(description="Execution price.")
    quantity: Decimal = strawberry.field(description="Executed quantity (base asset).")
    fee: Decimal = strawberry.field(description="Fee charged, in the quote asset.")
    liquidity: Liquidity = strawberry.field(description="Maker or taker.")
    created_at: datetime = strawberry.field(description="When it executed.")

    @classmethod
    def from_model(cls, row: o.Fill) -> Fill:
        return cls(
            id=strawberry.ID(str(row.id)),
            price=row.price,
            quantity=row.quantity,
            fee=row.fee,
            liquidity=Liquidity(row.liquidity),
            created_at=row.created_at,
        )


@strawberry.type(description="An order on a venue account.")
class Order(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Market, limit, stop or stop-limit.")
    time_in_force: TimeInForce = strawberry.field(description="GTC, IOC or FOK.")
    quantity: Decimal = strawberry.field(description="Ordered quantity (base asset).")
    price: Decimal | None = strawberry.field(description="Limit price (LIMIT, STOP_LIMIT).")
    stop_price: Decimal | None = strawberry.field(description="Trigger price (STOP, STOP_LIMIT).")
    filled_quantity: Decimal = strawberry.field(description="Quantity filled so far (never above quantity).")
    remaining_quantity: Decimal = strawberry.field(description="quantity - filledQuantity.")
    average_price: Decimal | None = strawberry.field(description="Volume-weighted average fill price.")
    fees: Decimal = strawberry.field(description="Fees paid so far, in the quote asset.")
    status: OrderStatus = strawberry.field(description="Where it is in its lifecycle.")
    client_order_id: str | None = strawberry.field(description="The caller's idempotency key.")
    reason: str | None = strawberry.field(description="Why it was cancelled or rejected.")
    bot_id: strawberry.ID | None = strawberry.field(description="Global ID of the bot that placed it, if a bot did.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    order_pk: strawberry.Private[str]

    @strawberry.field(description="Its executions, oldest first.")
    async def fills(self, info: strawberry.Info) -> list[Fill]:
        rows = await info.context.loaders.get(FillsByOrderLoader).load(self.order_pk)
        return [Fill.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, row: o.Order) -> Order:
        return cls(
            id=strawberry.ID(to_global_id("Order", row.id)),
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            symbol=row.symbol,
            side=Side(row.side),
            type=OrderType(row.type),
            time_in_force=TimeInForce(row.time_in_force),
            quantity=row.quantity,
            price=row.price,
            stop_price=row.stop_price,
            filled_quantity=row.filled_quantity,
            remaining_quantity=row.quantity - row.filled_quantity,
            average_price=row.average_price,
            fees=row.fees,
            status=OrderStatus(row.status),
            client_order_id=row.client_order_id,
            reason=row.reason,
            bot_id=strawberry.ID(to_global_id("Bot", row.bot_id)) if row.bot_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            order_pk=str(row.id),
        )


@strawberry.type(description="An order was accepted (it may already be filled).")
class OrderPlaced:
    order: Order = strawberry.field(description="The order.")
    replayed: bool = strawberry.field(
        description="True when this clientOrderId was seen before: the original order is returned, nothing new "
        "was created."
    )


@strawberry.type(description="The account cannot pay for the order, or does not hold what it sells.")
class InsufficientFunds(UserError):
    asset: str = strawberry.field(description="The missing asset.")
    required: Decimal = strawberry.field(description="What the order needs.")
    available: Decimal = strawberry.field(description="What is available.")


@strawberry.type(description="A compliance rule refused the order.")
class ComplianceRejected(UserError):
    rule: str = strawberry.field(description="The rule that refused it.")


@strawberry.type(description="The order was cancelled.")
class OrderCancelled:
    order: Order = strawberry.field(description="The order as cancelled.")


@strawberry.type(description="Working orders were cancelled.")
class OrdersCancelled:
    orders: list[Order] = strawberry.field(description="The cancelled orders.")


@strawberry.input(description="An order to place.")
class PlaceOrderInput:
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of a connected paper account.")
    symbol: str = strawberry.field(description="Instrument symbol (case-insensitive).")
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Order type.")
    quantity: Decimal = strawberry.field(description="Quantity, positive, a multiple of the lot size.")
    price: Decimal | None = strawberry.field(default=None, description="Limit price (LIMIT, STOP_LIMIT).")
    stop_price: Decimal | None = strawberry.field(default=None, description="Trigger price (STOP, STOP_LIMIT).")
    time_in_force: TimeInForce = strawberry.field(
        default=TimeInForce.GTC, description="Defaults to GTC; MARKET and STOP orders never rest (GTC acts as IOC)."
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key (1–64 of A-Z a-z 0-9 _ - . :): a retry with the same key returns the "
        "original order; the same key with other parameters is an error.",
    )
    reduce_only: bool = strawberry.field(
        default=False,
        description="Perp accounts: the order may only reduce the position (opposite side, at most its size).",
    )


@strawberry.input(description="Which orders to list.")
class OrderFilter:
    status: list[OrderStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    symbol: str | None = strawberry.field(default=None, description="Only this symbol.")
    side: Side | None = strawberry.field(default=None, description="Only this side.")
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Placed at or after.")
    to: datetime | None = strawberry.field(default=None, description="Placed before.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Admins: another user's orders.")


PlaceOrderResult = Annotated[
    OrderPlaced | KillSwitchActive | ComplianceRejected | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union(
        "PlaceOrderResult", description="The placed order, or why it was refused (NotFound: no such account of yours)."
    ),
]


CancelOrderResult = Annotated[
    OrderCancelled | NotFound | InvalidInput,
    strawberry.union("CancelOrderResult", description="The cancelled order, or why not."),
]


CancelAllResult = Annotated[
    OrdersCancelled | NotFound,
    strawberry.union("CancelAllResult", description="The cancelled orders, or the account was not found."),
]


@strawberry.type(description="One delivery on orderUpdates.")
class OrderUpdate:
    order: Order = strawberry.field(description="The order as it is now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="Part of the opening snapshot of working orders (or a resync).")
