"""Several venues at once: the aggregated book, arbitrage opportunities and routed orders
(graphql_api/services/routing.py says how the books differ, what a level costs and how routing splits)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import to_global_id
from graphql_api.services import routing as r

from .common import InvalidInput, NotFound
from .orders import ComplianceRejected, InsufficientFunds, Order

if TYPE_CHECKING:
    from models.orders import Side
else:
    from .orders import Side


def _account_id(pk: str | None) -> strawberry.ID | None:
    return strawberry.ID(to_global_id("VenueAccount", pk)) if pk is not None else None


@strawberry.type(description="One price level of one venue's paper book.")
class VenueBookLevel:
    venue: str = strawberry.field(description="Venue id, e.g. coinbase.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        description="Global ID of your account on that venue this level would trade from."
    )
    price: Decimal = strawberry.field(description="Price of the level on that venue.")
    quantity: Decimal = strawberry.field(description="Quantity resting at the level.")
    effective_price: Decimal = strawberry.field(
        description="The price with the venue's taker fee: price × (1 + fee) for an ask you would buy from, "
        "price × (1 − fee) for a bid you would sell to. Levels are ordered by it."
    )

    @classmethod
    def of(cls, level: r.VenueLevel) -> VenueBookLevel:
        return cls(
            venue=level.venue,
            venue_account_id=_account_id(level.account_id),
            price=level.price,
            quantity=level.quantity,
            effective_price=level.effective_price,
        )


@strawberry.type(description="A venue's mark: the feed price with the venue's basis, on the tick grid.")
class VenueMark:
    venue: str = strawberry.field(description="Venue id.")
    mark_price: Decimal = strawberry.field(description="The price the venue's book is built around.")


@strawberry.type(
    description="Your venues' books for one instrument merged level by level, best effective price first: "
    "each venue's book is exactly what an order placed there now trades against."
)
class AggregatedOrderBook:
    id: strawberry.ID = strawberry.field(description="Stable identity (instrument and venues), for client caches.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    step: int = strawberry.field(description="The feed step the books are built at.")
    feed_price: Decimal = strawberry.field(description="The feed price before any venue's basis.")
    bids: list[VenueBookLevel] = strawberry.field(description="Buy levels of every venue, best to sell to first.")
    asks: list[VenueBookLevel] = strawberry.field(description="Sell levels of every venue, best to buy from first.")
    venues: list[VenueMark] = strawberry.field(description="Each venue's mark, in the order the accounts were given.")

    @classmethod
    def of(cls, book: r.AggregatedBook) -> AggregatedOrderBook:
        return cls(
            id=strawberry.ID(f"AggregatedOrderBook:{book.symbol}:{','.join(book.venue_marks)}"),
            symbol=book.symbol,
            step=book.step,
            feed_price=book.feed_price,
            bids=[VenueBookLevel.of(level) for level in book.bids],
            asks=[VenueBookLevel.of(level) for level in book.asks],
            venues=[VenueMark(venue=v, mark_price=m) for v, m in book.venue_marks.items()],
        )


@strawberry.type(description="Buy on one paper venue's best ask and sell on another's best bid, at the current step.")
class ArbitrageOpportunity:
    symbol: str = strawberry.field(description="Instrument symbol.")
    buy_venue: str = strawberry.field(description="Venue to buy on (its best ask).")
    sell_venue: str = strawberry.field(description="Venue to sell on (its best bid).")
    buy_price: Decimal = strawberry.field(description="Best ask on the buy venue.")
    sell_price: Decimal = strawberry.field(description="Best bid on the sell venue.")
    quantity: Decimal = strawberry.field(description="What both top levels hold (the smaller of the two).")
    gross_spread: Decimal = strawberry.field(description="sellPrice − buyPrice, per unit, before fees.")
    net_profit_per_unit: Decimal = strawberry.field(
        description="sellPrice × (1 − fee) − buyPrice × (1 + fee): per unit, after the taker fee on both legs."
    )
    net_profit: Decimal = strawberry.field(description="netProfitPerUnit × quantity.")
    net_spread_bps: Decimal = strawberry.field(description="netProfitPerUnit / buyPrice × 10,000.")

    @classmethod
    def of(cls, o: r.Opportunity) -> ArbitrageOpportunity:
        return cls(
            symbol=o.symbol,
            buy_venue=o.buy_venue,
            sell_venue=o.sell_venue,
            buy_price=o.buy_price,
            sell_price=o.sell_price,
            quantity=o.quantity,
            gross_spread=o.gross_spread,
            net_profit_per_unit=o.net_profit_per_unit,
            net_profit=o.net_profit,
            net_spread_bps=o.net_spread_bps,
        )


@strawberry.input(description="One order split across your venue accounts by best price after fees.")
class PlaceRoutedOrderInput:
    symbol: str = strawberry.field(description="Instrument symbol, e.g. BTC.")
    side: Side = strawberry.field(description="Buy or sell.")
    quantity: Decimal = strawberry.field(description="Total quantity, a multiple of the instrument's lot size.")
    venue_account_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of 1 to 10 of your connected spot paper accounts to route across; on equal "
        "effective prices the one listed first is preferred."
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key (1–60 characters): child n is placed with clientOrderId '<key>:n', so a "
        "retry replays the children instead of placing them again.",
    )


@strawberry.type(description="One venue's share of a routed order.")
class RoutedChildOrder:
    venue: str = strawberry.field(description="Venue id.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the account it was placed on.")
    planned_quantity: Decimal = strawberry.field(description="Quantity the plan gave this venue.")
    limit_price: Decimal = strawberry.field(
        description="The worst price planned on this venue: the child is a LIMIT IOC order at it, so it never "
        "fills worse than planned (if the feed moved since, it may fill less)."
    )
    planned_notional: Decimal = strawberry.field(description="Σ price × quantity of the levels planned, before fees.")
    order: Order | None = strawberry.field(description="The child order as placed; null when it was refused.")
    refusal_code: str | None = strawberry.field(description="Why the child was refused (its error code), if it was.")
    refusal_message: str | None = strawberry.field(description="The refusal's message, if it was refused.")

    @classmethod
    def of(cls, child: r.Child) -> RoutedChildOrder:
        return cls(
            venue=child.venue,
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", child.account_id)),
            planned_quantity=child.quantity,
            limit_price=child.worst_price,
            planned_notional=child.notional,
            order=Order.from_model(child.placed.order) if child.placed else None,
            refusal_code=child.refusal.code if child.refusal else None,
            refusal_message=child.refusal.message if child.refusal else None,
        )


@strawberry.type(description="A routed order was split and its children placed (each child's own outcome inside).")
class RoutedOrderPlaced:
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: Side = strawberry.field(description="Buy or sell.")
    quantity: Decimal = strawberry.field(description="Total quantity asked for.")
    children: list[RoutedChildOrder] = strawberry.field(
        description="One child per account that got a share, in the order the accounts were given."
    )

    @classmethod
    def of(cls, routed: r.Routed) -> RoutedOrderPlaced:
        return cls(
            symbol=routed.symbol,
            side=routed.side,
            quantity=routed.quantity,
            children=[RoutedChildOrder.of(c) for c in routed.children],
        )


PlaceRoutedOrderResult = Annotated[
    RoutedOrderPlaced | InvalidInput | NotFound | InsufficientFunds | ComplianceRejected,
    strawberry.union(
        "PlaceRoutedOrderResult",
        description="The routed order, or why nothing was placed (INSUFFICIENT_LIQUIDITY: your accounts cannot "
        "fill the quantity now; NotFound: no such account of yours).",
    ),
]
