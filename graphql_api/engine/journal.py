"""The paper venue's execution journal: what the venue itself reports it executed, and the cash it holds for
each account, written in the transaction of the fill but in tables of its own (``venue_executions``,
``venue_cash_movements``), apart from the books (orders, fills, positions, balances, ledger).

Reconciliation (``graphql_api/services/reconciliation.py``) compares the books with this journal, the way a
desk compares its books with a venue's drop copy: a books row changed or lost after the fact shows as a
break. An execution's id is the fill's id (the venue's ExecID). The venue's cash of an account is its
starting balance plus the cash effect of every execution (spot: − notional − fee for a buy, + notional − fee
for a sell) plus every other cash movement (perp realized PnL, fees, funding, deposits: the ledger's user
legs, journaled by ``engine/ledger.py``).
"""

from __future__ import annotations

from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from models.orders import Fill, Order, Side
from models.reconciliation import VenueCashMovement, VenueExecution


def spot_cash_effect(side: Side, price: Decimal, quantity: Decimal, fee: Decimal) -> Decimal:
    """What a spot execution does to the account's cash at the venue."""
    notional = price * quantity
    return -(notional + fee) if side == Side.BUY else notional - fee


async def record_fill(conn: BaseDBAsyncClient, order: Order, fill: Fill, *, cash_delta: Decimal) -> None:
    await VenueExecution.create(
        account_id=fill.account_id,
        exec_id=str(fill.id),
        order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=fill.symbol,
        side=fill.side,
        price=fill.price,
        quantity=fill.quantity,
        fee=fill.fee,
        cash_delta=cash_delta,
        executed_at=fill.created_at,
        using_db=conn,
    )


async def record_cash(conn: BaseDBAsyncClient, movements: list[tuple[object, str, Decimal]]) -> None:
    """Journal cash movements that are not executions: (account id, kind, signed amount) each."""
    if movements:
        await VenueCashMovement.bulk_create(
            [VenueCashMovement(account_id=a, kind=kind, amount=amount) for a, kind, amount in movements],
            using_db=conn,
        )
