"""Perpetuals on the paper Hyperliquid venue: placement against the synthetic book, the liquidation engine
and hourly funding (both tick consumers). The formulas are in ``margin.py``; every cash movement is posted
to the ledger (``ledger.py``) in the transaction that makes it.

Positions are net per (account, instrument), long or short, with the leverage and margin mode that
``updateLeverage`` set for the asset. Orders on a perp account are immediate (MARKET, or LIMIT with IOC or
FOK): they take liquidity from the book at the taker fee, like the spot venue. A cross position draws on the
account's cash that no isolated position holds; an isolated position's margin is reserved out of the cash
(``Balance.reserved``), so it is not available to other positions or to withdrawals.

Liquidation closes the position at the mark price. An isolated liquidation can lose at most the position's
margin and a cross one at most the account's cross cash: what the loss exceeds that by (possible only when
the mark gaps past the liquidation price within one tick) is paid by the insurance fund, a system ledger
account, so collateral never goes negative unaccounted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.funds import EntryKind
from models.killswitch import KillScope
from models.market import LastPrice
from models.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side, TimeInForce
from models.perps import FundingPayment, FundingRound, Liquidation, MarginMode, PerpPosition, PerpSetting
from models.venues import Balance

from ..rejections import FundsShort, Invalid, KillSwitchBlocked
from ..services.alerts import order_filled
from . import journal
from . import margin as mg
from .book import Book, available, sweep
from .checks import order_notional_limit
from .fills import FillFacts, after_fill
from .ledger import SYSTEM_FEES, SYSTEM_FUNDING, SYSTEM_INSURANCE, SYSTEM_TRADING, Postings
from .ticks import Marks
from .types import Changes, OrderRequest

if TYPE_CHECKING:
    from .matching import PaperEngine

log = logging.getLogger(__name__)
PERP_VENUE = "hyperliquid"
ZERO = Decimal(0)


@dataclass(frozen=True)
class PerpMark:
    oracle: Decimal
    mark: Decimal
    step: int


@dataclass
class AccountRisk:
    """An account's margin state at the given marks (see margin.py for the formulas)."""

    cross_value: Decimal  # cash not isolated + Σ cross unrealized PnL
    cross_initial: Decimal
    cross_maintenance: Decimal


def risk_of(cash: Balance, positions: list[PerpPosition], marks: dict[str, PerpMark]) -> AccountRisk:
    value = cash.total - cash.reserved
    initial = maintenance = ZERO
    for p in positions:
        if p.size == 0 or p.margin_mode != MarginMode.CROSS:
            continue
        mark = marks[p.symbol].mark
        value += mg.unrealized(p.size, p.entry_price, mark)
        initial += mg.initial_margin(p.size, mark, p.leverage)
        maintenance += mg.maintenance_margin(p.symbol, p.size, mark)
    return AccountRisk(value, initial, maintenance)


def liquidation_price_of(
    position: PerpPosition, cash: Balance, positions: list[PerpPosition], marks: dict[str, PerpMark]
) -> Decimal | None:
    """The position's liquidation price, the other positions' marks held where they are."""
    if position.size == 0:
        return None
    if position.margin_mode == MarginMode.ISOLATED:
        return mg.liquidation_price(position.symbol, position.size, position.entry_price, position.isolated_margin)
    others = [p for p in positions if p.id != position.id]
    risk = risk_of(cash, others, marks)
    return mg.liquidation_price(
        position.symbol, position.size, position.entry_price, risk.cross_value - risk.cross_maintenance
    )


def _closed_cost(position: PerpPosition, delta: Decimal) -> Decimal:
    """The entry value of what a fill of signed ``delta`` closes (0 when it opens or adds)."""
    if position.size == 0 or (position.size > 0) == (delta > 0):
        return ZERO
    return mg.q12(min(abs(delta), abs(position.size)) * position.entry_price)


def _apply(position: PerpPosition, delta: Decimal, price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Apply a fill of signed ``delta`` at ``price``: (realized PnL, margin isolated, margin released)."""
    size = position.size
    realized = isolated = released = ZERO
    if size == 0 or (size > 0) == (delta > 0):
        new = size + delta
        position.entry_price = mg.q12((abs(size) * position.entry_price + abs(delta) * price) / abs(new))
        position.size = new
        if position.margin_mode == MarginMode.ISOLATED:
            isolated = mg.q12(abs(delta) * price / position.leverage)
        return realized, isolated, released
    closing = min(abs(delta), abs(size))
    realized = mg.q12(closing * (price - position.entry_price) * mg.side_of(size))
    if position.margin_mode == MarginMode.ISOLATED:
        released = (
            position.isolated_margin if closing == abs(size) else mg.q12(position.isolated_margin * closing / abs(size))
        )
    position.size = size + (closing if delta > 0 else -closing)
    rest = abs(delta) - closing
    if position.size == 0:
        position.entry_price = ZERO
    if rest > 0:
        position.size = rest if delta > 0 else -rest
        position.entry_price = price
        if position.margin_mode == MarginMode.ISOLATED:
            isolated = mg.q12(rest * price / position.leverage)
    return realized, isolated, released


class PerpEngine:
    def __init__(self, paper: PaperEngine) -> None:
        self.paper = paper
        self.settings = paper.settings
        self._premiums: dict[str, list[Decimal]] = {}
        self._last_books: dict[str, Book] = {}
        interval = self.settings.perp_funding_interval
        # Settle from the next boundary on: a round of an hour that passed while no leader ran is not
        # charged after the fact.
        self._funded_until = int(time.time()) // interval * interval

    # -- marks -----------------------------------------------------------------------------------------

    async def marks(self, conn: BaseDBAsyncClient | None = None) -> dict[str, PerpMark]:
        """Every instrument's oracle (the feed price) and mark price now."""
        query = LastPrice.all().select_related("instrument")
        if conn is not None:
            query = query.using_db(conn)
        found = {}
        for last in await query:
            book = self.paper.book(last.instrument, last.step, last.price)
            self._last_books[last.instrument.symbol] = book
            found[last.instrument.symbol] = PerpMark(
                oracle=last.price,
                mark=mg.mark_price(book.bids[0].price, book.asks[0].price, last.price),
                step=last.step,
            )
        return found

    # -- placement -------------------------------------------------------------------------------------

    async def setting(self, conn: BaseDBAsyncClient, account_id: str, symbol: str) -> tuple[int, MarginMode]:
        row = await PerpSetting.get_or_none(account_id=account_id, symbol=symbol, using_db=conn)
        if row is None:
            return mg.default_leverage(symbol), MarginMode.CROSS
        return row.leverage, MarginMode(row.margin_mode)

    async def place(
        self, req: OrderRequest, conn: BaseDBAsyncClient, changes: Changes, blocking: KillScope | None
    ) -> Order:
        """Place a perp order inside the caller's transaction, after ``lock_for_trading``."""
        if req.type != OrderType.MARKET and not (
            req.type == OrderType.LIMIT and req.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        ):
            raise Invalid(
                "perp orders are immediate: MARKET, or LIMIT with IOC or FOK", code="PERP_ORDER_TYPE", field="type"
            )
        last = await LastPrice.filter(instrument__symbol=req.symbol).using_db(conn).select_related("instrument").get()
        book = self.paper.book(last.instrument, last.step, last.price)
        cash = await self.paper._cash(conn, req.account_id)
        held = {p.symbol: p for p in await PerpPosition.filter(account_id=req.account_id).using_db(conn)}
        position = held.get(req.symbol)
        if position is None:
            position = PerpPosition(account_id=req.account_id, user_id=req.user_id, symbol=req.symbol)
            held[req.symbol] = position
        if position.size == 0:
            position.leverage, position.margin_mode = await self.setting(conn, req.account_id, req.symbol)
        delta_sign = 1 if req.side == Side.BUY else -1
        reduces = position.size != 0 and mg.side_of(position.size) != delta_sign and req.quantity <= abs(position.size)
        if blocking is not None and not reduces:
            raise KillSwitchBlocked(
                f"the {blocking.value.lower()} kill switch is active: only orders that reduce a position are accepted",
                scope=blocking.value,
            )
        if req.reduce_only and not reduces:
            raise Invalid(
                "a reduce-only order must be opposite to the position and at most its size",
                code="REDUCE_ONLY",
                field="reduceOnly",
            )
        await order_notional_limit(conn, req, last.price)

        order = Order(
            account_id=req.account_id,
            user_id=req.user_id,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            time_in_force=TimeInForce.IOC if req.type == OrderType.MARKET else req.time_in_force,
            quantity=req.quantity,
            price=req.price,
            stop_price=None,
            client_order_id=req.client_order_id,
            bot_id=req.bot_id,
            status=OrderStatus.OPEN,
        )
        await order.save(using_db=conn)
        changes.orders[str(order.id)] = req.user_id
        changes.positions[(req.account_id, req.symbol)] = req.user_id
        levels = book.side_for(req.side.value)
        if req.time_in_force == TimeInForce.FOK and available(levels, req.side.value, req.price) < req.quantity:
            order.status, order.reason = OrderStatus.CANCELED, "fill-or-kill: the book cannot fill it all"
            await order.save(using_db=conn)
            return order

        postings = Postings(conn)
        rate = self.settings.taker_fee
        for level in sweep(levels, req.quantity, req.side.value, req.price):
            fee = mg.q8(level.price * level.quantity * rate)
            closed_cost = _closed_cost(position, delta_sign * level.quantity)
            realized, isolated, released = _apply(position, delta_sign * level.quantity, level.price)
            cash.reserved += isolated - released
            position.isolated_margin += isolated - released
            position.realized_pnl += realized
            position.fees += fee
            position.last_price = level.price
            detail = {"symbol": req.symbol, "orderId": str(order.id)}
            await postings.move(cash, req.user_id, EntryKind.REALIZED_PNL, realized, SYSTEM_TRADING, **detail)
            await postings.move(cash, req.user_id, EntryKind.FEE, -fee, SYSTEM_FEES, **detail)
            order.filled_quantity += level.quantity
            order.filled_notional += level.price * level.quantity
            order.fees += fee
            fill = await Fill.create(
                order_id=order.id,
                account_id=req.account_id,
                symbol=req.symbol,
                side=req.side,
                price=level.price,
                quantity=level.quantity,
                fee=fee,
                liquidity=Liquidity.TAKER,
                using_db=conn,
            )
            # The cash side of a perp execution (PnL, fee) is journaled with the ledger's postings.
            await journal.record_fill(conn, order, fill, cash_delta=Decimal(0))
            closed = realized if closed_cost else None
            facts = FillFacts(
                req.user_id, fill.created_at, level.price * level.quantity, fee, closed, closed_cost, fill.id
            )
            await after_fill(conn, facts, self.settings.referral_reward_rate)
        if order.filled_quantity:
            order.average_price = mg.q12(order.filled_notional / order.filled_quantity)
        if order.filled_quantity == order.quantity:
            order.status = OrderStatus.FILLED
            await order_filled(conn, order)
        else:
            order.status = OrderStatus.CANCELED
            order.reason = "immediate-or-cancel: the rest was cancelled" if order.filled_quantity else "nothing to fill"

        if not reduces and order.filled_quantity:
            marks = await self.marks(conn)
            risk = risk_of(cash, list(held.values()), marks)
            if risk.cross_value < risk.cross_initial:
                need, have = mg.q8(risk.cross_initial), mg.q8(risk.cross_value)
                raise FundsShort(
                    f"the order needs {need} {cash.asset} of margin after it; the account has {have}",
                    asset=cash.asset,
                    required=need,
                    available=have,
                )
        await postings.flush()
        await order.save(using_db=conn)
        await cash.save(using_db=conn)
        await position.save(using_db=conn)
        return order

    # -- liquidation -----------------------------------------------------------------------------------

    async def liquidate(self, ticked: Marks) -> None:
        """Tick consumer: close every position whose margin fell below maintenance at the new marks."""
        candidates = {
            str(a)
            for a in await PerpPosition.filter(symbol__in=list(ticked))
            .exclude(size=0)
            .distinct()
            .values_list("account_id", flat=True)
        }
        if not candidates:
            return
        marks = await self.marks()
        changes = Changes()
        for account_id in sorted(candidates):
            try:
                changes.merge(await self._liquidate_account(account_id, marks))
            except Exception:
                log.exception("liquidating account %s failed", account_id)
        await self.paper.publish(changes)

    async def _liquidate_account(self, account_id: str, marks: dict[str, PerpMark]) -> Changes:
        from models.alerts import AlertCategory, AlertType, Severity
        from models.audit import Outcome

        from .. import audit
        from ..audit import Action
        from ..services.alerts import raise_alert
        from .matching import lock_account

        changes = Changes()
        async with in_transaction() as conn:
            await lock_account(conn, account_id)
            cash = await self.paper._cash(conn, account_id)
            positions = [p for p in await PerpPosition.filter(account_id=account_id).using_db(conn) if p.size != 0]
            doomed: list[PerpPosition] = []
            for p in positions:
                if p.margin_mode == MarginMode.ISOLATED:
                    mark = marks[p.symbol].mark
                    equity = p.isolated_margin + mg.unrealized(p.size, p.entry_price, mark)
                    if equity < mg.maintenance_margin(p.symbol, p.size, mark):
                        doomed.append(p)
            risk = risk_of(cash, positions, marks)
            cross = [p for p in positions if p.margin_mode == MarginMode.CROSS]
            if cross and risk.cross_value < risk.cross_maintenance:
                doomed.extend(cross)
            if not doomed:
                return changes
            postings = Postings(conn)
            for p in doomed:
                mark = marks[p.symbol].mark
                size, entry = p.size, p.entry_price
                closed_cost = _closed_cost(p, -size)
                realized, _, released = _apply(p, -size, mark)
                forced = FillFacts(str(p.user_id), datetime.now(UTC), abs(size) * mark, ZERO, realized, closed_cost)
                await after_fill(conn, forced, self.settings.referral_reward_rate)
                p.realized_pnl += realized
                p.last_price = mark
                cash.reserved -= released
                p.isolated_margin -= released
                detail = {"symbol": p.symbol, "reason": "liquidation"}
                await postings.move(cash, p.user_id, EntryKind.LIQUIDATION, realized, SYSTEM_TRADING, **detail)
                covered = ZERO
                if p.margin_mode == MarginMode.ISOLATED and released + realized < 0:
                    covered = -(released + realized)
                    await postings.move(cash, p.user_id, EntryKind.INSURANCE, covered, SYSTEM_INSURANCE, **detail)
                await p.save(using_db=conn)
                row = await Liquidation.create(
                    account_id=account_id,
                    user_id=p.user_id,
                    symbol=p.symbol,
                    size=size,
                    entry_price=entry,
                    mark_price=mark,
                    margin_mode=p.margin_mode,
                    realized_pnl=realized,
                    insurance_covered=covered,
                    using_db=conn,
                )
                changes.positions[(account_id, p.symbol)] = str(p.user_id)
                await raise_alert(
                    conn,
                    user_id=p.user_id,
                    type=AlertType.ERROR,
                    category=AlertCategory.TRADING,
                    severity=Severity.HIGH,
                    title=f"{p.symbol} position liquidated",
                    message=f"Margin fell below maintenance: {size} {p.symbol} closed at the mark {mark}.",
                    source="liquidation",
                    metadata={"liquidationId": row.id, "symbol": p.symbol, "realizedPnl": str(realized)},
                )
                await audit.record(
                    Action.PERP_LIQUIDATE,
                    Outcome.SUCCESS,
                    actor_label="liquidation-engine",
                    target_type="PerpPosition",
                    target_id=p.id,
                    detail={"symbol": p.symbol, "size": str(size), "mark": str(mark), "liquidation": row.id},
                    conn=conn,
                )
            shortfall = cash.total - cash.reserved
            if shortfall < 0 and any(p.margin_mode == MarginMode.CROSS for p in doomed):
                user_id = doomed[0].user_id
                await postings.move(
                    cash, user_id, EntryKind.INSURANCE, -shortfall, SYSTEM_INSURANCE, reason="liquidation"
                )
                last = await Liquidation.filter(account_id=account_id).using_db(conn).order_by("-id").first()
                if last is not None:
                    last.insurance_covered += -shortfall
                    await last.save(using_db=conn)
            await postings.flush()
            await cash.save(using_db=conn)
        return changes

    # -- funding ---------------------------------------------------------------------------------------

    async def fund(self, ticked: Marks) -> None:
        """Tick consumer: sample the premium of every ticked instrument; at each funding boundary, settle."""
        marks = await self.marks()
        for symbol in ticked:
            last = marks.get(symbol)
            if last is None:
                continue
            book = self._last_books.get(symbol)
            if book is not None:
                self._premiums.setdefault(symbol, []).append(mg.premium(book.bids, book.asks, last.oracle))
        interval = self.settings.perp_funding_interval
        boundary = int(time.time()) // interval * interval
        if boundary > self._funded_until:
            self._funded_until = boundary
            await self.settle(datetime.fromtimestamp(boundary, UTC), marks)

    async def settle(self, at: datetime, marks: dict[str, PerpMark] | None = None) -> int:
        """Pay the funding round of ``at`` for every open position; a round already paid (by any process) is
        skipped. Returns the number of payments made."""
        marks = marks if marks is not None else await self.marks()
        symbols = {str(s) for s in await PerpPosition.exclude(size=0).distinct().values_list("symbol", flat=True)}
        paid = 0
        changes = Changes()
        for symbol in sorted(symbols):
            samples = self._premiums.pop(symbol, [])
            average = mg.q12(sum(samples, ZERO) / len(samples)) if samples else ZERO
            rate = mg.hourly_rate(average)
            oracle = marks[symbol].oracle
            try:
                paid += await self._settle_symbol(symbol, at, oracle, average, rate, changes)
            except IntegrityError:
                continue  # another process paid this round
        await self.paper.publish(changes)
        return paid

    async def _settle_symbol(
        self, symbol: str, at: datetime, oracle: Decimal, premium: Decimal, rate: Decimal, changes: Changes
    ) -> int:
        from .matching import lock_account

        paid = 0
        async with in_transaction() as conn:
            await FundingRound.create(
                symbol=symbol, funding_time=at, oracle_price=oracle, premium=premium, rate=rate, using_db=conn
            )
            accounts = sorted(
                {
                    str(a)
                    for a in await PerpPosition.filter(symbol=symbol)
                    .exclude(size=0)
                    .using_db(conn)
                    .values_list("account_id", flat=True)
                }
            )
            postings = Postings(conn)
            for account_id in accounts:
                await lock_account(conn, account_id)
                position = await PerpPosition.get(account_id=account_id, symbol=symbol, using_db=conn)
                if position.size == 0:
                    continue
                amount = mg.funding_payment(position.size, oracle, rate)
                cash = await self.paper._cash(conn, account_id)
                await postings.move(
                    cash, position.user_id, EntryKind.FUNDING, -amount, SYSTEM_FUNDING, symbol=symbol, at=at.isoformat()
                )
                position.funding_paid += amount
                if position.margin_mode == MarginMode.ISOLATED:
                    position.isolated_margin -= amount
                    cash.reserved -= amount
                await position.save(using_db=conn)
                await cash.save(using_db=conn)
                await FundingPayment.create(
                    position_id=position.id,
                    account_id=account_id,
                    user_id=position.user_id,
                    symbol=symbol,
                    size=position.size,
                    oracle_price=oracle,
                    premium=premium,
                    rate=rate,
                    amount=amount,
                    funding_time=at,
                    using_db=conn,
                )
                changes.positions[(account_id, symbol)] = str(position.user_id)
                paid += 1
            await postings.flush()
        return paid
