"""Kill switch actions: activate or deactivate the global switch (admins) or one's own, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.alerts import AlertCategory, AlertType, Severity
from models.audit import Outcome
from models.killswitch import KillLevel, KillScope, KillSwitch, KillSwitchEvent
from models.orders import OrderType, Side, TimeInForce
from models.positions import Position
from models.venues import VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.types import Changes, OrderRequest
from ..events import publish
from ..events.killswitch import KillSwitchFlipped
from ..ownership import Actor
from ..rejections import Invalid, NotAllowed, Rejection
from . import bots
from .alerts import announce, raise_alert
from .deps import Deps
from .orders import submit

GLOBAL = "global"  # the channel key of the platform switch


@dataclass
class Switched:
    switch: KillSwitch
    cancelled_orders: int
    closing_orders: int = 0


def switch_key(scope: KillScope, user_id: str) -> str:
    return GLOBAL if scope == KillScope.GLOBAL else user_id


async def _lock_switch(conn: BaseDBAsyncClient, scope: KillScope, user_id: str) -> KillSwitch:
    if scope == KillScope.GLOBAL:
        return await KillSwitch.filter(scope=KillScope.GLOBAL).using_db(conn).select_for_update().get()
    row = await KillSwitch.filter(scope=KillScope.ACCOUNT, user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        row = await KillSwitch.create(scope=KillScope.ACCOUNT, user_id=user_id, active=False, using_db=conn)
    return row


async def set_kill_switch(
    deps: Deps, actor: Actor, scope: KillScope, reason: str, active: bool, level: KillLevel = KillLevel.CANCEL_ALL
) -> Switched:
    """Turn a switch on (``activate``: bounded in time under any order flow, and exact) or off.

    Every level refuses new orders except risk-reducing ones; CANCEL_ALL also cancels every working order in
    scope, and FLATTEN then closes every open position in scope at market. BLOCK_ENTRIES leaves working orders
    working."""
    action = Action.KILLSWITCH_ACTIVATE if active else Action.KILLSWITCH_DEACTIVATE
    target = scope.value if scope == KillScope.GLOBAL else actor.user_id
    async with audit.refusals(actor, action, target_type="KillSwitch", target_id=target, detail={"reason": reason}):
        if scope == KillScope.GLOBAL and not actor.is_admin:
            raise NotAllowed("only admins control the global kill switch")
        reason = reason.strip()
        if not 1 <= len(reason) <= 500:
            raise Invalid("reason must be 1 to 500 characters", field="reason")
        if active:
            return await _activate(deps, actor, scope, reason, target, level)
        return await _deactivate(deps, actor, scope, reason, target)


async def _flip(
    conn: BaseDBAsyncClient,
    actor: Actor,
    scope: KillScope,
    reason: str,
    active: bool,
    target: str,
    level: KillLevel | None = None,
) -> tuple[KillSwitch, KillSwitchEvent]:
    """Lock the switch row, change it, and write its history event and audit row, in ``conn``."""
    switch = await _lock_switch(conn, scope, actor.user_id)
    if switch.active == active:
        state = "active" if active else "inactive"
        raise Invalid(f"the {scope.value.lower()} kill switch is already {state}", code="NO_CHANGE", field="scope")
    switch.active, switch.reason, switch.changed_by, switch.changed_at = active, reason, actor.user.id, utcnow()
    if level is not None:
        switch.level = level
    await switch.save(using_db=conn)
    event = await KillSwitchEvent.create(
        scope=scope,
        user_id=switch.user_id,
        active=active,
        level=switch.level,
        reason=reason,
        actor_id=actor.user.id,
        using_db=conn,
    )
    action = Action.KILLSWITCH_ACTIVATE if active else Action.KILLSWITCH_DEACTIVATE
    detail = {"reason": reason, "level": switch.level.value}
    await audit.by(actor, action, Outcome.SUCCESS, target_type="KillSwitch", target_id=target, detail=detail, conn=conn)
    return switch, event


async def _activate(deps: Deps, actor: Actor, scope: KillScope, reason: str, target: str, level: KillLevel) -> Switched:
    """Activate a kill switch so that it takes hold in bounded time under any order flow, and exactly.

    The protocol (the placement half is ``lock_for_trading``):

    1. *Switch on.* One short transaction locks the switch row ``FOR UPDATE``, sets it active and writes
       the history event and the audit row, stops every running or paused bot in scope, and commits.
       Placements never lock the switch row, so this
       waits only for another change of the same switch, never for the order flow. (Placements used to
       take it ``FOR SHARE``; PostgreSQL kept granting new share locks ahead of the waiting ``FOR
       UPDATE``, and an activation waited for the whole storm to end.)
    2. *Barrier and sweep.* A second transaction locks the switch row again, then every account in scope
       one by one in id order (the order every multi-account writer uses, so no lock cycles), and cancels
       each account's working orders. At each account it waits for the one placement that holds the lock
       now; the placements queued behind it read the switch after step 1 committed and are refused
       at once, so the wait is about one placement per account, whatever the load. Then the critical
       alert, and the answer.

    Why no order is accepted after the activation (a risk-reducing one excepted, as always): a placement
    reads the switches with a statement that starts after its account lock was granted and keeps the
    lock until it commits. If that read started after step 1 committed, it sees the switch and refuses.
    Otherwise the placement already held its account's lock when step 1 committed; step 2, which starts
    after that commit, must take the same lock, so the placement commits first: before step 2 commits,
    before the answer, and its order, if it rests, is cancelled by the sweep. Hence every placement whose
    request starts after the answer is refused, and every order accepted without seeing the switch was
    committed before step 2 took its account's lock. Of the placements in the middle of their
    transaction when step 1 commits, those that already read the switch hold their account's lock and
    the barrier waits for them; the others (queued for the lock, or holding it but not yet reading) read
    it after step 1 and are refused. Stop orders triggered by ticks are not placements: a pending stop is
    a working order, so it either triggers before the sweep reaches its account (as it could before any
    activation) or is cancelled by it. New accounts cannot slip past the sweep: an account a placement
    can lock was committed before that placement began, so before step 1 committed if the placement
    missed the switch, and step 2 lists the accounts after that commit.

    ACCOUNT scope is the same protocol over the user's accounts and the user's switch row. On SQLite,
    writers are serialised, so each placement runs wholly before or wholly after step 1; the argument
    above holds unchanged (step 2's barrier is then immediate).

    Between the two steps a deactivation may run (it waits only for the switch row). Step 2 notices that
    its event is no longer the switch's latest and skips the sweep: the switch was turned off, and
    cancelling orders placed after that would be wrong. If step 2 fails, the switch stays on (the safe
    side), its history and audit rows stand, and working orders it did not reach stay working; the
    mutation answers an error.

    Levels: BLOCK_ENTRIES stops after step 1 (no sweep: working orders stay). FLATTEN, after step 2 commits,
    sells every open position in scope at market through the same placement path (risk-reducing sells pass
    the switch), one closing order per position, each audited as a position close.
    """
    async with in_transaction() as conn:
        switch, event = await _flip(conn, actor, scope, reason, True, target, level)
        stopped = await bots.stop_in_scope(conn, None if scope == KillScope.GLOBAL else actor.user_id, reason)
    await publish(
        deps.bus, KillSwitchFlipped(channel_key=switch_key(scope, actor.user_id), scope=scope.value, active=True)
    )
    for bot, line in stopped:
        await bots.announce(deps, bot, line)

    changes = Changes()
    cancelled = 0
    async with in_transaction() as conn:
        current = await _lock_switch(conn, scope, actor.user_id)
        latest = (
            await KillSwitchEvent.filter(scope=current.scope, user_id=current.user_id)
            .using_db(conn)
            .order_by("-id")
            .first()
        )
        if latest is not None and latest.id == event.id and level != KillLevel.BLOCK_ENTRIES:
            cancelled = await _cancel_working(deps, conn, None if scope == KillScope.GLOBAL else actor.user_id, changes)
            await KillSwitchEvent.filter(id=event.id).using_db(conn).update(cancelled_orders=cancelled)
            await audit.by(
                actor,
                Action.KILLSWITCH_SWEEP,
                Outcome.SUCCESS,
                target_type="KillSwitch",
                target_id=target,
                detail={"cancelledOrders": cancelled},
                conn=conn,
            )
        alert = await raise_alert(
            conn,
            user_id=switch.user_id,
            type=AlertType.ERROR,
            category=AlertCategory.TRADING,
            severity=Severity.CRITICAL,
            title=f"{scope.value.title()} kill switch activated",
            message=f"{reason} ({cancelled} working orders cancelled)",
            source="kill_switch",
            metadata={"level": level.value, "cancelledOrders": cancelled},
        )
    await deps.engine.publish(changes)
    await announce(deps.bus, [alert])
    closing = 0
    if level == KillLevel.FLATTEN:
        closing = await _flatten(deps, actor, None if scope == KillScope.GLOBAL else actor.user_id)
        await KillSwitchEvent.filter(id=event.id).update(closing_orders=closing)
        await audit.by(
            actor,
            Action.KILLSWITCH_FLATTEN,
            Outcome.SUCCESS,
            target_type="KillSwitch",
            target_id=target,
            detail={"closingOrders": closing},
        )
    return Switched(switch, cancelled, closing)


async def _flatten(deps: Deps, actor: Actor, user_id: str | None) -> int:
    """A market sell of every open position in scope; one refused (a venue down, say) is skipped, its refusal
    audited, and the others still go."""
    positions = Position.filter(quantity__gt=0)
    if user_id is not None:
        positions = positions.filter(user_id=user_id)
    closing = 0
    for row in await positions.order_by("account_id", "symbol"):
        request = OrderRequest(
            account_id=str(row.account_id),
            user_id=str(row.user_id),
            symbol=row.symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            quantity=row.quantity - row.reserved_quantity,
            price=None,
            stop_price=None,
            client_order_id=None,
        )
        if request.quantity <= 0:
            continue
        try:
            async with audit.refusals(actor, Action.POSITION_CLOSE, target_type="Position", target_id=row.id):
                await submit(deps, actor, request, Action.POSITION_CLOSE)
        except Rejection:
            continue
        closing += 1
    return closing


async def _deactivate(deps: Deps, actor: Actor, scope: KillScope, reason: str, target: str) -> Switched:
    """One transaction: turning the switch off needs no barrier (a placement that still sees it on is
    refused, which was right a moment earlier)."""
    async with in_transaction() as conn:
        switch, _ = await _flip(conn, actor, scope, reason, False, target)
        alert = await raise_alert(
            conn,
            user_id=switch.user_id,
            type=AlertType.INFO,
            category=AlertCategory.TRADING,
            severity=Severity.LOW,
            title=f"{scope.value.title()} kill switch deactivated",
            message=reason,
            source="kill_switch",
        )
    flipped = KillSwitchFlipped(channel_key=switch_key(scope, actor.user_id), scope=scope.value, active=False)
    await publish(deps.bus, flipped)
    await announce(deps.bus, [alert])
    return Switched(switch, 0)


async def _cancel_working(deps: Deps, conn: BaseDBAsyncClient, user_id: str | None, changes: Changes) -> int:
    """Cancel every working order in scope, account by account in a fixed order (no lock cycles)."""
    accounts = VenueAccount.all() if user_id is None else VenueAccount.filter(user_id=user_id)
    ids = sorted(str(a) for a in await accounts.using_db(conn).values_list("id", flat=True))
    cancelled = 0
    for account_id in ids:
        cancelled += len(await deps.engine.cancel_account_working(conn, account_id, "kill switch activated", changes))
    return cancelled
