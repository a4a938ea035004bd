"""Several venues at once: the Query / Mutation fields (the actions in graphql_api/services/routing.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.errors import BadUserInput
from graphql_api.pagination import parse_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.ratelimit import MARKET_DATA, TRADING, RateLimit
from graphql_api.rejections import Invalid
from graphql_api.services import routing as actions
from models.orders import Side
from schema.routing import (
    AggregatedOrderBook,
    ArbitrageOpportunity,
    PlaceRoutedOrderInput,
    PlaceRoutedOrderResult,
    RoutedOrderPlaced,
)

from .results import actor, audited, result

Symbol = Annotated[str, strawberry.argument(description="Instrument symbol, case-insensitive, e.g. BTC.")]


def _accounts(ids: list[strawberry.ID]) -> list[str]:
    return [parse_id(i, "VenueAccount", "venueAccountIds") for i in ids]


async def aggregated_order_book(
    info: Info,
    symbol: Symbol,
    venue_account_ids: Annotated[
        list[strawberry.ID],
        strawberry.argument(description="Global IDs of 1 to 10 of your connected spot paper accounts."),
    ],
    depth: Annotated[int, strawberry.argument(description=f"Levels per side, 1 to {actions.MAX_DEPTH}.")] = 20,
) -> AggregatedOrderBook:
    try:
        book = await actions.aggregated_book(info.context, actor(info), symbol, _accounts(venue_account_ids), depth)
    except Invalid as refused:
        raise BadUserInput(refused.message, field=refused.field) from None
    return AggregatedOrderBook.of(book)


async def arbitrage_opportunities(
    info: Info,
    symbol: Symbol,
    min_net_spread_bps: Annotated[
        Decimal,
        strawberry.argument(
            description="Only pairs whose spread after fees is at least this many basis points of the buy price "
            "(0: only those that pay; negative to see how far the others are)."
        ),
    ] = Decimal(0),
) -> list[ArbitrageOpportunity]:
    try:
        found = await actions.arbitrage_opportunities(info.context, symbol, min_net_spread_bps)
    except Invalid as refused:
        raise BadUserInput(refused.message, field=refused.field) from None
    return [ArbitrageOpportunity.of(o) for o in found]


async def place_routed_order(
    info: Info, input: Annotated[PlaceRoutedOrderInput, strawberry.argument(description="The order to route.")]
) -> PlaceRoutedOrderResult:
    routed = actions.place_routed_order(
        info.context,
        actor(info),
        input.symbol,
        Side(input.side.name),
        input.quantity,
        _accounts(input.venue_account_ids),
        input.client_order_id,
    )
    return await result(routed, RoutedOrderPlaced.of)


@strawberry.type
class Query:
    aggregated_order_book: AggregatedOrderBook = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=aggregated_order_book,
        permission_classes=[IsAuthenticated],
        description="Your venues' paper books for one instrument merged, best price after fees first: each "
        "venue quotes the feed with its own small basis, so the books differ.",
    )
    arbitrage_opportunities: list[ArbitrageOpportunity] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=arbitrage_opportunities,
        permission_classes=[IsAuthenticated],
        description="Cross-venue spreads between the spot paper venues' top levels at the current feed step, "
        "after the taker fee on both legs, best first.",
    )


@strawberry.type
class Mutation:
    place_routed_order: PlaceRoutedOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.ORDER_PLACE_ROUTED)(place_routed_order),
        permission_classes=[IsTrader],
        description="Smart order routing: one order split across your venue accounts by best price after fees, "
        "each child a LIMIT IOC order through the normal placement path. Refused whole when the accounts "
        "cannot fill it now.",
    )
