"""Orders: the Query / Mutation / Subscription fields of the orders domain. Bodies map input to a domain
action (graphql_api/services/orders.py) or a read."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from graphql_api import fanout
from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.events import channel_for, decode
from graphql_api.events.orders import OrderChanged
from graphql_api.ownership import load_owned
from graphql_api.pagination import paginate, parse_id
from graphql_api.permissions import IsAuthenticated, IsTrader, target_user
from graphql_api.pubsub import BusEvent
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import orders as actions
from models.orders import WORKING, OrderType, Side, TimeInForce
from models.orders import Order as OrderRow
from schema.common import After, Connection, First, GlobalID
from schema.orders import (
    CancelAllResult,
    CancelOrderResult,
    Order,
    OrderCancelled,
    OrderFilter,
    OrderPlaced,
    OrdersCancelled,
    OrderUpdate,
    PlaceOrderInput,
    PlaceOrderResult,
)

from .node import node_type
from .results import actor, audited, result
from .streams import subscriber_scope

AccountArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of the venue account.")]
_PLACE = strawberry.argument(description="The order.")


def placed(value: actions.Placed) -> OrderPlaced:
    return OrderPlaced(order=Order.from_model(value.order), replayed=value.replayed)


async def place_order(info: Info, input: Annotated[PlaceOrderInput, _PLACE]) -> PlaceOrderResult:
    spec = actions.OrderSpec(
        account_id=parse_id(input.venue_account_id, "VenueAccount", "venueAccountId"),
        symbol=input.symbol,
        side=Side(input.side.name),
        type=OrderType(input.type.name),
        quantity=input.quantity,
        price=input.price,
        stop_price=input.stop_price,
        time_in_force=TimeInForce(input.time_in_force.name),
        client_order_id=input.client_order_id,
        reduce_only=input.reduce_only,
    )
    return await result(actions.place_order(info.context, actor(info), spec), placed)


async def cancel_order(info: Info, id: GlobalID) -> CancelOrderResult:
    cancelled = actions.cancel_order(info.context, actor(info), parse_id(id, "Order"))
    return await result(cancelled, lambda row: OrderCancelled(order=Order.from_model(row)))


async def cancel_all_orders(info: Info, venue_account_id: AccountArg) -> CancelAllResult:
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    cancelled = actions.cancel_all_orders(info.context, actor(info), account)
    return await result(cancelled, lambda rows: OrdersCancelled(orders=[Order.from_model(o) for o in rows]))


@node_type("Order", Order)
async def order_node(info: Info, pk: str) -> Order | None:
    row = await load_owned(OrderRow, pk, actor(info))
    return Order.from_model(row) if row else None


async def order(info: Info, id: GlobalID) -> Order | None:
    return await order_node(info, parse_id(id, "Order"))  # type: ignore[return-value]


async def orders(
    info: Info,
    filter: Annotated[OrderFilter | None, strawberry.argument(description="Which orders.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Order]:
    f = filter or OrderFilter()
    query = OrderRow.filter(user_id=target_user(info, f.user_id))
    if f.venue_account_id is not None:
        query = query.filter(account_id=parse_id(f.venue_account_id, "VenueAccount", "filter.venueAccountId"))
    if f.status:
        query = query.filter(status__in=[s.name for s in f.status])
    if f.symbol:
        query = query.filter(symbol=f.symbol.strip().upper())
    if f.side is not None:
        query = query.filter(side=f.side.name)
    if f.from_ is not None:
        query = query.filter(created_at__gte=f.from_)
    if f.to is not None:
        query = query.filter(created_at__lt=f.to)
    return Connection.of(
        await paginate(
            query, first=first, after=after, cap=info.context.settings.max_page_size, convert=Order.from_model
        )
    )


async def order_updates(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this account's orders.")
    ] = None,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user's orders.")] = None,
) -> AsyncGenerator[OrderUpdate, None]:
    owner, account = await subscriber_scope(info, user_id, venue_account_id)
    return await fanout.stream(info, fanout.user_scope(info, owner), lambda: OrderStream(owner, account))


class OrderStream(fanout.Shared[OrderUpdate]):
    """Working orders first, then every change; each order is re-read so a delivery is never stale."""

    def __init__(self, owner: str, account: str | None) -> None:
        self.owner, self.account = owner, account
        self.channels = [channel_for(OrderChanged, owner)]
        self.working: dict[str, OrderRow] = {}

    async def _read(self) -> list[OrderRow]:
        query = OrderRow.filter(user_id=self.owner, status__in=list(WORKING))
        if self.account:
            query = query.filter(account_id=self.account)
        return list(await query.order_by("created_at"))

    async def start(self) -> None:
        self.working = {str(row.id): row for row in await self._read()}

    async def snapshot(self) -> list[OrderUpdate]:
        rows = sorted(self.working.values(), key=lambda row: (row.created_at, str(row.id)))
        return [OrderUpdate(order=Order.from_model(row), sequence=fanout.SEQUENCE_MARK, snapshot=True) for row in rows]

    async def update(self, batch: list[BusEvent]) -> list[OrderUpdate]:
        updates = []
        for event in batch:
            change = decode(event)
            if change is None:
                rows = await self._read()
                self.working = {str(row.id): row for row in rows}
            elif isinstance(change, OrderChanged):
                changed = await OrderRow.get_or_none(id=change.order_id)
                if changed is None or (self.account and str(changed.account_id) != self.account):
                    continue
                rows = [changed]
                if changed.status in WORKING:
                    self.working[str(changed.id)] = changed
                else:
                    self.working.pop(str(changed.id), None)
            else:
                continue
            updates += [
                OrderUpdate(order=Order.from_model(row), sequence=fanout.SEQUENCE_MARK, snapshot=event.resync)
                for row in rows
            ]
        return updates


@strawberry.type
class Query:
    order: Order | None = strawberry.field(
        resolver=order, permission_classes=[IsAuthenticated], description="One order by ID (own, or any for admins)."
    )
    orders: Connection[Order] = strawberry.field(
        resolver=orders, permission_classes=[IsAuthenticated], description="Order history, newest first, filtered."
    )


@strawberry.type
class Mutation:
    place_order: PlaceOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.ORDER_PLACE)(place_order),
        permission_classes=[IsTrader],
        description="Place an order on a paper account. Idempotent on clientOrderId.",
    )
    cancel_order: CancelOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.ORDER_CANCEL)(cancel_order),
        permission_classes=[IsTrader],
        description="Cancel a working order.",
    )
    cancel_all_orders: CancelAllResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.ORDER_CANCEL_ALL)(cancel_all_orders),
        permission_classes=[IsTrader],
        description="Cancel every working order of an account.",
    )


@strawberry.type
class Subscription:
    order_updates: AsyncGenerator[OrderUpdate, None] = strawberry.subscription(
        resolver=order_updates,
        permission_classes=[IsAuthenticated],
        description="Your working orders, then every change to your orders.",
    )
