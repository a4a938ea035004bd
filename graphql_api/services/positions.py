"""Position actions: close one position, close every position of an account."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.orders import WORKING, Order, OrderType, Side, TimeInForce
from models.positions import Position

from .. import audit
from ..audit import Action
from ..engine.matching import lock_account
from ..engine.types import Changes, OrderRequest
from ..ownership import Actor, require_owned
from ..rejections import Invalid, Rejection
from .deps import Deps
from .orders import Placed, submit, trading_account


async def open_positions(account_id: str) -> list[Position]:
    return list(await Position.filter(account_id=account_id, quantity__gt=0).order_by("symbol", "created_at"))


async def close_position(deps: Deps, actor: Actor, position_id: str) -> Placed:
    """Cancel the position's working sell orders, then sell all of it at market."""
    async with audit.refusals(actor, Action.POSITION_CLOSE, target_type="Position", target_id=position_id):
        row = await require_owned(Position, position_id, actor, field="id", what="position")
        placed = await _close(deps, actor, row)
        if placed is None:
            raise Invalid("the position is already flat", code="POSITION_FLAT", field="id")
        return placed


async def close_all_positions(deps: Deps, actor: Actor, account_id: str) -> list[Order]:
    """A closing order for every open position; one that is refused (kill switch, say) is skipped."""
    async with audit.refusals(actor, Action.POSITION_CLOSE_ALL, target_type="VenueAccount", target_id=account_id):
        account = await trading_account(actor, account_id)
    orders: list[Order] = []
    for row in await open_positions(str(account.id)):
        try:
            async with audit.refusals(actor, Action.POSITION_CLOSE, target_type="Position", target_id=row.id):
                placed = await _close(deps, actor, row)
        except Rejection:
            continue
        if placed is not None:
            orders.append(placed.order)
    await audit.by(
        actor,
        Action.POSITION_CLOSE_ALL,
        Outcome.SUCCESS,
        target_type="VenueAccount",
        target_id=account.id,
        detail={"closingOrders": len(orders)},
    )
    return orders


async def _close(deps: Deps, actor: Actor, row: Position) -> Placed | None:
    changes = Changes()
    async with in_transaction() as conn:
        await lock_account(conn, str(row.account_id))
        sells = await Order.filter(
            account_id=row.account_id, symbol=row.symbol, side=Side.SELL, status__in=list(WORKING)
        ).using_db(conn)
        await deps.engine.cancel_working(conn, sells, "cancelled to close the position", changes)
    await deps.engine.publish(changes)
    await row.refresh_from_db()
    if row.quantity <= 0:
        return None
    request = OrderRequest(
        account_id=str(row.account_id),
        user_id=str(row.user_id),
        symbol=row.symbol,
        side=Side.SELL,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        quantity=row.quantity,
        price=None,
        stop_price=None,
        client_order_id=None,
    )
    return await submit(deps, actor, request, Action.POSITION_CLOSE)
