"""Trading session actions (Alura's quick and advanced sessions): start one, read its figures, close its
positions and trades. The engine that trades a session from the signals is ``engine/trading_sessions.py``;
every order it or a user places for a session goes through ``services.orders.place_order``.

A session trades one asset of a Hyperliquid paper account: at most one ACTIVE session per asset per user
(the table's unique (user_id, active_asset) holds it under racing requests), and the budgets of a perp
account's active sessions together never exceed what the account could withdraw when each started.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from eth_account import Account as EthAccount
from eth_account.messages import encode_typed_data
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import User
from models.market import Instrument, LastPrice
from models.orders import Fill, Order, OrderType, Side
from models.trading_sessions import (
    EndReason,
    ExecutionStrategy,
    LogKind,
    LotStatus,
    SessionKind,
    SessionLog,
    SessionPosition,
    SessionStatus,
    SessionTrade,
    StrategyDuration,
    TradeSide,
    TradingSession,
)

from .. import audit
from ..audit import Action
from ..engine import margin as mg
from ..engine.matching import lock_account
from ..events import publish
from ..events.trading_sessions import TradingSessionChanged
from ..ownership import Actor, require_owned
from ..pagination import to_global_id
from ..rejections import BadSignature, Conflict, FundsShort, Invalid, Missing
from .deps import Deps
from .funds import source_account
from .orders import OrderSpec, Within, place_order, submit, validate
from .perps import account_state, instrument_at

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MIN_BUDGET = Decimal(10)
MAX_PROFIT_TARGET = Decimal(500)
MAX_POSITIONS = 10
DEFAULT_LOSS_THRESHOLD = Decimal(10)
# Alura's message, word for word.
DUPLICATE_ASSET = "Duplicate asset index: you already have an active trading session for this asset"


@dataclass(frozen=True)
class Strategy:
    """What an execution strategy allows: leverage (capped by the instrument's maximum), positions held at
    once, and the profit target and loss threshold in percent of the budget (advanced sessions)."""

    leverage: int
    max_positions: int
    profit_target: Decimal
    loss_threshold: Decimal


STRATEGIES: dict[ExecutionStrategy, Strategy] = {
    ExecutionStrategy.CONSERVATIVE: Strategy(2, 1, Decimal(5), Decimal(3)),
    ExecutionStrategy.AGGRESSIVE: Strategy(5, 2, Decimal(15), Decimal(8)),
    ExecutionStrategy.DEGEN: Strategy(10, 3, Decimal(40), Decimal(20)),
}
# A quick session trades at the conservative strategy's leverage.
QUICK_STRATEGY = ExecutionStrategy.CONSERVATIVE
DURATIONS: dict[StrategyDuration, timedelta] = {
    StrategyDuration.D1: timedelta(days=1),
    StrategyDuration.D3: timedelta(days=3),
    StrategyDuration.D7: timedelta(days=7),
    StrategyDuration.D30: timedelta(days=30),
    StrategyDuration.D90: timedelta(days=90),
    StrategyDuration.D365: timedelta(days=365),
}


@dataclass
class QuickSpec:
    budget: Decimal
    profit_target: Decimal
    asset_index: int
    loss_threshold: Decimal | None = None
    max_positions: int | None = None
    account_id: str | None = None


@dataclass
class AdvancedSpec:
    amount: Decimal
    execution_strategy: ExecutionStrategy
    strategy_duration: StrategyDuration
    asset_index: int
    max_wallet_budget: bool = False
    account_id: str | None = None


@dataclass
class Plan:
    """A session as it will be written, once every input is checked."""

    kind: SessionKind
    asset_index: int
    budget: Decimal | None  # None: the account's whole free balance (maxWalletBudget)
    profit_target: Decimal
    loss_threshold: Decimal
    max_positions: int
    strategy: ExecutionStrategy
    duration: StrategyDuration | None
    max_wallet_budget: bool
    account_id: str | None


@dataclass
class Stats:
    """A session's figures, computed from the fills of its orders and the mark (see ``stats_of``)."""

    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    volume: Decimal = ZERO
    fills: int = 0
    open_positions: int = 0
    lots: list[SessionPosition] = field(default_factory=list)

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl - self.fees


def _positive(value: Decimal, name: str) -> None:
    if not value.is_finite() or value <= 0:
        raise Invalid(f"{name} must be a positive number", field=name)


def _at_least(value: Decimal, least: Decimal, name: str) -> None:
    if not value.is_finite() or value < least:
        raise Invalid(f"{name} must not be less than {least}", field=name)


def _at_most(value: Decimal, most: Decimal, name: str) -> None:
    if value > most:
        raise Invalid(f"{name} must not be greater than {most}", field=name)


def quick_plan(spec: QuickSpec) -> Plan:
    """Alura's rules and messages (class-validator's): budget at least 10, profit target at most 500."""
    _at_least(spec.budget, MIN_BUDGET, "budget")
    _positive(spec.profit_target, "profitTarget")
    _at_most(spec.profit_target, MAX_PROFIT_TARGET, "profitTarget")
    loss = DEFAULT_LOSS_THRESHOLD if spec.loss_threshold is None else spec.loss_threshold
    _positive(loss, "lossThreshold")
    _at_most(loss, HUNDRED, "lossThreshold")
    positions = 1 if spec.max_positions is None else spec.max_positions
    _at_least(Decimal(positions), Decimal(1), "maxPositions")
    _at_most(Decimal(positions), Decimal(MAX_POSITIONS), "maxPositions")
    return Plan(
        kind=SessionKind.QUICK,
        asset_index=spec.asset_index,
        budget=spec.budget,
        profit_target=spec.profit_target,
        loss_threshold=loss,
        max_positions=positions,
        strategy=QUICK_STRATEGY,
        duration=None,
        max_wallet_budget=False,
        account_id=spec.account_id,
    )


def advanced_plan(spec: AdvancedSpec) -> Plan:
    """The strategy sets leverage, positions, target and threshold; the duration sets when it ends."""
    _at_least(spec.amount, MIN_BUDGET, "amount")
    strategy = STRATEGIES[spec.execution_strategy]
    return Plan(
        kind=SessionKind.ADVANCED,
        asset_index=spec.asset_index,
        budget=None if spec.max_wallet_budget else spec.amount,
        profit_target=strategy.profit_target,
        loss_threshold=strategy.loss_threshold,
        max_positions=strategy.max_positions,
        strategy=spec.execution_strategy,
        duration=spec.strategy_duration,
        max_wallet_budget=spec.max_wallet_budget,
        account_id=spec.account_id,
    )


async def committed_budget(conn: BaseDBAsyncClient, account_id: str) -> Decimal:
    """Σ budget of the account's active sessions."""
    budgets = (
        await TradingSession.filter(account_id=account_id, status=SessionStatus.ACTIVE)
        .using_db(conn)
        .values_list("budget", flat=True)
    )
    return sum((Decimal(b) for b in budgets), ZERO)


async def start(deps: Deps, actor: Actor, spec: QuickSpec | AdvancedSpec, action: Action) -> TradingSession:
    """Check every input, then write the session, its first log row and its audit row in one transaction,
    under the account lock."""
    detail = {"assetIndex": spec.asset_index}
    async with audit.refusals(actor, action, target_type="TradingSession", detail=detail):
        plan = quick_plan(spec) if isinstance(spec, QuickSpec) else advanced_plan(spec)
        account = await source_account(actor, plan.account_id, create=False)
        instrument = await instrument_at(plan.asset_index)
        try:
            async with in_transaction() as conn:
                await lock_account(conn, str(account.id))
                if await TradingSession.exists(user_id=actor.user.id, active_asset=plan.asset_index, using_db=conn):
                    raise Conflict(DUPLICATE_ASSET, field="assetIndex")
                state = await account_state(deps, account, conn=conn)
                free = state.withdrawable - await committed_budget(conn, str(account.id))
                budget = free if plan.budget is None else plan.budget
                budget_field = "budget" if plan.kind == SessionKind.QUICK else "amount"
                if budget > free or budget < MIN_BUDGET:
                    raise FundsShort(
                        f"the session needs a budget of {mg.q8(max(budget, MIN_BUDGET))} {state.cash.asset}; the "
                        f"account has {mg.q8(free)} free of margin and of other sessions' budgets",
                        asset=state.cash.asset,
                        required=mg.q8(max(budget, MIN_BUDGET)),
                        available=mg.q8(free),
                        field="maxWalletBudget" if plan.budget is None else budget_field,
                    )
                now = datetime.now(UTC)
                row = await TradingSession.create(
                    user_id=actor.user.id,
                    account_id=account.id,
                    kind=plan.kind,
                    asset_index=plan.asset_index,
                    symbol=instrument.symbol,
                    budget=mg.q8(budget),
                    profit_target=plan.profit_target,
                    loss_threshold=plan.loss_threshold,
                    max_positions=plan.max_positions,
                    execution_strategy=plan.strategy,
                    strategy_duration=plan.duration,
                    max_wallet_budget=plan.max_wallet_budget,
                    leverage=min(STRATEGIES[plan.strategy].leverage, mg.max_leverage(instrument.symbol)),
                    active_asset=plan.asset_index,
                    ends_at=now + DURATIONS[plan.duration] if plan.duration is not None else None,
                    created_at=now,
                    using_db=conn,
                )
                await write_log(
                    conn,
                    row,
                    LogKind.SESSION_STARTED,
                    f"{plan.kind.value.lower()} session on {instrument.symbol} with a budget of {row.budget} at "
                    f"{row.leverage}x",
                    budget=str(row.budget),
                    leverage=row.leverage,
                )
                await audit.by(
                    actor,
                    action,
                    Outcome.SUCCESS,
                    target_type="TradingSession",
                    target_id=row.id,
                    detail=detail,
                    conn=conn,
                )
        except IntegrityError:
            # A racing request on another account of the same user won the (user, asset) slot.
            raise Conflict(DUPLICATE_ASSET, field="assetIndex") from None
    await announce(deps, row)
    return row


async def write_log(
    conn: BaseDBAsyncClient | None,
    session: TradingSession,
    kind: LogKind,
    message: str,
    trade_id: Any = None,
    **detail: Any,
) -> SessionLog:
    return await SessionLog.create(
        session_id=session.id, trade_id=trade_id, kind=kind, message=message[:500], detail=detail, using_db=conn
    )


async def announce(deps: Deps, session: TradingSession) -> None:
    await publish(deps.bus, TradingSessionChanged(user_id=str(session.user_id), session_id=str(session.id)))


# -- reads ------------------------------------------------------------------------------------------------


def side_sign(side: TradeSide | str) -> int:
    return 1 if TradeSide(side) == TradeSide.LONG else -1


async def stats_of(
    deps: Deps, sessions: list[TradingSession], prices: dict[str, Decimal] | None = None
) -> dict[str, Stats]:
    """Each session's figures from the fills of its lots' orders, in three queries whatever their number.

    A lot's realized PnL is side × (exit notional − entry notional) of the size closed; an open lot's
    unrealized PnL is side × (size × mark − entry notional); fees and volume are the fills' own. ``prices``
    (a feed tick's) stands in for the mark of the symbols it names."""
    found: dict[str, Stats] = {str(s.id): Stats() for s in sessions}
    if not sessions:
        return found
    lots = list(await SessionPosition.filter(session_id__in=list(found)).order_by("opened_at", "id"))
    orders = [o for lot in lots for o in (lot.open_order_id, lot.close_order_id) if o is not None]
    notional: dict[str, Decimal] = defaultdict(lambda: ZERO)
    fees: dict[str, Decimal] = defaultdict(lambda: ZERO)
    count: dict[str, int] = defaultdict(int)
    for fill in await Fill.filter(order_id__in=orders):
        key = str(fill.order_id)
        notional[key] += fill.price * fill.quantity
        fees[key] += fill.fee
        count[key] += 1
    prices = prices or {}
    wanted = {lot.symbol for lot in lots if lot.status == LotStatus.OPEN} - set(prices)
    marks = {s: m.mark for s, m in (await deps.engine.perps.marks()).items()} if wanted else {}
    marks.update(prices)
    for lot in lots:
        stats = found[str(lot.session_id)]
        stats.lots.append(lot)
        sign = side_sign(lot.side)
        opened, closed = str(lot.open_order_id), str(lot.close_order_id)
        stats.fees += fees[opened] + (fees[closed] if lot.close_order_id else ZERO)
        stats.volume += notional[opened] + (notional[closed] if lot.close_order_id else ZERO)
        stats.fills += count[opened] + (count[closed] if lot.close_order_id else 0)
        if lot.status == LotStatus.OPEN:
            stats.open_positions += 1
            stats.unrealized_pnl += sign * (lot.size * marks[lot.symbol] - notional[opened])
        else:
            stats.realized_pnl += sign * (notional[closed] - notional[opened])
    return found


def order_side(side: TradeSide, closing: bool) -> Side:
    opens = Side.BUY if side == TradeSide.LONG else Side.SELL
    return (Side.SELL if opens == Side.BUY else Side.BUY) if closing else opens


# -- lots: opening and closing through the order path -----------------------------------------------------


async def order_fills(conn: BaseDBAsyncClient | None, order_id: Any) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, notional, fees) of an order's fills."""
    quantity = notional = fees = ZERO
    for fill in await Fill.filter(order_id=order_id).using_db(conn):
        quantity += fill.quantity
        notional += fill.price * fill.quantity
        fees += fill.fee
    return quantity, notional, fees


def lot_size_of(instrument: Instrument, quantity: Decimal) -> Decimal:
    return (quantity / instrument.lot_size).to_integral_value(rounding=ROUND_DOWN) * instrument.lot_size


async def open_lot(
    deps: Deps, actor: Actor, session: TradingSession, side: TradeSide, quantity: Decimal, reason: str, **detail: Any
) -> SessionPosition:
    """A market order of ``quantity`` on the session's asset, and the lot it opens, in one transaction: the
    order is refused (and nothing written) when the session is no longer ACTIVE once the account is locked."""
    opened: list[SessionPosition] = []

    async def record(conn: BaseDBAsyncClient, order: Order) -> None:
        current = await TradingSession.get(id=session.id, using_db=conn)
        if current.status != SessionStatus.ACTIVE:
            raise Conflict("the session has ended", code="SESSION_ENDED", field="sessionId")
        filled, notional, fees = await order_fills(conn, order.id)
        if filled <= 0:
            raise Invalid("the market order found nothing to fill", code="NOT_FILLED", field="quantity")
        # The feed step the order's book was built at (the engine read it in this transaction).
        last = await LastPrice.get(instrument__symbol=session.symbol, using_db=conn)
        trade = (
            await SessionTrade.filter(session_id=session.id, status=LotStatus.OPEN)
            .using_db(conn)
            .order_by("-opened_at")
            .first()
        )
        if trade is None:
            trade = await SessionTrade.create(
                session_id=session.id,
                user_id=session.user_id,
                account_id=session.account_id,
                symbol=session.symbol,
                side=side,
                using_db=conn,
            )
        lot = await SessionPosition.create(
            trade_id=trade.id,
            session_id=session.id,
            user_id=session.user_id,
            account_id=session.account_id,
            symbol=session.symbol,
            side=side,
            size=filled,
            entry_price=mg.q12(notional / filled),
            open_order_id=order.id,
            open_fees=fees,
            open_step=last.step,
            using_db=conn,
        )
        await write_log(
            conn,
            session,
            LogKind.POSITION_OPENED,
            f"opened {side.value} {filled.normalize():f} {session.symbol} at {mg.q8(notional / filled)}: {reason}",
            trade_id=trade.id,
            positionId=str(lot.id),
            orderId=str(order.id),
            side=side.value,
            size=str(filled),
            entryPrice=str(lot.entry_price),
            notional=str(notional),
            fees=str(fees),
            step=last.step,
            oraclePrice=str(last.price),
            **detail,
        )
        opened.append(lot)

    spec = OrderSpec(
        account_id=str(session.account_id),
        symbol=session.symbol,
        side=order_side(side, closing=False),
        type=OrderType.MARKET,
        quantity=quantity,
    )
    await place_order(deps, actor, spec, within=record)
    return opened[0]


async def close_lot(
    deps: Deps,
    actor: Actor,
    lot: SessionPosition,
    reason: str,
    action: Action,
    also: Within | None = None,
) -> SessionPosition:
    """A reduce-only market order for the lot's size, and the lot closed from its fills, in one transaction.
    Two closes of one lot racing: the second finds it CLOSED under the account lock and is refused whole."""
    session = await TradingSession.get(id=lot.session_id)

    async def record(conn: BaseDBAsyncClient, order: Order) -> None:
        if also is not None:
            await also(conn, order)
        filled, notional, fees = await order_fills(conn, order.id)
        if filled != lot.size:
            raise Invalid(
                f"the closing order filled {filled.normalize():f} of {lot.size.normalize():f}",
                code="PARTIAL_CLOSE",
                field="positionId",
            )
        _, entry_notional, _ = await order_fills(conn, lot.open_order_id)
        realized = side_sign(lot.side) * (notional - entry_notional)
        now = datetime.now(UTC)
        closed = (
            await SessionPosition.filter(id=lot.id, status=LotStatus.OPEN)
            .using_db(conn)
            .update(
                status=LotStatus.CLOSED,
                exit_price=mg.q12(notional / filled),
                close_order_id=order.id,
                close_fees=fees,
                realized_pnl=realized,
                close_reason=reason[:200],
                close_nonce=None,
                close_deadline=None,
                closed_at=now,
            )
        )
        if not closed:
            raise Conflict("the position is already closed", code="POSITION_CLOSED", field="positionId")
        await write_log(
            conn,
            session,
            LogKind.POSITION_CLOSED,
            f"closed {lot.side.value} {lot.size.normalize():f} {lot.symbol} at {mg.q8(notional / filled)}: {reason}",
            trade_id=lot.trade_id,
            positionId=str(lot.id),
            orderId=str(order.id),
            exitPrice=str(mg.q12(notional / filled)),
            notional=str(notional),
            fees=str(fees),
            realizedPnl=str(realized),
        )
        if not await SessionPosition.exists(trade_id=lot.trade_id, status=LotStatus.OPEN, using_db=conn):
            await (
                SessionTrade.filter(id=lot.trade_id)
                .using_db(conn)
                .update(status=LotStatus.CLOSED, close_reason=reason[:200], closed_at=now)
            )
            await write_log(conn, session, LogKind.TRADE_CLOSED, f"trade closed: {reason}", trade_id=lot.trade_id)

    if lot.status != LotStatus.OPEN:
        raise Conflict("the position is already closed", code="POSITION_CLOSED", field="positionId")
    spec = OrderSpec(
        account_id=str(lot.account_id),
        symbol=lot.symbol,
        side=order_side(TradeSide(lot.side), closing=True),
        type=OrderType.MARKET,
        quantity=lot.size,
        reduce_only=True,
    )
    await submit(deps, actor, await validate(actor, spec), action, record)
    await lot.refresh_from_db()
    return lot


async def end_session(
    deps: Deps, actor: Actor, session: TradingSession, reason: EndReason, why: str, action: Action, **seen: str
) -> TradingSession:
    """Close the session's open lots, then end it (ACTIVE → ENDED once, whoever races) with its final PnL."""
    for lot in await SessionPosition.filter(session_id=session.id, status=LotStatus.OPEN).order_by("opened_at", "id"):
        await close_lot(deps, actor, lot, why, action)
    stats = (await stats_of(deps, [session]))[str(session.id)]
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        ended = (
            await TradingSession.filter(id=session.id, status=SessionStatus.ACTIVE)
            .using_db(conn)
            .update(status=SessionStatus.ENDED, end_reason=reason, ended_at=now, active_asset=None)
        )
        if ended:
            await write_log(
                conn,
                session,
                LogKind.SESSION_ENDED,
                f"session ended ({reason.value}): {why}",
                reason=reason.value,
                pnl=str(stats.pnl),
                realizedPnl=str(stats.realized_pnl),
                fees=str(stats.fees),
                **seen,
            )
    await session.refresh_from_db()
    await announce(deps, session)
    return session


# -- the owner's closes -------------------------------------------------------------------------------------


@dataclass
class Closed:
    session: TradingSession
    lots: list[SessionPosition]


async def close_session_position(
    deps: Deps, actor: Actor, lot_id: str, action: Action = Action.TRADING_SESSION_CLOSE_POSITION
) -> Closed:
    """Close one lot of one of your sessions; the session goes on trading."""
    async with audit.refusals(actor, action, target_type="SessionPosition", target_id=lot_id):
        lot = await require_owned(SessionPosition, lot_id, actor, field="positionId", what="session position")
        closed = await close_lot(deps, actor, lot, "closed by its owner", action)
    session = await TradingSession.get(id=lot.session_id)
    await announce(deps, session)
    return Closed(session, [closed])


async def _end_by_owner(deps: Deps, actor: Actor, session: TradingSession, why: str, action: Action) -> Closed:
    before = {str(lot.id) for lot in await SessionPosition.filter(session_id=session.id, status=LotStatus.OPEN)}
    await end_session(deps, actor, session, EndReason.CLOSED_BY_USER, why, action)
    lots = await SessionPosition.filter(id__in=list(before)).order_by("opened_at", "id") if before else []
    if not before:
        await audit.by(actor, action, Outcome.SUCCESS, target_type="TradingSession", target_id=session.id)
    return Closed(session, list(lots))


async def close_trade(deps: Deps, actor: Actor, trade_id: str) -> Closed:
    """Close every position of one of your open trades; the session ends (CLOSED_BY_USER)."""
    action = Action.TRADING_SESSION_CLOSE_TRADE
    async with audit.refusals(actor, action, target_type="SessionTrade", target_id=trade_id):
        trade = await require_owned(SessionTrade, trade_id, actor, field="tradeId", what="session trade")
        if trade.status != LotStatus.OPEN:
            raise Conflict("the trade is already closed", code="TRADE_CLOSED", field="tradeId")
        session = await TradingSession.get(id=trade.session_id)
        return await _end_by_owner(deps, actor, session, "trade closed by its owner", action)


async def close_position_by_asset(deps: Deps, actor: Actor, asset_index: int) -> Closed:
    """Close your active session's positions on an asset; the session ends (CLOSED_BY_USER)."""
    action = Action.TRADING_SESSION_CLOSE_ASSET
    async with audit.refusals(actor, action, target_type="TradingSession", detail={"assetIndex": asset_index}):
        session = await TradingSession.get_or_none(user_id=actor.user.id, active_asset=asset_index)
        if session is None:
            raise Missing(f"you have no active trading session on asset index {asset_index}", field="assetIndex")
        return await _end_by_owner(deps, actor, session, f"asset {asset_index} closed by its owner", action)


# -- the EIP-712 close signature ------------------------------------------------------------------------------

CLOSE_SIGNATURE_TTL = timedelta(minutes=5)
EIP712_DOMAIN_NAME = "Alura"
EIP712_DOMAIN_VERSION = "1"
CLOSE_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "ClosePosition": [
        {"name": "positionId", "type": "string"},
        {"name": "symbol", "type": "string"},
        {"name": "side", "type": "string"},
        {"name": "size", "type": "string"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "expiry", "type": "uint256"},
    ],
}


def close_typed_data(deps: Deps, lot: SessionPosition, nonce: str, expiry: int) -> dict[str, Any]:
    """The EIP-712 typed data (eth_signTypedData_v4's argument) that authorises closing ``lot``: the domain
    names the platform and the chain of the wallet sign-in; the message names the position, what it holds,
    a single-use nonce and a Unix-time expiry."""
    return {
        "types": CLOSE_TYPES,
        "primaryType": "ClosePosition",
        "domain": {
            "name": EIP712_DOMAIN_NAME,
            "version": EIP712_DOMAIN_VERSION,
            "chainId": deps.settings.siwe_chain_id,
        },
        "message": {
            "positionId": to_global_id("SessionPosition", lot.id),
            "symbol": lot.symbol,
            "side": TradeSide(lot.side).value,
            "size": f"{lot.size.normalize():f}",
            "nonce": nonce,
            "expiry": expiry,
        },
    }


async def _wallet_of(actor: Actor) -> str:
    user = await User.get(id=actor.user.id)
    if not user.wallet_address:
        raise Invalid(
            "closing by signature needs a wallet: sign in with your wallet first", code="NO_WALLET", field="positionId"
        )
    return str(user.wallet_address)


async def close_position_signature(deps: Deps, actor: Actor, lot_id: str) -> dict[str, Any]:
    """Issue a fresh nonce for closing the lot (replacing any earlier one) and the typed data to sign."""
    lot = await require_owned(SessionPosition, lot_id, actor, field="positionId", what="session position")
    await _wallet_of(actor)
    nonce = "0x" + secrets.token_hex(32)
    expiry = int((datetime.now(UTC) + CLOSE_SIGNATURE_TTL).timestamp())
    issued = await SessionPosition.filter(id=lot.id, status=LotStatus.OPEN).update(
        close_nonce=nonce, close_deadline=expiry
    )
    if not issued:
        raise Conflict("the position is already closed", code="POSITION_CLOSED", field="positionId")
    return close_typed_data(deps, lot, nonce, expiry)


async def close_position_with_signature(deps: Deps, actor: Actor, lot_id: str, signature: str) -> Closed:
    """Close the lot once the owner's linked wallet signed its outstanding typed data: the signer recovered
    with eth-account must be the wallet, the nonce unused (it is consumed in the closing transaction, so a
    replay finds none) and the expiry not passed."""
    action = Action.TRADING_SESSION_CLOSE_SIGNED
    async with audit.refusals(actor, action, target_type="SessionPosition", target_id=lot_id):
        lot = await require_owned(SessionPosition, lot_id, actor, field="positionId", what="session position")
        wallet = await _wallet_of(actor)
        nonce, expiry = lot.close_nonce, lot.close_deadline
        if nonce is None or expiry is None:
            raise BadSignature(
                "no close signature is outstanding for this position: its nonce was used or never issued",
                code="NONCE_USED",
            )
        if expiry <= int(datetime.now(UTC).timestamp()):
            raise BadSignature("the close signature has expired: request a new one", code="SIGNATURE_EXPIRED")
        try:
            signable = encode_typed_data(full_message=close_typed_data(deps, lot, nonce, expiry))
            signer = EthAccount.recover_message(signable, signature=signature)
        except Exception:  # eth-account raises several types for malformed signatures; all mean "not valid"
            raise BadSignature("signature is malformed") from None
        if signer.lower() != wallet.lower():
            raise BadSignature("signature was not made by your wallet", code="WRONG_SIGNER")

        async def consume(conn: BaseDBAsyncClient, order: Order) -> None:
            used = await SessionPosition.filter(id=lot.id, close_nonce=nonce).using_db(conn).update(close_nonce=None)
            if not used:
                raise BadSignature("this close signature was already used", code="NONCE_USED")

        closed = await close_lot(deps, actor, lot, "closed by its owner's signature", action, also=consume)
    session = await TradingSession.get(id=lot.session_id)
    await announce(deps, session)
    return Closed(session, [closed])


# -- the engine, on demand --------------------------------------------------------------------------------------


async def run_engine_once(deps: Deps, actor: Actor, session_id: str | None = None) -> Any:
    """One engine pass over every active session (or one), synchronously: what Alura's trigger-cron does."""
    from ..engine import trading_sessions as session_engine

    action = Action.TRADING_SESSION_ENGINE_RUN
    async with audit.refusals(actor, action, target_type="TradingSession", target_id=session_id or ""):
        if session_id is not None:
            row = await TradingSession.get_or_none(id=session_id)
            if row is None:
                raise Missing("no such trading session", field="sessionId")
            if row.status != SessionStatus.ACTIVE:
                raise Conflict("the session has ended", code="SESSION_ENDED", field="sessionId")
            rows = [row]
        else:
            rows = list(await TradingSession.filter(status=SessionStatus.ACTIVE).order_by("created_at", "id"))
    done = await session_engine.run_pass(deps, rows)
    await audit.by(
        actor,
        action,
        Outcome.SUCCESS,
        target_type="TradingSession",
        target_id=session_id or "",
        detail={"sessions": done.sessions, "skipped": done.skipped, "opened": done.opened, "ended": done.ended},
    )
    return done
