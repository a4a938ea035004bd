"""Trading session actions (Alura's quick and advanced sessions): start one, read its figures, close its
positions and trades. The engine that trades a session from the signals is ``engine/trading_sessions.py``;
every order it or a user places for a session goes through ``services.orders.place_order``.

A session trades one asset of a Hyperliquid paper account: at most one ACTIVE session per asset per user
(the table's unique (user_id, active_asset) holds it under racing requests), and the budgets of a perp
account's active sessions together never exceed what the account could withdraw when each started.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.orders import Fill, Side
from models.trading_sessions import (
    ExecutionStrategy,
    LogKind,
    LotStatus,
    SessionKind,
    SessionLog,
    SessionPosition,
    SessionStatus,
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
from ..ownership import Actor
from ..rejections import Conflict, FundsShort, Invalid
from .deps import Deps
from .funds import source_account
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


async def stats_of(deps: Deps, sessions: list[TradingSession]) -> dict[str, Stats]:
    """Each session's figures from the fills of its lots' orders, in three queries whatever their number.

    A lot's realized PnL is side × (exit notional − entry notional) of the size closed; an open lot's
    unrealized PnL is side × (size × mark − entry notional); fees and volume are the fills' own."""
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
    marks = await deps.engine.perps.marks() if any(lot.status == LotStatus.OPEN for lot in lots) else {}
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
            stats.unrealized_pnl += sign * (lot.size * marks[lot.symbol].mark - notional[opened])
        else:
            stats.realized_pnl += sign * (notional[closed] - notional[opened])
    return found


def order_side(side: TradeSide, closing: bool) -> Side:
    opens = Side.BUY if side == TradeSide.LONG else Side.SELL
    return (Side.SELL if opens == Side.BUY else Side.BUY) if closing else opens
