"""Copy trading: the outbox of an agent's fills and the dispatcher that places the copies.

Enqueue. Every fill of a published agent's bot writes one ``CopyOrder`` row per ACTIVE subscription, in the
fill's own transaction (``fills.after_fill``): the copies commit or vanish with the fill, so a process that
dies after the commit loses nothing, and (fill, subscription) is unique, so no fill is copied twice. The
copy's quantity is allocation ÷ the agent's capital (its bot's allocated capital) × the fill's quantity,
rounded down to the instrument's lot; below one lot the row is SKIPPED at once, with the reason.

Dispatch. A dispatcher runs in every process. It claims a row with a conditional UPDATE (PENDING, or
CLAIMED with a lapsed claim: its process died), so two processes never both hold a row, and places the copy
as a MARKET order through ``place_order`` (the subscriber's funds, kill switch and compliance apply) with
the client order id ``copy-<row id>``: a retry after a crash between placing and recording replays the order
it already placed instead of placing another. Finishing is a conditional UPDATE of the claimed row too (only
one finish counts, and only it moves the subscription's holdings). A subscription's rows go in order (a
row waits while an earlier one of its subscription is open), so a copied sell sees the copied buys before
it. A refused copy is recorded with its reason and raises an alert for the subscriber; the agent and the
other subscribers are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.agents import (
    OPEN_COPIES,
    Agent,
    AgentSubscription,
    CopyKind,
    CopyOrder,
    CopyStatus,
    SubscriptionStatus,
)
from models.alerts import Alert, AlertCategory, AlertType, Severity
from models.bots import Bot
from models.identity import User
from models.market import Instrument
from models.orders import Order, OrderType, Side
from models.positions import Position

from ..auth import utcnow
from .fills import FillFacts
from .lease import process_name

if TYPE_CHECKING:
    from ..rejections import Rejection
    from ..services.deps import Deps

log = logging.getLogger(__name__)
ZERO = Decimal(0)


def lots(quantity: Decimal, lot: Decimal) -> Decimal:
    """``quantity`` rounded down to whole lots."""
    return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def copy_quantity(allocation: Decimal, capital: Decimal, quantity: Decimal, lot: Decimal) -> Decimal:
    """allocation ÷ capital × quantity in whole lots (one division, so an exact multiple stays exact)."""
    return (allocation * quantity / (capital * lot)).to_integral_value(rounding=ROUND_DOWN) * lot


def client_order_id(row_id: int) -> str:
    return f"copy-{row_id}"


async def enqueue(conn: BaseDBAsyncClient, fill: FillFacts) -> int:
    """The copy rows of one fill of a bot, in the fill's transaction; how many were written."""
    agent = await Agent.filter(bot_id=fill.bot_id, published=True).using_db(conn).first()
    if agent is None:
        return 0
    subscriptions = await AgentSubscription.filter(agent_id=agent.id, status=SubscriptionStatus.ACTIVE).using_db(conn)
    if not subscriptions:
        return 0
    capital = (await Bot.get(id=fill.bot_id, using_db=conn)).allocated_capital
    lot = (await Instrument.get(symbol=fill.symbol, using_db=conn)).lot_size
    rows = []
    for sub in subscriptions:
        quantity = copy_quantity(sub.allocation, Decimal(capital), fill.quantity, Decimal(lot))
        below = quantity <= 0
        rows.append(
            CopyOrder(
                kind=CopyKind.MIRROR,
                fill_id=fill.fill_id,
                subscription_id=sub.id,
                agent_id=agent.id,
                user_id=sub.user_id,
                account_id=sub.account_id,
                symbol=fill.symbol,
                side=fill.side,
                agent_quantity=fill.quantity,
                agent_price=fill.price,
                quantity=quantity,
                status=CopyStatus.SKIPPED if below else CopyStatus.PENDING,
                message=f"below the minimum size: less than one lot ({Decimal(lot).normalize():f})" if below else None,
            )
        )
    await CopyOrder.bulk_create(rows, using_db=conn)
    return len(rows)


def _held(sub: AgentSubscription, symbol: str) -> Decimal:
    return Decimal(str((sub.holdings or {}).get(symbol, "0")))


class CopyDispatcher:
    """Places the copies of the outbox (see the module doc); one per process."""

    def __init__(
        self, deps: Deps, *, interval: timedelta, ttl: timedelta, batch: int = 500, concurrency: int = 8
    ) -> None:
        self._deps = deps
        self._concurrency = concurrency
        self._interval = interval
        self._ttl = ttl
        self._batch = batch
        self.name = process_name()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="copy-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Hand back what this process claimed, so another takes it at once rather than after the claim lapses.
        with contextlib.suppress(Exception):
            await CopyOrder.filter(claimed_by=self.name, status=CopyStatus.CLAIMED).update(claim_until=utcnow())

    async def _loop(self) -> None:
        while True:
            try:
                await self.drain()
            except Exception:
                log.exception("copy dispatch pass failed")
            await asyncio.sleep(self._interval.total_seconds())

    async def drain(self) -> int:
        """Dispatch what is claimable now, oldest first; returns how many rows this call finished.

        Subscriptions go side by side (up to ``concurrency`` at once), each one's rows in order."""
        finished = 0
        gate = asyncio.Semaphore(self._concurrency)
        async with self._lock:
            while True:
                now = utcnow()
                claimable = Q(status=CopyStatus.PENDING) | Q(status=CopyStatus.CLAIMED, claim_until__lt=now)
                candidates = await CopyOrder.filter(claimable).order_by("id").limit(self._batch)
                queues: dict[str, list[CopyOrder]] = {}
                for row in candidates:
                    queues.setdefault(str(row.subscription_id), []).append(row)
                progressed = sum(await asyncio.gather(*(self._run(rows, gate) for rows in queues.values())))
                finished += progressed
                if progressed == 0 or len(candidates) < self._batch:
                    return finished

    async def _run(self, rows: list[CopyOrder], gate: asyncio.Semaphore) -> int:
        """One subscription's rows in order, until one cannot be finished now (an earlier row is open, another
        dispatcher holds it, or it failed)."""
        done = 0
        async with gate:
            for row in rows:
                if await self._earlier_open(row) or not await self._claim(row) or not await self._dispatch(row):
                    break
                done += 1
        return done

    async def _earlier_open(self, row: CopyOrder) -> bool:
        return await CopyOrder.filter(
            subscription_id=row.subscription_id, id__lt=row.id, status__in=list(OPEN_COPIES)
        ).exists()

    async def _claim(self, row: CopyOrder) -> bool:
        now = utcnow()
        claimable = Q(status=CopyStatus.PENDING) | Q(status=CopyStatus.CLAIMED, claim_until__lt=now)
        claimed = await CopyOrder.filter(claimable, id=row.id).update(
            status=CopyStatus.CLAIMED,
            claimed_by=self.name,
            claim_until=now + self._ttl,
            attempts=F("attempts") + 1,
        )
        return bool(claimed)

    async def _dispatch(self, row: CopyOrder) -> bool:
        """Place one claimed copy and record how it ended; False if it stays open (an unexpected error: the
        claim lapses and a dispatcher tries again, replaying the order if it was placed)."""
        from ..audit import Action
        from ..ownership import Actor
        from ..rejections import Rejection
        from ..services.orders import OrderSpec, place_order

        try:
            row = await CopyOrder.get(id=row.id)
            sub = await AgentSubscription.get(id=row.subscription_id)
            if row.kind == CopyKind.MIRROR and sub.status != SubscriptionStatus.ACTIVE:
                return await self._finish(row, CopyStatus.CANCELED, message="the subscription ended")
            quantity = row.order_quantity
            if quantity is None:
                quantity = await self._size(row, sub)
                if quantity <= 0:
                    reason = "nothing copied is left to sell" if row.side == Side.SELL else "below the minimum size"
                    return await self._finish(row, CopyStatus.SKIPPED, message=reason)
                # Recorded before placing: a retry sends the very same order, which then replays.
                await CopyOrder.filter(id=row.id, status=CopyStatus.CLAIMED).update(order_quantity=quantity)
            user = await User.get(id=row.user_id)
            spec = OrderSpec(
                account_id=str(row.account_id),
                symbol=row.symbol,
                side=Side(row.side),
                type=OrderType.MARKET,
                quantity=quantity,
                client_order_id=client_order_id(row.id),
            )
            try:
                placed = await place_order(self._deps, Actor(user, "copy-trading"), spec, Action.AGENT_COPY_ORDER)
            except Rejection as refused:
                return await self._refused(row, refused)
            return await self._placed(row, placed.order)
        except Exception:
            log.exception("copy %s failed; it is retried when its claim lapses", row.id)
            return False

    async def _size(self, row: CopyOrder, sub: AgentSubscription) -> Decimal:
        """What to send: a buy its proportional quantity; a sell at most what the copies bought and the account
        still holds (a CLOSE all of it), in whole lots."""
        if row.side == Side.BUY:
            return row.quantity
        lot = (await Instrument.get(symbol=row.symbol)).lot_size
        position = await Position.get_or_none(account_id=row.account_id, symbol=row.symbol)
        free = position.quantity - position.reserved_quantity if position is not None else ZERO
        wanted = _held(sub, row.symbol) if row.kind == CopyKind.CLOSE else min(row.quantity, _held(sub, row.symbol))
        return max(ZERO, lots(min(wanted, free), Decimal(lot)))

    async def _finish(self, row: CopyOrder, status: CopyStatus, *, message: str) -> bool:
        await CopyOrder.filter(id=row.id, status=CopyStatus.CLAIMED).update(
            status=status, message=message[:500], claim_until=None
        )
        return True

    async def _placed(self, row: CopyOrder, order: Order) -> bool:
        async with in_transaction() as conn:
            # The subscription first, then the row: the order unsubscribing takes them in.
            sub = await AgentSubscription.filter(id=row.subscription_id).using_db(conn).select_for_update().get()
            finished = await (
                CopyOrder.filter(id=row.id, status=CopyStatus.CLAIMED)
                .using_db(conn)
                .update(
                    status=CopyStatus.PLACED,
                    order_id=order.id,
                    filled_quantity=order.filled_quantity,
                    claim_until=None,
                    message=f"{order.status.value}: {order.filled_quantity.normalize():f} filled",
                )
            )
            if finished and order.filled_quantity:
                sign = 1 if row.side == Side.BUY else -1
                held = max(ZERO, _held(sub, row.symbol) + sign * order.filled_quantity)
                holdings = {**(sub.holdings or {}), row.symbol: f"{held.normalize():f}"}
                if held == 0:
                    holdings.pop(row.symbol)
                await AgentSubscription.filter(id=sub.id).using_db(conn).update(holdings=holdings)
        return True

    async def _refused(self, row: CopyOrder, refused: Rejection) -> bool:
        from ..services import alerts

        raised: list[Alert] = []
        async with in_transaction() as conn:
            finished = await (
                CopyOrder.filter(id=row.id, status=CopyStatus.CLAIMED)
                .using_db(conn)
                .update(
                    status=CopyStatus.REFUSED, code=refused.code[:64], message=refused.message[:500], claim_until=None
                )
            )
            if finished:
                agent = await Agent.get(id=row.agent_id, using_db=conn)
                what = "closing" if row.kind == CopyKind.CLOSE else "copy"
                amount = f"{(row.order_quantity or row.quantity).normalize():f}"
                raised.append(
                    await alerts.raise_alert(
                        conn,
                        user_id=row.user_id,
                        type=AlertType.WARNING,
                        category=AlertCategory.TRADING,
                        severity=Severity.HIGH,
                        title=f"Copy of {agent.name} refused",
                        message=f"The {what} order {row.side} {amount} {row.symbol} was refused: {refused.message}",
                        source="copy_trading",
                        metadata={
                            "copyId": str(row.id),
                            "agentId": str(row.agent_id),
                            "subscriptionId": str(row.subscription_id),
                            "code": refused.code,
                        },
                    )
                )
        if raised:
            await alerts.announce(self._deps.bus, raised)
        return True
