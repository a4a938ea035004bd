"""The trading session engine: it trades each ACTIVE session from the signals, within its budget, the
leverage its execution strategy allows and its maxPositions, and ends it at its profit target, its loss
threshold or its duration, logging every decision with its reason.

A step of a session (``step``):
1. Exits. PnL = realized + unrealized (at the mark, or the tick's price) − fees, from its lots' fills. At
   PnL ≥ profitTarget % of the budget it ends PROFIT_TARGET, at PnL ≤ −lossThreshold % LOSS_THRESHOLD, past
   ``endsAt`` DURATION; ending closes every open lot with a reduce-only market order.
2. Entries, once per signal candle: the signal (``engine/signals.py``) of its interval — quick sessions and
   DEGEN 5m, AGGRESSIVE 15m, CONSERVATIVE 1h — is read on the closed candles. A signal against the open
   trade closes it; BUY opens a LONG lot, SELL a SHORT one, while fewer than maxPositions are open; HOLD
   opens nothing. A lot's size is the budget's share (budget ÷ maxPositions) × leverage ÷ (mark × (1 + taker
   fee)) in whole lots, at the session's leverage (set on the asset while the account holds none of it).
   Nothing new to decide (the same action on the same candle) writes nothing.
Every order goes through ``place_order`` (the same checks as a person's order), as the session's owner.

Once per session across the cluster: a step runs only under the session's claim (``claimed_until``, taken
with a conditional UPDATE, let go when the step ends, lapsing if its process dies), whoever runs it: the
runner of the process holding the session's lease (``SessionRunner``, the bots' lease pattern of
``engine/lease.py``) on every tick of its asset, or an admin's ``runSessionEngineOnce`` (Alura's
trigger-cron) for every active session. All state is in the database, so a restart resumes where it was.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from tortoise.expressions import Q

from models.identity import User
from models.market import Instrument
from models.perps import MarginMode, PerpPosition, PerpSetting
from models.trading_sessions import (
    EndReason,
    ExecutionStrategy,
    LogKind,
    LotStatus,
    SessionKind,
    SessionPosition,
    SessionStatus,
    TradeSide,
    TradingSession,
)

from ..audit import Action
from ..events.market import PriceTicked
from ..ownership import Actor
from ..rejections import Rejection
from ..services import trading_sessions as sessions
from ..services.indicators import current_signal
from ..services.perps import update_leverage
from . import margin as mg
from .runners import LeasedRunner
from .signals import NotEnoughCandles

if TYPE_CHECKING:
    from ..services.deps import Deps

log = logging.getLogger(__name__)
HUNDRED = Decimal(100)
CLAIM_TTL = timedelta(seconds=60)
# Ticks of each symbol kept to check a lot's exits from the step after its fill even when its commit is
# seen a few ticks late.
RECENT_TICKS = 50
QUICK_INTERVAL = "5m"
SIGNAL_INTERVALS = {
    ExecutionStrategy.CONSERVATIVE: "1h",
    ExecutionStrategy.AGGRESSIVE: "15m",
    ExecutionStrategy.DEGEN: "5m",
}
ENGINE_IP = "trading-session"


def interval_of(session: TradingSession) -> str:
    if session.kind == SessionKind.QUICK:
        return QUICK_INTERVAL
    return SIGNAL_INTERVALS[ExecutionStrategy(session.execution_strategy)]


def exit_due(session: TradingSession, pnl: Decimal, now: datetime) -> tuple[EndReason, str] | None:
    """Whether the session ends now, and why."""
    if session.ends_at is not None and now >= session.ends_at:
        return EndReason.DURATION, f"its {session.strategy_duration} duration ran out"
    target = session.budget * session.profit_target / HUNDRED
    if pnl >= target:
        return EndReason.PROFIT_TARGET, (
            f"PnL {mg.q8(pnl)} reached the profit target {mg.q8(target)} ({session.profit_target.normalize():f} % "
            "of the budget)"
        )
    floor = -session.budget * session.loss_threshold / HUNDRED
    if pnl <= floor:
        return EndReason.LOSS_THRESHOLD, (
            f"PnL {mg.q8(pnl)} reached the loss threshold {mg.q8(floor)} "
            f"({session.loss_threshold.normalize():f} % of the budget)"
        )
    return None


async def claim(session_id: object, now: datetime) -> bool:
    """Take the session for one step: a conditional UPDATE, so two processes never both win it."""
    taken = (
        await TradingSession.filter(id=session_id, status=SessionStatus.ACTIVE)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM_TTL)
    )
    return bool(taken)


async def release(session_id: object) -> None:
    await TradingSession.filter(id=session_id).update(claimed_until=None)


@dataclass
class Stepped:
    """What one step did."""

    opened: int = 0
    closed: int = 0
    ended: EndReason | None = None
    decided: bool = False


async def owner_of(session: TradingSession) -> Actor:
    return Actor(await User.get(id=session.user_id), ENGINE_IP)


async def check_exits(
    deps: Deps, session: TradingSession, now: datetime, price: Decimal | None = None, at_step: int | None = None
) -> Stepped:
    """Step 1 alone: end the session if its target, threshold or duration is reached (at ``price``, the price
    of the feed's step ``at_step``, if given)."""
    prices = {session.symbol: price} if price is not None else None
    stats = (await sessions.stats_of(deps, [session], prices))[str(session.id)]
    due = exit_due(session, stats.pnl, now)
    if due is None:
        return Stepped()
    reason, why = due
    seen: dict[str, str] = {}
    if price is not None:
        why += f" at {price.normalize():f}"
        seen = {"price": str(price), "step": str(at_step)}
    await sessions.end_session(deps, await owner_of(session), session, reason, why, Action.ORDER_PLACE, **seen)
    return Stepped(closed=stats.open_positions, ended=reason, decided=True)


async def step(deps: Deps, session: TradingSession, now: datetime) -> Stepped:
    """One decision round of a session; the caller holds its claim."""
    done = await check_exits(deps, session, now)
    if done.ended is not None:
        return done
    instrument = await Instrument.get(symbol=session.symbol)
    code = interval_of(session)
    try:
        decision, bar = await current_signal(instrument, deps.settings.feed_seed, code, now)
    except NotEnoughCandles:
        return done
    action = decision.action.value
    new_candle = session.signal_at is None or bar.open_time > session.signal_at
    if not new_candle and action == session.last_signal:
        return done
    actor = await owner_of(session)
    wanted = {"BUY": TradeSide.LONG, "SELL": TradeSide.SHORT}.get(action)
    signal = {
        "interval": code,
        "action": action,
        "strength": decision.strength,
        "candleOpenTime": bar.open_time.isoformat(),
    }
    open_lots = list(
        await SessionPosition.filter(session_id=session.id, status=LotStatus.OPEN).order_by("opened_at", "id")
    )
    held = TradeSide(open_lots[0].side) if open_lots else None
    if wanted is not None and held is not None and wanted != held:
        message = f"{code} signal {action} (strength {decision.strength}) against the {held.value} trade: close it"
        await sessions.write_log(None, session, LogKind.SIGNAL, message, trade_id=open_lots[0].trade_id, **signal)
        for lot in open_lots:
            try:
                await sessions.close_lot(deps, actor, lot, f"the {code} signal turned {action}", Action.ORDER_PLACE)
                done.closed += 1
            except Rejection as refused:
                await sessions.write_log(
                    None, session, LogKind.SKIPPED, f"could not close: {refused.message}", code=refused.code
                )
        open_lots = list(await SessionPosition.filter(session_id=session.id, status=LotStatus.OPEN))
    elif wanted is None:
        await sessions.write_log(
            None, session, LogKind.SIGNAL, f"{code} signal HOLD (strength {decision.strength}): nothing new", **signal
        )
    else:
        await sessions.write_log(
            None, session, LogKind.SIGNAL, f"{code} signal {action} (strength {decision.strength})", **signal
        )
    if wanted is not None:
        done.opened += await _enter(deps, actor, session, instrument, wanted, len(open_lots), code, action, signal)
    await TradingSession.filter(id=session.id).update(last_signal=action, signal_at=bar.open_time)
    session.last_signal, session.signal_at = action, bar.open_time
    done.decided = True
    return done


async def _enter(
    deps: Deps,
    actor: Actor,
    session: TradingSession,
    instrument: Instrument,
    side: TradeSide,
    held: int,
    code: str,
    action: str,
    signal: dict[str, object],
) -> int:
    """Open one lot on ``side`` if the session has room; a refusal is logged as SKIPPED with its reason."""
    if held >= session.max_positions:
        await sessions.write_log(
            None,
            session,
            LogKind.SKIPPED,
            f"no new {side.value} position: {held} of {session.max_positions} positions already open",
        )
        return 0
    mark = (await deps.engine.perps.marks())[session.symbol].mark
    share = session.budget / session.max_positions
    quantity = sessions.lot_size_of(instrument, share * session.leverage / (mark * (1 + deps.settings.taker_fee)))
    if quantity <= 0:
        await sessions.write_log(
            None,
            session,
            LogKind.SKIPPED,
            f"no new {side.value} position: a budget share of {mg.q8(share)} at {session.leverage}x buys less than "
            f"one lot of {session.symbol}",
        )
        return 0
    try:
        await _use_leverage(deps, actor, session)
        await sessions.open_lot(
            deps,
            actor,
            session,
            side,
            quantity,
            f"the {code} signal is {action}; a budget share of {mg.q8(share)} at {session.leverage}x",
            mark=str(mark),
            interval=code,
            signalAction=action,
            candleOpenTime=str(signal["candleOpenTime"]),
        )
    except Rejection as refused:
        await sessions.write_log(
            None,
            session,
            LogKind.SKIPPED,
            f"no new {side.value} position: {refused.message}",
            code=refused.code,
        )
        return 0
    return 1


async def _use_leverage(deps: Deps, actor: Actor, session: TradingSession) -> None:
    """Trade at the session's leverage: set it on the asset while the account holds none of it (an open
    position keeps the leverage it was opened with)."""
    position = await PerpPosition.get_or_none(account_id=session.account_id, symbol=session.symbol)
    if position is not None and position.size != 0:
        return
    setting = await PerpSetting.get_or_none(account_id=session.account_id, symbol=session.symbol)
    if setting is not None and setting.leverage == session.leverage:
        return
    mode = MarginMode(setting.margin_mode) if setting is not None else MarginMode.CROSS
    await update_leverage(deps, actor, str(session.account_id), session.asset_index, session.leverage, mode)


@dataclass
class EnginePass:
    """What one pass over the active sessions did."""

    sessions: int = 0
    skipped: int = 0
    opened: int = 0
    closed: int = 0
    ended: int = 0


async def run_pass(deps: Deps, rows: list[TradingSession], now: datetime | None = None) -> EnginePass:
    """One step of each session, each under its claim; a session another process is stepping is skipped."""
    done = EnginePass()
    for row in rows:
        at = now or datetime.now(UTC)
        if not await claim(row.id, at):
            done.skipped += 1
            continue
        try:
            await row.refresh_from_db()
            stepped = await step(deps, row, at)
        finally:
            await release(row.id)
        done.sessions += 1
        done.opened += stepped.opened
        done.closed += stepped.closed
        done.ended += 1 if stepped.ended is not None else 0
        if stepped.decided:
            await sessions.announce(deps, row)
    return done


@dataclass
class Watched:
    """A session this process holds the lease on: what its ticks need without a query."""

    symbol: str
    ends_at: datetime | None
    passed_at: int = 0  # monotonic time (ns) of its last full step here
    checked_step: int = 0  # the last feed step its exits were checked at


class SessionRunner(LeasedRunner[Watched]):
    """Every API process runs one: it holds leases on ACTIVE sessions (``RowLeases``, as bots do) and, on each
    feed tick of a held session's asset, checks its exits at that tick's price — so a target or threshold is
    acted on at the first tick that reaches it — and, every ``interval`` seconds (0: never; then only
    ``runSessionEngineOnce`` decides entries), runs its full step. Both act only under the session's claim.

    A lot's exits are checked at every feed step after the one its opening order was filled at, in order —
    ticks published before its commit was visible included (the last ``RECENT_TICKS`` are kept) — and never at
    an earlier step, whose price is older than the lot."""

    kind = "session"

    def __init__(self, deps: Deps, *, ttl: timedelta, renew: timedelta, interval: timedelta) -> None:
        super().__init__(deps, TradingSession, ttl=ttl, renew=renew, status=SessionStatus.ACTIVE)
        self._interval_ns = int(interval.total_seconds() * 1e9)
        self._recent: dict[str, deque[tuple[int, Decimal]]] = {}

    async def manage(self) -> None:
        now = datetime.now(UTC)
        mine = await self._leases.renew(now)
        for gone in [held for held in self._held if held not in mine]:
            del self._held[gone]
        fresh = (mine - set(self._held)) | {row for row, _ in await self._leases.claim(now, len(self._held))}
        for row in await TradingSession.filter(id__in=list(fresh)):
            self._held[str(row.id)] = Watched(row.symbol, row.ends_at)

    async def on_tick(self, tick: PriceTicked) -> None:
        recent = self._recent.setdefault(tick.symbol, deque(maxlen=RECENT_TICKS))
        recent.append((tick.step, tick.price))
        watched = {sid: w for sid, w in self._held.items() if w.symbol == tick.symbol}
        if not watched:
            return
        clock = time.monotonic_ns()
        now = datetime.now(UTC)
        due = {
            sid
            for sid, w in watched.items()
            if (self._interval_ns > 0 and clock - w.passed_at >= self._interval_ns)
            or (w.ends_at is not None and now >= w.ends_at)
        }
        # Sessions with a lot open: their PnL moves with every tick after the step the lot was filled at.
        filled_at: dict[str, int] = {}
        for sid, opened in await SessionPosition.filter(
            session_id__in=list(watched), status=LotStatus.OPEN
        ).values_list("session_id", "open_step"):
            filled_at[str(sid)] = max(filled_at.get(str(sid), 0), opened or 0)
        for sid in sorted(due | set(filled_at)):
            session = await TradingSession.get_or_none(id=sid)
            if session is None or session.status != SessionStatus.ACTIVE or session.runner != self.name:
                self._held.pop(sid, None)
                continue
            if sid in due:
                watched[sid].passed_at = clock
                await self._claimed(session, now, lambda s: step(self._deps, s, now))
                continue
            # Every step since the last one checked, ticks that came before the lot was visible included.
            since = max(filled_at[sid], watched[sid].checked_step)
            watched[sid].checked_step = tick.step
            for at_step, price in recent:
                if not since < at_step <= tick.step:
                    continue
                stats = (await sessions.stats_of(self._deps, [session], {session.symbol: price}))[sid]
                if exit_due(session, stats.pnl, now) is not None:
                    await self._claimed(
                        session, now, partial(check_exits, self._deps, now=now, price=price, at_step=at_step)
                    )
                    break

    async def _claimed(
        self, session: TradingSession, now: datetime, act: Callable[[TradingSession], Awaitable[Stepped]]
    ) -> None:
        if not await claim(session.id, now):
            return
        try:
            await session.refresh_from_db()
            if session.status != SessionStatus.ACTIVE:
                return
            done = await act(session)
        finally:
            await release(session.id)
        if done.decided:
            await sessions.announce(self._deps, session)
        if done.ended is not None:
            self._held.pop(str(session.id), None)
