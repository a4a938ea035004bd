"""The paper venue's matching engine: orders against the synthetic book, fills, cash and positions.

Accounting (every amount a Decimal; what an outside check can recompute from the fill rows):
- A fill of quantity q at price p costs (BUY) or pays (SELL) p × q in the quote asset, and charges a fee of
  round(p × q × rate, 8 places, half-even), rate = taker fee for liquidity taken at placement or at a stop's
  trigger, maker fee for a resting limit order filled by a later tick. Fees are debited from cash once,
  with the fill that incurs them.
- Positions are long-only (a SELL needs the quantity in hand): quantity = Σ buys − Σ sells; average entry
  is the quantity-weighted price of what is held; realized PnL of a sell = (p − average entry) × q.
- Cash never goes negative: an order is accepted only if its immediate fills plus the reservation for what
  may fill later are covered by available cash (total − reserved). Resting BUY orders reserve
  remaining × limit × (1 + taker fee); STOP buys reserve at the stop price plus a slippage allowance;
  SELL orders reserve their remaining quantity of the position. Reservations are released as orders fill
  or end.

Concurrency: every change to an account runs in one transaction that first locks the account row
(PostgreSQL ``FOR UPDATE``; SQLite serialises writers). A new order then reads the kill switches without
locking them (``lock_for_trading``); how that keeps "no order accepted after an activation" exact is the
protocol described in ``resolvers/killswitch.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from models.killswitch import KillScope, KillSwitch
from models.market import Instrument, LastPrice
from models.orders import WORKING, Fill, Liquidity, Order, OrderStatus, OrderType, Side, TimeInForce
from models.positions import Position
from models.venues import Balance, VenueAccount

from ..events import publish
from ..events.orders import OrderChanged
from ..events.portfolio import PortfolioChanged
from ..events.positions import PositionChanged
from ..pubsub import Bus
from ..rejections import FundsShort
from ..services.alerts import order_filled
from ..settings import Settings
from . import (
    compliance,  # noqa: F401  (its stage joins the pre-trade pipeline on import)
    journal,
)
from .basis import MAX_BASIS, REFERENCE, quotes_with_basis, venue_mark
from .book import Book, Level, available, build_book, sweep
from .checks import PreTrade, run_checks
from .fills import FillFacts, after_fill
from .types import Changes, OrderRequest

log = logging.getLogger(__name__)

_FEE_PLACES = Decimal("1e-8")
_STORE_PLACES = Decimal("1e-12")
STOP_SLIPPAGE = Decimal("0.05")


def fee_for(price: Decimal, quantity: Decimal, rate: Decimal) -> Decimal:
    return (price * quantity * rate).quantize(_FEE_PLACES, rounding=ROUND_HALF_EVEN)


def _store(value: Decimal) -> Decimal:
    return value.quantize(_STORE_PLACES, rounding=ROUND_HALF_EVEN)


def _insufficient(message: str, asset: str, required: Decimal, free: Decimal) -> FundsShort:
    return FundsShort(message, asset=asset, required=required, available=free)


async def lock_account(conn: BaseDBAsyncClient, account_id: str) -> VenueAccount:
    account = await VenueAccount.filter(id=account_id).using_db(conn).select_for_update().get()
    return account


async def lock_for_trading(conn: BaseDBAsyncClient, account_id: str, user_id: str) -> KillScope | None:
    """Lock the account, then return the active kill switch that blocks the user, if any.

    The placement half of the kill switch protocol (the activation half and the proof are in
    ``resolvers/killswitch.py``). Two rules make it exact:

    - The switches are read *after* the account lock is granted, by a statement of its own. Under READ
      COMMITTED (the PostgreSQL default, which this relies on) that statement sees every activation
      committed before it began; on SQLite the whole transaction runs alone.
    - The switch rows are read without any lock. A placement never holds a lock an activation needs on
      the switch row, so an activation's first step (commit ``active``) never queues behind the order
      flow; it waits only at each account lock, for the one placement holding it.
    """
    await lock_account(conn, account_id)
    scopes = {
        row["scope"]
        for row in await KillSwitch.filter(Q(scope=KillScope.GLOBAL) | Q(user_id=user_id), active=True)
        .using_db(conn)
        .values("scope")
    }
    if KillScope.GLOBAL in scopes:
        return KillScope.GLOBAL
    if KillScope.ACCOUNT in scopes:
        return KillScope.ACCOUNT
    return None


def _crosses(book: Book, status: OrderStatus, side: Side, price: Decimal | None, stop: Decimal | None) -> bool:
    """Whether a working order is due at this book: a stop its venue's mark reached, or a limit it crosses."""
    if status == OrderStatus.PENDING:
        assert stop is not None
        return book.mark >= stop if side == Side.BUY else book.mark <= stop
    assert price is not None
    return price >= book.asks[0].price if side == Side.BUY else price <= book.bids[0].price


class PaperEngine:
    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        # The latest book of each (venue, symbol): every order in one feed step trades against the same
        # levels, and rebuilding them per order costs more than the rest of the matching.
        self._books: dict[tuple[str, str], Book] = {}
        from .perps import PerpEngine  # perps builds on this engine's books and locks

        self.perps = PerpEngine(self)

    # -- placement ---------------------------------------------------------------------------------

    async def place(
        self, req: OrderRequest, conn: BaseDBAsyncClient, changes: Changes, blocking: KillScope | None
    ) -> Order:
        """Place ``req`` inside the caller's transaction, after ``lock_for_trading`` (which gave ``blocking``)."""
        if req.perp:
            return await self.perps.place(req, conn, changes, blocking)
        last = await LastPrice.filter(instrument__symbol=req.symbol).using_db(conn).select_related("instrument").get()
        instrument = last.instrument
        cash = await self._cash(conn, req.account_id)
        book = self.book(instrument, last.step, last.price, cash.account.venue_id, last.ts)
        position = await self._position(conn, req.account_id, req.user_id, req.symbol)

        await run_checks(PreTrade(req=req, conn=conn, mark=last.price, cash=cash, position=position, blocking=blocking))

        order = Order(
            account_id=req.account_id,
            user_id=req.user_id,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force,
            quantity=req.quantity,
            price=req.price,
            stop_price=req.stop_price,
            client_order_id=req.client_order_id,
            bot_id=req.bot_id,
            status=OrderStatus.OPEN,
        )
        await order.save(using_db=conn)
        changes.orders[str(order.id)] = req.user_id

        if req.type in (OrderType.STOP, OrderType.STOP_LIMIT):
            order.status = OrderStatus.PENDING
            self._reserve(order, cash, position, self._stop_reservation_price(order))
        else:
            await self._execute(order, book, cash, position, Liquidity.TAKER, conn, changes, placing=True)
        await self._save(conn, order, cash, position)
        return order

    def book(
        self, instrument: Instrument, step: int, mark: Decimal, venue: str = REFERENCE, at: datetime | None = None
    ) -> Book:
        """The full synthetic book of ``instrument`` on ``venue`` at a feed step (built once per step and
        reused): around the feed ``mark``, or for a venue that quotes with a basis around its venue mark at
        the tick's time ``at`` (``engine/basis.py``)."""
        if at is not None:
            mark = venue_mark(venue, instrument.symbol, at, mark, instrument.tick_size)
        key = (venue if quotes_with_basis(venue) else REFERENCE, instrument.symbol)
        cached = self._books.get(key)
        if cached is not None and cached.step == step and cached.mark == mark:
            return cached
        book = build_book(
            seed=self.settings.feed_seed,
            symbol=instrument.symbol,
            step=step,
            mark=mark,
            tick=instrument.tick_size,
            lot=instrument.lot_size,
            level_notional=self.settings.book_level_notional,
        )
        self._books[key] = book
        return book

    def _stop_reservation_price(self, order: Order) -> Decimal:
        if order.type == OrderType.STOP_LIMIT:
            assert order.price is not None
            return order.price
        assert order.stop_price is not None
        return order.stop_price * (Decimal(1) + STOP_SLIPPAGE)

    async def _cash(self, conn: BaseDBAsyncClient, account_id: str) -> Balance:
        """The account's quote-asset balance (created with the paper account) with its account (whose venue
        prices the book), in one query."""
        quote = Subquery(VenueAccount.filter(id=account_id).values("quote_asset"))
        return await Balance.filter(account_id=account_id, asset=quote).using_db(conn).select_related("account").get()

    async def _position(self, conn: BaseDBAsyncClient, account_id: str, user_id: str, symbol: str) -> Position:
        position = await Position.get_or_none(account_id=account_id, symbol=symbol, using_db=conn)
        if position is None:
            position = Position(account_id=account_id, user_id=user_id, symbol=symbol)
        return position

    def _reserve(self, order: Order, cash: Balance, position: Position, unit_price: Decimal) -> None:
        remaining = order.quantity - order.filled_quantity
        if order.side == Side.BUY:
            need = _store(remaining * unit_price * (Decimal(1) + self.settings.taker_fee))
            free = cash.total - cash.reserved
            if need > free:
                raise _insufficient(
                    f"the order needs {need} {cash.asset} reserved; {free} is available", cash.asset, need, free
                )
            order.reserved_cash = need
            cash.reserved += need
        else:
            order.reserved_quantity = remaining
            position.reserved_quantity += remaining

    async def _execute(
        self,
        order: Order,
        book: Book,
        cash: Balance,
        position: Position,
        liquidity: Liquidity,
        conn: BaseDBAsyncClient,
        changes: Changes,
        *,
        placing: bool,
    ) -> None:
        """Match what can match now; then rest, cancel the rest, or reject, by type and time in force."""
        remaining = order.quantity - order.filled_quantity
        limit = order.price if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        levels = book.side_for(order.side.value)
        rests = order.time_in_force == TimeInForce.GTC and limit is not None

        if order.time_in_force == TimeInForce.FOK and available(levels, order.side.value, limit) < remaining:
            self._finish(order, cash, position, OrderStatus.CANCELED, "fill-or-kill: the book cannot fill it all")
            return
        fills = sweep(levels, remaining, order.side.value, limit)
        if order.side == Side.BUY:
            fills = self._affordable(order, fills, cash, liquidity, rests, placing, book.lot)
        for level in fills:
            await self._fill(order, level, cash, position, liquidity, conn)
        changes.positions[(str(order.account_id), order.symbol)] = str(order.user_id)

        if order.filled_quantity == order.quantity:
            self._finish(order, cash, position, OrderStatus.FILLED, None)
            await order_filled(conn, order)
        elif rests:
            order.status = OrderStatus.PARTIALLY_FILLED if order.filled_quantity else OrderStatus.OPEN
            if placing:
                assert limit is not None
                self._reserve(order, cash, position, limit)
        else:
            reason = "immediate-or-cancel: the rest was cancelled" if order.filled_quantity else "nothing to fill"
            self._finish(order, cash, position, OrderStatus.CANCELED, reason)

    def _affordable(
        self,
        order: Order,
        fills: list[Level],
        cash: Balance,
        liquidity: Liquidity,
        rests: bool,
        placing: bool,
        lot: Decimal,
    ) -> list[Level]:
        """BUY fills the account can pay for, counting the order's own reservation.

        Placing, the whole order must be covered (its fills now plus the reservation for a resting rest)
        or it is rejected. A triggered stop fills only as much as its reservation plus free cash covers.
        """
        rate = self._rate(liquidity)
        budget = cash.total - cash.reserved + order.reserved_cash
        if placing:
            cost = sum((lv.price * lv.quantity + fee_for(lv.price, lv.quantity, rate) for lv in fills), Decimal(0))
            reserve = Decimal(0)
            if rests:
                assert order.price is not None
                rest = order.quantity - order.filled_quantity - sum((f.quantity for f in fills), Decimal(0))
                reserve = rest * order.price * (Decimal(1) + self.settings.taker_fee)
            need = _store(cost + reserve)
            if need > budget:
                raise _insufficient(
                    f"the order needs {need} {cash.asset}; {budget} is available", cash.asset, need, budget
                )
            return fills
        affordable: list[Level] = []
        for level in fills:
            cost = level.price * level.quantity + fee_for(level.price, level.quantity, rate)
            if cost <= budget:
                affordable.append(level)
                budget -= cost
                continue
            lots = (budget / (level.price * (Decimal(1) + rate)) / lot).to_integral_value(rounding=ROUND_DOWN)
            if lots > 0:
                affordable.append(Level(level.price, lots * lot))
            break
        return affordable

    def _rate(self, liquidity: Liquidity) -> Decimal:
        return self.settings.taker_fee if liquidity == Liquidity.TAKER else self.settings.maker_fee

    async def _fill(
        self,
        order: Order,
        level: Level,
        cash: Balance,
        position: Position,
        liquidity: Liquidity,
        conn: BaseDBAsyncClient,
    ) -> None:
        price, quantity = level.price, level.quantity
        rate = self._rate(liquidity)
        fee = fee_for(price, quantity, rate)
        notional = price * quantity
        remaining_before = order.quantity - order.filled_quantity
        realized: Decimal | None = None
        closed_cost = Decimal(0)
        if order.side == Side.BUY:
            if order.reserved_cash:
                release = (
                    order.reserved_cash
                    if quantity == remaining_before
                    else _store(order.reserved_cash * quantity / remaining_before)
                )
                order.reserved_cash -= release
                cash.reserved -= release
            cash.total -= notional + fee
            # The cost of what is held is kept exactly; the average derives from it, so buys never drift.
            position.cost_basis += notional
            position.quantity += quantity
            position.average_entry_price = _store(position.cost_basis / position.quantity)
        else:
            if order.reserved_quantity:
                order.reserved_quantity -= quantity
                position.reserved_quantity -= quantity
            cash.total += notional - fee
            realized = _store((price - position.average_entry_price) * quantity)
            closed_cost = _store(position.average_entry_price * quantity)
            position.realized_pnl += realized
            position.cost_basis -= closed_cost
            position.quantity -= quantity
            if position.quantity == 0:
                position.average_entry_price = Decimal(0)
                position.cost_basis = Decimal(0)
        position.fees += fee
        order.filled_quantity += quantity
        order.filled_notional += notional
        order.average_price = _store(order.filled_notional / order.filled_quantity)
        order.fees += fee
        if cash.total < 0 or cash.reserved < 0 or position.quantity < 0:
            raise RuntimeError(f"accounting invariant broken on order {order.id}")  # a bug: roll everything back
        fill = await Fill.create(
            order_id=order.id,
            account_id=order.account_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=fee,
            liquidity=liquidity,
            using_db=conn,
        )
        await journal.record_fill(
            conn, order, fill, cash_delta=journal.spot_cash_effect(order.side, price, quantity, fee)
        )
        facts = FillFacts(
            str(order.user_id),
            fill.created_at,
            notional,
            fee,
            realized,
            closed_cost,
            fill.id,
            bot_id=str(order.bot_id) if order.bot_id is not None else None,
            symbol=order.symbol,
            side=order.side.value,
            price=price,
            quantity=quantity,
        )
        await after_fill(conn, facts, self.settings.referral_reward_rate)

    def _finish(self, order: Order, cash: Balance, position: Position, status: OrderStatus, reason: str | None) -> None:
        """End an order: release whatever it still reserves."""
        cash.reserved -= order.reserved_cash
        order.reserved_cash = Decimal(0)
        position.reserved_quantity -= order.reserved_quantity
        order.reserved_quantity = Decimal(0)
        order.status = status
        order.reason = reason

    async def _save(self, conn: BaseDBAsyncClient, order: Order, cash: Balance, position: Position) -> None:
        await order.save(using_db=conn)
        await cash.save(using_db=conn)
        if position.quantity or position.reserved_quantity or position._saved_in_db:
            await position.save(using_db=conn)

    # -- cancellation --------------------------------------------------------------------------------

    async def cancel(self, conn: BaseDBAsyncClient, order: Order, reason: str, changes: Changes) -> bool:
        """Cancel a working order (the caller holds the account lock); False if it no longer works."""
        await order.refresh_from_db(using_db=conn)
        if order.status not in WORKING:
            return False
        cash = await self._cash(conn, str(order.account_id))
        position = await self._position(conn, str(order.account_id), str(order.user_id), order.symbol)
        self._finish(order, cash, position, OrderStatus.CANCELED, reason)
        await self._save(conn, order, cash, position)
        changes.orders[str(order.id)] = str(order.user_id)
        changes.positions[(str(order.account_id), order.symbol)] = str(order.user_id)
        return True

    async def cancel_working(
        self, conn: BaseDBAsyncClient, orders: Iterable[Order], reason: str, changes: Changes
    ) -> list[Order]:
        cancelled = []
        for order in orders:
            if await self.cancel(conn, order, reason, changes):
                cancelled.append(order)
        return cancelled

    async def cancel_account_working(
        self, conn: BaseDBAsyncClient, account_id: str, reason: str, changes: Changes
    ) -> list[Order]:
        """Lock the account and cancel every working order of it, in a few statements however many there
        are: a kill switch sweeps every account while the orders queued on their locks wait for it."""
        await lock_account(conn, account_id)
        working = await Order.filter(account_id=account_id, status__in=list(WORKING)).using_db(conn)
        if not working:
            return []
        cash = await self._cash(conn, account_id)
        held = await Position.filter(account_id=account_id, symbol__in={o.symbol for o in working}).using_db(conn)
        positions = {p.symbol: p for p in held}
        now = datetime.now(UTC)
        for order in working:
            if order.symbol not in positions:
                positions[order.symbol] = Position(account_id=account_id, user_id=order.user_id, symbol=order.symbol)
            self._finish(order, cash, positions[order.symbol], OrderStatus.CANCELED, reason)
            order.updated_at = now
            changes.orders[str(order.id)] = str(order.user_id)
            changes.positions[(account_id, order.symbol)] = str(order.user_id)
        await (
            Order.filter(id__in=[o.id for o in working])
            .using_db(conn)
            .update(
                status=OrderStatus.CANCELED,
                reason=reason,
                reserved_cash=Decimal(0),
                reserved_quantity=Decimal(0),
                updated_at=now,
            )
        )
        await cash.save(using_db=conn)
        for position in positions.values():
            if position.quantity or position.reserved_quantity or position._saved_in_db:
                await position.save(using_db=conn)
        return working

    # -- the tick --------------------------------------------------------------------------------------

    async def on_tick(self, marks: dict[str, tuple[Decimal, int]]) -> Changes:
        """Trigger stops and fill resting limits that the new marks cross. Run by the feed leader only."""
        changes = Changes()
        lasts = await LastPrice.filter(instrument__symbol__in=list(marks)).select_related("instrument")
        instruments = {last.instrument.symbol: (last.instrument, last.ts) for last in lasts}
        for symbol, (mark, step) in marks.items():
            instrument, at = instruments[symbol]
            book = self.book(instrument, step, mark)
            # Candidates within the widest basis of any venue (one indexed query); each is then judged
            # exactly against its own venue's book and mark.
            low, high = Decimal(1) - MAX_BASIS, Decimal(1) + MAX_BASIS
            due = (
                await Order.filter(symbol=symbol)
                .filter(
                    Q(status=OrderStatus.PENDING, side=Side.BUY, stop_price__lte=mark * high)
                    | Q(status=OrderStatus.PENDING, side=Side.SELL, stop_price__gte=mark * low)
                    | Q(
                        status__in=[OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED],
                        side=Side.BUY,
                        price__gte=book.asks[0].price * low,
                    )
                    | Q(
                        status__in=[OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED],
                        side=Side.SELL,
                        price__lte=book.bids[0].price * high,
                    )
                )
                .order_by("created_at")
                .values_list("id", "account_id", "account__venue_id", "status", "side", "price", "stop_price")
            )
            for order_id, account_id, venue, status, side, price, stop_price in due:
                own = self.book(instrument, step, mark, str(venue), at)
                if not _crosses(own, OrderStatus(status), Side(side), price, stop_price):
                    continue
                try:
                    changes.merge(await self._work(str(order_id), str(account_id), own, own.mark))
                except Exception:
                    # One broken order must not stop matching for everyone; it is logged in full.
                    log.exception("matching order %s failed", order_id)
        return changes

    async def _work(self, order_id: str, account_id: str, book: Book, mark: Decimal) -> Changes:
        changes = Changes()
        async with in_transaction() as conn:
            await lock_account(conn, account_id)
            order = await Order.get(id=order_id, using_db=conn)
            if order.status not in WORKING:
                return changes
            cash = await self._cash(conn, str(order.account_id))
            position = await self._position(conn, str(order.account_id), str(order.user_id), order.symbol)
            liquidity = Liquidity.MAKER
            if order.status == OrderStatus.PENDING:
                assert order.stop_price is not None
                hit = mark >= order.stop_price if order.side == Side.BUY else mark <= order.stop_price
                if not hit:
                    return changes
                # Triggered: from now on a market order (STOP) or a limit order (STOP_LIMIT, whose
                # reservation was made at its limit price and carries over to what rests).
                order.triggered_at = datetime.now(UTC)
                order.status = OrderStatus.OPEN
                liquidity = Liquidity.TAKER
            await self._execute(order, book, cash, position, liquidity, conn, changes, placing=False)
            await self._save(conn, order, cash, position)
            changes.orders[str(order.id)] = str(order.user_id)
        return changes

    # -- events ---------------------------------------------------------------------------------------

    async def publish(self, changes: Changes) -> None:
        """Publish every notification at once: each one only says what to re-read, so their order does not
        matter, and a kill switch sweep that cancels thousands of orders must not answer a round trip each
        later."""
        await asyncio.gather(
            *(
                publish(self.bus, OrderChanged(user_id=user_id, order_id=order_id))
                for order_id, user_id in changes.orders.items()
            ),
            *(
                publish(self.bus, PositionChanged(user_id=user_id, account_id=account_id, symbol=symbol))
                for (account_id, symbol), user_id in changes.positions.items()
            ),
            *(publish(self.bus, PortfolioChanged(user_id=user_id)) for user_id in changes.users),
        )
