"""Order actions: validate, place (idempotently), cancel, cancel all, and the paper test order."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.market import Instrument, LastPrice
from models.orders import Order, OrderType, Side, TimeInForce
from models.venues import AccountStatus, Environment, Venue, VenueAccount

from .. import audit
from ..audit import Action
from ..engine.matching import lock_account, lock_for_trading
from ..engine.perps import PERP_VENUE
from ..engine.types import Changes, OrderRequest
from ..ownership import Actor, require_owned
from ..rejections import Invalid, Missing, Rejection
from ..scalars import serialize_decimal
from .alerts import order_rejected
from .deps import Deps

_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")


@dataclass
class OrderSpec:
    """An order as asked for, before validation."""

    account_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    reduce_only: bool = False
    bot_id: str | None = None  # the bot placing it, if any


# Work that must commit or roll back with an order (a trading session's lot), run in its transaction once
# the order is placed and filled; a Rejection it raises refuses the order.
Within = Callable[[BaseDBAsyncClient, Order], Awaitable[None]]


@dataclass
class Placed:
    order: Order
    replayed: bool


def _multiple_of(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


async def trading_account(actor: Actor, account_id: str, field: str = "venueAccountId") -> VenueAccount:
    """The caller's own venue account: trading acts only on one's own accounts, admins included."""
    return await require_owned(VenueAccount, account_id, actor, field=field, what="venue account")


async def validate(actor: Actor, spec: OrderSpec) -> OrderRequest:
    """Every field checked, each failure naming its field; the account must be the caller's."""
    account = await trading_account(actor, spec.account_id)
    if account.environment != Environment.PAPER:
        raise Invalid("live order routing is not available from this deployment", field="venueAccountId")
    if account.status != AccountStatus.CONNECTED:
        raise Invalid("the venue account is not connected", code="ACCOUNT_DISCONNECTED", field="venueAccountId")
    symbol = spec.symbol.strip().upper()
    instrument = await Instrument.get_or_none(symbol=symbol)
    venue = await Venue.get(id=account.venue_id)
    if instrument is None or symbol not in venue.symbols:
        raise Invalid(f"{symbol or 'symbol'} is not traded on {venue.name}", field="symbol")
    order_type = spec.type
    if not spec.quantity.is_finite() or spec.quantity <= 0:
        raise Invalid("quantity must be positive", field="quantity")
    if not _multiple_of(spec.quantity, instrument.lot_size):
        raise Invalid(
            f"quantity must be a multiple of the lot size {instrument.lot_size.normalize()}", field="quantity"
        )
    needs_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    for field, value, needed in (("price", spec.price, needs_price), ("stopPrice", spec.stop_price, needs_stop)):
        if needed and value is None:
            raise Invalid(f"{field} is required for a {order_type.value} order", field=field)
        if not needed and value is not None:
            raise Invalid(f"{field} is not used by a {order_type.value} order", field=field)
        if value is not None:
            if not value.is_finite() or value <= 0:
                raise Invalid(f"{field} must be positive", field=field)
            if not _multiple_of(value, instrument.tick_size):
                tick = instrument.tick_size.normalize()
                raise Invalid(f"{field} must be a multiple of the tick size {tick}", field=field)
    tif = spec.time_in_force
    if order_type in (OrderType.MARKET, OrderType.STOP) and tif == TimeInForce.GTC:
        tif = TimeInForce.IOC  # nothing to rest without a limit price
    if spec.client_order_id is not None and not _CLIENT_ORDER_ID.match(spec.client_order_id):
        raise Invalid("clientOrderId must be 1–64 of A-Z a-z 0-9 _ - . :", field="clientOrderId")
    perp = account.venue_id == PERP_VENUE
    if spec.reduce_only and not perp:
        raise Invalid("reduceOnly applies to perp accounts (the Hyperliquid paper venue)", field="reduceOnly")
    return OrderRequest(
        account_id=str(account.id),
        user_id=str(account.user_id),
        symbol=symbol,
        side=spec.side,
        type=order_type,
        time_in_force=tif,
        quantity=spec.quantity,
        price=spec.price,
        stop_price=spec.stop_price,
        client_order_id=spec.client_order_id,
        perp=perp,
        reduce_only=spec.reduce_only,
        bot_id=spec.bot_id,
    )


def _same_order(row: Order, req: OrderRequest) -> bool:
    return (row.symbol, row.side, row.type, row.time_in_force, row.quantity, row.price, row.stop_price) == (
        req.symbol,
        req.side,
        req.type,
        req.time_in_force,
        req.quantity,
        req.price,
        req.stop_price,
    )


def _replay(row: Order, req: OrderRequest) -> Placed:
    if not _same_order(row, req):
        raise Invalid(
            "clientOrderId was already used for a different order",
            code="IDEMPOTENCY_KEY_REUSED",
            field="clientOrderId",
        )
    return Placed(row, replayed=True)


async def place_order(
    deps: Deps, actor: Actor, spec: OrderSpec, action: Action = Action.ORDER_PLACE, within: Within | None = None
) -> Placed:
    """Validate and place: every refusal (input, kill switch, funds) is audited and raised."""
    symbol = {"symbol": spec.symbol.strip().upper()}
    try:
        async with audit.refusals(actor, action, target_type="VenueAccount", target_id=spec.account_id, detail=symbol):
            return await submit(deps, actor, await validate(actor, spec), action, within)
    except Rejection as rejection:
        # A refusal of the order itself (kill switch, funds, compliance, venue) is worth an alert; a bad input
        # or an account that is not the caller's is answered to the caller alone.
        if not isinstance(rejection, Invalid | Missing):
            await order_rejected(
                deps.bus,
                actor.user.id,
                symbol=symbol["symbol"],
                side=spec.side.value,
                quantity=serialize_decimal(spec.quantity),
                bot_id=spec.bot_id,
                code=rejection.code,
                reason=rejection.message,
            )
        raise


async def submit(deps: Deps, actor: Actor, req: OrderRequest, action: Action, within: Within | None = None) -> Placed:
    """Place a validated order: idempotent on clientOrderId, all-or-nothing, audited, then published."""
    if req.client_order_id is not None:
        existing = await Order.get_or_none(account_id=req.account_id, client_order_id=req.client_order_id)
        if existing is not None:
            return _replay(existing, req)
    changes = Changes()
    try:
        async with in_transaction() as conn:
            blocking = await lock_for_trading(conn, req.account_id, req.user_id)
            if req.client_order_id is not None:
                # Re-checked under the account lock: a concurrent retry that won the race is visible now.
                existing = await Order.get_or_none(
                    account_id=req.account_id, client_order_id=req.client_order_id, using_db=conn
                )
                if existing is not None:
                    return _replay(existing, req)
            order = await deps.engine.place(req, conn, changes, blocking)
            if within is not None:
                await within(conn, order)
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="Order",
                target_id=order.id,
                detail={"symbol": req.symbol, "side": req.side.value, "type": req.type.value, "status": order.status},
                conn=conn,
            )
    except IntegrityError:
        # Two retries raced past both checks (SQLite has no row lock): the other one's order stands.
        existing = await Order.get_or_none(account_id=req.account_id, client_order_id=req.client_order_id)
        if existing is None:
            raise
        return _replay(existing, req)
    await deps.engine.publish(changes)
    return Placed(order, replayed=False)


async def send_test_order(deps: Deps, actor: Actor, account_id: str, symbol: str) -> Placed:
    """A round trip through the paper venue that cannot trade: an IOC limit buy of one lot at half the
    mark, which nothing can fill, so it is accepted and cancelled without touching balances."""
    async with audit.refusals(actor, Action.VENUE_TEST_ORDER, target_type="VenueAccount", target_id=account_id):
        instrument = await Instrument.get_or_none(symbol=symbol.strip().upper())
        if instrument is None:
            raise Invalid(f"{symbol} is not an instrument", field="symbol")
        mark = (await LastPrice.get(instrument_id=instrument.id)).price
        tick = instrument.tick_size
        price = max(tick, (mark / 2 / tick).to_integral_value() * tick)
        probe = OrderSpec(
            account_id=account_id,
            symbol=instrument.symbol,
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=instrument.lot_size,
            price=price,
            time_in_force=TimeInForce.IOC,
        )
        return await submit(deps, actor, await validate(actor, probe), Action.VENUE_TEST_ORDER)


async def cancel_order(deps: Deps, actor: Actor, order_id: str) -> Order:
    async with audit.refusals(actor, Action.ORDER_CANCEL, target_type="Order", target_id=order_id):
        row = await require_owned(Order, order_id, actor, field="id", what="order")
        changes = Changes()
        async with in_transaction() as conn:
            await lock_account(conn, str(row.account_id))
            if not await deps.engine.cancel(conn, row, "cancelled by user", changes):
                raise Invalid(f"the order is {row.status.lower()}, not working", code="ORDER_NOT_WORKING", field="id")
            await audit.by(
                actor, Action.ORDER_CANCEL, Outcome.SUCCESS, target_type="Order", target_id=row.id, conn=conn
            )
    await deps.engine.publish(changes)
    return row


async def cancel_all_orders(deps: Deps, actor: Actor, account_id: str) -> list[Order]:
    async with audit.refusals(actor, Action.ORDER_CANCEL_ALL, target_type="VenueAccount", target_id=account_id):
        account = await trading_account(actor, account_id)
    changes = Changes()
    async with in_transaction() as conn:
        cancelled = await deps.engine.cancel_account_working(conn, str(account.id), "cancelled by user (all)", changes)
        await audit.by(
            actor,
            Action.ORDER_CANCEL_ALL,
            Outcome.SUCCESS,
            target_type="VenueAccount",
            target_id=account.id,
            detail={"cancelled": len(cancelled)},
            conn=conn,
        )
    await deps.engine.publish(changes)
    return cancelled


__all__ = ["OrderSpec", "Placed", "Rejection", "cancel_all_orders", "cancel_order", "place_order", "send_test_order"]
