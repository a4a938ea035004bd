"""Pre-trade checks: an ordered pipeline run under the account lock before an order is written.

Each check looks at the order and the locked account state and raises a typed rejection
(``graphql_api.rejections``) to refuse it; nothing has been written yet, so a refusal leaves no trace but
its audit row. Compliance rules append themselves to ``PRE_TRADE_CHECKS``. Buying power is checked by the
matching itself (what a BUY costs depends on the levels it fills against), after these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from models.killswitch import KillScope
from models.orders import OrderType, Side
from models.positions import Position
from models.preferences import Preferences
from models.venues import Balance

from ..rejections import FundsShort, Invalid, KillSwitchBlocked
from ..scalars import serialize_decimal
from .types import OrderRequest


@dataclass
class PreTrade:
    """An order about to be placed, with what its account holds (read under the account lock)."""

    req: OrderRequest
    conn: BaseDBAsyncClient
    mark: Decimal
    cash: Balance
    position: Position
    # The active kill switch that covers the account, as the lock protocol found it (lock_for_trading).
    blocking: KillScope | None

    @property
    def free_quantity(self) -> Decimal:
        return self.position.quantity - self.position.reserved_quantity


PreTradeCheck = Callable[[PreTrade], Awaitable[None]]


async def kill_switch(trade: PreTrade) -> None:
    """An active kill switch refuses every order except a sell that reduces a held position."""
    if trade.blocking is None:
        return
    reduces_risk = trade.req.side == Side.SELL and trade.req.quantity <= trade.free_quantity
    if not reduces_risk:
        raise KillSwitchBlocked(
            f"the {trade.blocking.value.lower()} kill switch is active: only orders that reduce a position are "
            "accepted",
            scope=trade.blocking.value,
        )


async def held_quantity(trade: PreTrade) -> None:
    """Positions are long-only: a SELL needs its quantity held and not reserved by other sells."""
    req = trade.req
    free = trade.free_quantity
    if req.side == Side.SELL and req.quantity > free:
        raise FundsShort(
            f"selling {req.quantity} {req.symbol} needs that much held and free; {free} is available",
            asset=req.symbol,
            required=req.quantity,
            available=free,
        )


async def stop_not_crossed(trade: PreTrade) -> None:
    """A stop whose trigger the mark already crossed would fire at once: refused, it is almost surely a typo."""
    req = trade.req
    if req.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        return
    assert req.stop_price is not None
    crossed = trade.mark >= req.stop_price if req.side == Side.BUY else trade.mark <= req.stop_price
    if crossed:
        where = "above" if req.side == Side.BUY else "below"
        raise Invalid(
            f"a {req.side.value} stop must be {where} the current mark {serialize_decimal(trade.mark)}",
            code="STOP_WOULD_TRIGGER",
            field="stopPrice",
        )


async def order_notional_limit(conn: BaseDBAsyncClient, req: OrderRequest, mark: Decimal) -> None:
    """The user's self-imposed max order notional (their preferences): quantity × the limit price (the stop
    price of a STOP, the mark for a MARKET order) above it refuses the order, whatever its side."""
    limit: Decimal | None = (
        await Preferences.filter(user_id=req.user_id)
        .using_db(conn)
        .first()
        .values_list("max_order_notional", flat=True)  # type: ignore[assignment]
    )
    if limit is None:
        return
    price = req.price if req.price is not None else req.stop_price if req.stop_price is not None else mark
    notional = req.quantity * price
    if notional > limit:
        raise Invalid(
            f"the order's notional {serialize_decimal(notional)} is above your max order notional "
            f"{serialize_decimal(limit)}",
            code="MAX_ORDER_NOTIONAL",
            field="quantity",
        )


async def self_limit(trade: PreTrade) -> None:
    await order_notional_limit(trade.conn, trade.req, trade.mark)


# In order: the first refusal wins (a blocked trader hears about the kill switch, not about funds).
PRE_TRADE_CHECKS: list[PreTradeCheck] = [kill_switch, held_quantity, stop_not_crossed, self_limit]


async def run_checks(trade: PreTrade) -> None:
    for check in PRE_TRADE_CHECKS:
        await check(trade)
