"""Orders: place (idempotently), cancel, list, and the order stream."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.context import Context, Info
from graphql_api.engine.matching import Changes, OrderRequest, Rejection, lock_account, lock_for_trading
from graphql_api.errors import BadUserInput
from graphql_api.pagination import paginate, parse_id
from graphql_api.permissions import ensure_owner, require_principal, target_user
from graphql_api.pubsub import channel
from models.audit import Outcome
from models.market import Instrument, LastPrice
from models.trading import WORKING, OrderType, Side, TimeInForce
from models.trading import Order as OrderRow
from models.venues import AccountStatus, Environment, Venue, VenueAccount
from schema.common import After, Connection, First, GlobalID, InvalidInput, NotFound, invalid
from schema.trading import (
    CancelAllResult,
    CancelOrderResult,
    ComplianceRejected,
    InsufficientFunds,
    KillSwitchActive,
    KillSwitchScope,
    Order,
    OrderCancelled,
    OrderFilter,
    OrderPlaced,
    OrdersCancelled,
    OrderUpdate,
    PlaceOrderInput,
    PlaceOrderResult,
)
from schema.trading import OrderType as OrderTypeInput
from schema.trading import Side as SideInput
from schema.trading import TimeInForce as TimeInForceInput

from .venues import owned_account

_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
AccountArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of the venue account.")]
_PLACE = strawberry.argument(description="The order.")


def _multiple_of(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


async def validate_order(info: Info, input: PlaceOrderInput) -> OrderRequest | InvalidInput | NotFound:
    """Every field checked, each failure naming its field; the account must be the caller's."""
    account = await owned_account(info, input.venue_account_id)
    if isinstance(account, NotFound):
        return account
    if account.environment != Environment.PAPER:
        return invalid("live order routing is not available from this deployment", "venueAccountId")
    if account.status != AccountStatus.CONNECTED:
        return invalid("the venue account is not connected", "venueAccountId", code="ACCOUNT_DISCONNECTED")
    symbol = input.symbol.strip().upper()
    instrument = await Instrument.get_or_none(symbol=symbol)
    venue = await Venue.get(id=account.venue_id)
    if instrument is None or symbol not in venue.symbols:
        return invalid(f"{symbol or 'symbol'} is not traded on {venue.name}", "symbol")
    order_type = OrderType(input.type.name)
    if not input.quantity.is_finite() or input.quantity <= 0:
        return invalid("quantity must be positive", "quantity")
    if not _multiple_of(input.quantity, instrument.lot_size):
        return invalid(f"quantity must be a multiple of the lot size {instrument.lot_size.normalize()}", "quantity")
    needs_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    for field, value, needed in (("price", input.price, needs_price), ("stopPrice", input.stop_price, needs_stop)):
        if needed and value is None:
            return invalid(f"{field} is required for a {order_type.value} order", field)
        if not needed and value is not None:
            return invalid(f"{field} is not used by a {order_type.value} order", field)
        if value is not None:
            if not value.is_finite() or value <= 0:
                return invalid(f"{field} must be positive", field)
            if not _multiple_of(value, instrument.tick_size):
                return invalid(f"{field} must be a multiple of the tick size {instrument.tick_size.normalize()}", field)
    tif = TimeInForce(input.time_in_force.name)
    if order_type in (OrderType.MARKET, OrderType.STOP) and tif == TimeInForce.GTC:
        tif = TimeInForce.IOC  # nothing to rest without a limit price
    if input.client_order_id is not None and not _CLIENT_ORDER_ID.match(input.client_order_id):
        return invalid("clientOrderId must be 1–64 of A-Z a-z 0-9 _ - . :", "clientOrderId")
    return OrderRequest(
        account_id=str(account.id),
        user_id=str(account.user_id),
        symbol=symbol,
        side=Side(input.side.name),
        type=order_type,
        time_in_force=tif,
        quantity=input.quantity,
        price=input.price,
        stop_price=input.stop_price,
        client_order_id=input.client_order_id,
    )


def _same_order(row: OrderRow, req: OrderRequest) -> bool:
    return (row.symbol, row.side, row.type, row.time_in_force, row.quantity, row.price, row.stop_price) == (
        req.symbol,
        req.side,
        req.type,
        req.time_in_force,
        req.quantity,
        req.price,
        req.stop_price,
    )


def _replay(row: OrderRow, req: OrderRequest) -> OrderPlaced | InvalidInput:
    if not _same_order(row, req):
        return invalid(
            "clientOrderId was already used for a different order", "clientOrderId", code="IDEMPOTENCY_KEY_REUSED"
        )
    return OrderPlaced(order=Order.from_model(row), replayed=True)


def rejection_result(rejection: Rejection) -> KillSwitchActive | InsufficientFunds | ComplianceRejected | InvalidInput:
    if rejection.kind == "kill_switch":
        return KillSwitchActive(
            message=rejection.message,
            code=rejection.code,
            field=None,
            scope=KillSwitchScope[rejection.extra["scope"].value],
        )
    if rejection.kind == "funds":
        return InsufficientFunds(
            message=rejection.message,
            code=rejection.code,
            field=rejection.field,
            asset=rejection.extra["asset"],
            required=rejection.extra["required"],
            available=rejection.extra["available"],
        )
    if rejection.kind == "compliance":
        return ComplianceRejected(
            message=rejection.message, code=rejection.code, field=rejection.field, rule=rejection.extra["rule"]
        )
    return invalid(rejection.message, rejection.field, code=rejection.code)


async def submit(ctx: Context, req: OrderRequest, action: str = "order.place") -> PlaceOrderResult:
    """Place a validated order: idempotent on clientOrderId, all-or-nothing, audited, then published."""
    principal = require_principal(ctx)
    if req.client_order_id is not None:
        existing = await OrderRow.get_or_none(account_id=req.account_id, client_order_id=req.client_order_id)
        if existing is not None:
            return _replay(existing, req)
    changes = Changes()
    try:
        async with in_transaction() as conn:
            blocking = await lock_for_trading(conn, req.account_id, req.user_id)
            if req.client_order_id is not None:
                # Re-checked under the account lock: a concurrent retry that won the race is visible now.
                existing = await OrderRow.get_or_none(
                    account_id=req.account_id, client_order_id=req.client_order_id, using_db=conn
                )
                if existing is not None:
                    return _replay(existing, req)
            order = await ctx.engine.place(req, conn, changes, blocking)
            await audit.record(
                action,
                Outcome.SUCCESS,
                actor=principal.user,
                target_type="Order",
                target_id=order.id,
                ip=ctx.client.ip,
                detail={"symbol": req.symbol, "side": req.side.value, "type": req.type.value, "status": order.status},
                conn=conn,
            )
    except Rejection as rejection:
        await audit.record(
            action,
            Outcome.DENIED,
            actor=principal.user,
            target_type="VenueAccount",
            target_id=req.account_id,
            ip=ctx.client.ip,
            detail={"symbol": req.symbol, "code": rejection.code},
        )
        return rejection_result(rejection)
    except IntegrityError:
        # Two retries raced past both checks (SQLite has no row lock): the other one's order stands.
        existing = await OrderRow.get_or_none(account_id=req.account_id, client_order_id=req.client_order_id)
        if existing is None:
            raise
        return _replay(existing, req)
    await ctx.engine.publish(changes)
    return OrderPlaced(order=Order.from_model(order), replayed=False)


async def place_order(info: Info, input: Annotated[PlaceOrderInput, _PLACE]) -> PlaceOrderResult:
    req = await validate_order(info, input)
    if isinstance(req, InvalidInput | NotFound):
        return req  # type: ignore[return-value]
    return await submit(info.context, req)


async def send_test_order(
    info: Info,
    venue_account_id: AccountArg,
    symbol: Annotated[str, strawberry.argument(description="Instrument to test with.")] = "BTC",
) -> PlaceOrderResult:
    """A round trip through the paper venue that cannot trade: an IOC limit buy of one lot at half the
    mark, which nothing can fill, so it is accepted and cancelled without touching balances."""
    instrument = await Instrument.get_or_none(symbol=symbol.strip().upper())
    if instrument is None:
        return invalid(f"{symbol} is not an instrument", "symbol")
    mark = (await LastPrice.get(instrument_id=instrument.id)).price
    price = max(instrument.tick_size, (mark / 2 / instrument.tick_size).to_integral_value() * instrument.tick_size)
    probe = PlaceOrderInput(
        venue_account_id=venue_account_id,
        symbol=instrument.symbol,
        side=SideInput.BUY,
        type=OrderTypeInput.LIMIT,
        quantity=instrument.lot_size,
        price=price,
        time_in_force=TimeInForceInput.IOC,
    )
    req = await validate_order(info, probe)
    if isinstance(req, InvalidInput | NotFound):
        return req  # type: ignore[return-value]
    return await submit(info.context, req, action="venue.test_order")


async def cancel_order(info: Info, id: GlobalID) -> CancelOrderResult:
    ctx = info.context
    principal = require_principal(ctx)
    row = await OrderRow.get_or_none(id=parse_id(id, "Order"))
    if row is None:
        return NotFound(message="no such order", code="NOT_FOUND", field="id")
    ensure_owner(info, row.user_id)
    changes = Changes()
    async with in_transaction() as conn:
        await lock_account(conn, str(row.account_id))
        if not await ctx.engine.cancel(conn, row, "cancelled by user", changes):
            return invalid(f"the order is {row.status.lower()}, not working", "id", code="ORDER_NOT_WORKING")
        await audit.record(
            "order.cancel",
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="Order",
            target_id=row.id,
            ip=ctx.client.ip,
            conn=conn,
        )
    await ctx.engine.publish(changes)
    return OrderCancelled(order=Order.from_model(row))


async def cancel_all_orders(info: Info, venue_account_id: AccountArg) -> CancelAllResult:
    ctx = info.context
    principal = require_principal(ctx)
    account = await owned_account(info, venue_account_id)
    if isinstance(account, NotFound):
        return account
    changes = Changes()
    async with in_transaction() as conn:
        cancelled = await ctx.engine.cancel_account_working(conn, str(account.id), "cancelled by user (all)", changes)
        await audit.record(
            "order.cancel_all",
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="VenueAccount",
            target_id=account.id,
            ip=ctx.client.ip,
            detail={"cancelled": len(cancelled)},
            conn=conn,
        )
    await ctx.engine.publish(changes)
    return OrdersCancelled(orders=[Order.from_model(o) for o in cancelled])


async def order(info: Info, id: GlobalID) -> Order | None:
    row = await OrderRow.get_or_none(id=parse_id(id, "Order"))
    if row is None:
        return None
    ensure_owner(info, row.user_id)
    return Order.from_model(row)


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
    return await paginate(
        query, first=first, after=after, cap=info.context.settings.max_page_size, convert=Order.from_model
    )


async def order_updates(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this account's orders.")
    ] = None,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user's orders.")] = None,
) -> AsyncGenerator[OrderUpdate, None]:
    ctx = info.context
    owner = target_user(info, user_id)
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId") if venue_account_id else None
    if account is not None:
        row = await VenueAccount.get_or_none(id=account)
        if row is None or str(row.user_id) != owner:
            raise BadUserInput("venueAccountId does not name one of the subscriber's accounts", field="venueAccountId")
    return _order_stream(ctx, owner, account)


async def _order_stream(ctx: Context, owner: str, account: str | None) -> AsyncGenerator[OrderUpdate, None]:
    """Working orders first, then every change; each order is re-read so a delivery is never stale."""
    sequence = 0

    async def snapshot() -> list[OrderRow]:
        query = OrderRow.filter(user_id=owner, status__in=list(WORKING))
        if account:
            query = query.filter(account_id=account)
        return list(await query.order_by("created_at"))

    async with ctx.bus.subscribe([channel("orders", owner)]) as events:
        for row in await snapshot():
            sequence += 1
            yield OrderUpdate(order=Order.from_model(row), sequence=sequence, snapshot=True)
        async for event in events:
            rows = await snapshot() if event.resync else []
            if event.payload is not None:
                changed = await OrderRow.get_or_none(id=event.payload["orderId"])
                if changed is None or (account and str(changed.account_id) != account):
                    continue
                rows = [changed]
            for row in rows:
                sequence += 1
                yield OrderUpdate(order=Order.from_model(row), sequence=sequence, snapshot=event.resync)
