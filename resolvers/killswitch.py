"""The kill switch: stop trading globally (admins) or for one's own accounts, in one transaction."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.auth import utcnow
from graphql_api.context import Context, Info
from graphql_api.engine.matching import Changes
from graphql_api.errors import Forbidden
from graphql_api.pagination import paginate, to_global_id
from graphql_api.permissions import has_role, require_principal
from graphql_api.pubsub import channel
from models.audit import Outcome
from models.identity import Role
from models.trading import Alert, KillScope, KillSwitch, Severity
from models.trading import KillSwitchEvent as EventRow
from models.venues import VenueAccount
from schema.common import After, Connection, First, InvalidInput, invalid
from schema.trading import (
    ActivateKillSwitchInput,
    DeactivateKillSwitchInput,
    KillSwitchChanged,
    KillSwitchEvent,
    KillSwitchResult,
    KillSwitchScope,
    KillSwitchState,
    KillSwitchStatus,
    KillSwitchUpdate,
)

_GLOBAL_CHANNEL = channel("killswitch", "global")


def _state(row: KillSwitch | None, scope: KillScope) -> KillSwitchState:
    return KillSwitchState(
        scope=KillSwitchScope[scope.value],
        active=bool(row and row.active),
        reason=row.reason if row else "",
        changed_at=row.changed_at if row else None,
    )


async def status_for(user_id: str) -> KillSwitchStatus:
    rows = await KillSwitch.filter(scope=KillScope.GLOBAL).first(), await KillSwitch.get_or_none(user_id=user_id)
    global_state, account_state = _state(rows[0], KillScope.GLOBAL), _state(rows[1], KillScope.ACCOUNT)
    return KillSwitchStatus(
        global_switch=global_state,
        account_switch=account_state,
        trading_blocked=global_state.active or account_state.active,
    )


async def kill_switch(info: Info) -> KillSwitchStatus:
    return await status_for(require_principal(info.context).user_id)


async def _lock_switch(conn: BaseDBAsyncClient, scope: KillScope, user_id: str) -> KillSwitch:
    if scope == KillScope.GLOBAL:
        return await KillSwitch.filter(scope=KillScope.GLOBAL).using_db(conn).select_for_update().get()
    row = await KillSwitch.filter(scope=KillScope.ACCOUNT, user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        row = await KillSwitch.create(scope=KillScope.ACCOUNT, user_id=user_id, active=False, using_db=conn)
    return row


def _check(info: Info, scope_in: KillSwitchScope, reason: str) -> tuple[KillScope, str] | InvalidInput:
    if KillScope(scope_in.name) == KillScope.GLOBAL and not has_role(info.context, Role.ADMIN):
        raise Forbidden("only admins control the global kill switch")
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        return invalid("reason must be 1 to 500 characters", "reason")
    return KillScope(scope_in.name), reason


def _no_change(scope: KillScope, active: bool) -> InvalidInput:
    state = "active" if active else "inactive"
    return invalid(f"the {scope.value.lower()} kill switch is already {state}", "scope", code="NO_CHANGE")


async def _latest_event_id(conn: BaseDBAsyncClient, switch: KillSwitch) -> int | None:
    latest = await EventRow.filter(scope=switch.scope, user_id=switch.user_id).using_db(conn).order_by("-id").first()
    return latest.id if latest else None


async def _activate(info: Info, scope_in: KillSwitchScope, reason_in: str) -> KillSwitchResult:
    """Activate a kill switch so that it takes hold in bounded time under any order flow, and exactly.

    The protocol (the placement half is ``lock_for_trading``):

    1. *Switch on.* One short transaction locks the switch row ``FOR UPDATE``, sets it active and writes
       the history event and the audit row, and commits. Placements never lock the switch row, so this
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
    it after step 1 and are refused. Stop orders triggered by ticks are not placements:
    a pending stop is a working order, so it either triggers before the sweep reaches its account (as it
    could before any activation) or is cancelled by it. New accounts cannot slip past the sweep: an
    account a placement can lock was committed before that placement began, so before step 1 committed
    if the placement missed the switch, and step 2 lists the accounts after that commit.

    ACCOUNT scope is the same protocol over the user's accounts and the user's switch row. On SQLite,
    writers are serialised, so each placement runs wholly before or wholly after step 1; the argument
    above holds unchanged (step 2's barrier is then immediate).

    Between the two steps a deactivation may run (it waits only for the switch row). Step 2 notices that
    its event is no longer the switch's latest and skips the sweep: the switch was turned off, and
    cancelling orders placed after that would be wrong. If step 2 fails, the switch stays on (the safe
    side), its history and audit rows stand, and working orders it did not reach stay working; the
    mutation answers an error.
    """
    ctx = info.context
    principal = require_principal(ctx)
    checked = _check(info, scope_in, reason_in)
    if isinstance(checked, InvalidInput):
        return checked
    scope, reason = checked
    async with in_transaction() as conn:
        switch = await _lock_switch(conn, scope, principal.user_id)
        if switch.active:
            return _no_change(scope, True)
        switch.active, switch.reason, switch.changed_by, switch.changed_at = True, reason, principal.user.id, utcnow()
        await switch.save(using_db=conn)
        event = await EventRow.create(
            scope=scope, user_id=switch.user_id, active=True, reason=reason, actor_id=principal.user.id, using_db=conn
        )
        await audit.record(
            "killswitch.activate",
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="KillSwitch",
            target_id=_target(switch),
            ip=ctx.client.ip,
            detail={"reason": reason},
            conn=conn,
        )
    await ctx.bus.publish(_channel(switch), {"scope": scope.value, "active": True})

    changes = Changes()
    cancelled = 0
    async with in_transaction() as conn:
        current = await _lock_switch(conn, scope, principal.user_id)
        if await _latest_event_id(conn, current) == event.id:
            in_scope = None if scope == KillScope.GLOBAL else principal.user_id
            cancelled = await _cancel_working(ctx, conn, in_scope, changes)
            await EventRow.filter(id=event.id).using_db(conn).update(cancelled_orders=cancelled)
            await audit.record(
                "killswitch.sweep",
                Outcome.SUCCESS,
                actor=principal.user,
                target_type="KillSwitch",
                target_id=_target(switch),
                ip=ctx.client.ip,
                detail={"cancelledOrders": cancelled},
                conn=conn,
            )
        await Alert.create(
            user_id=switch.user_id,
            type="KILL_SWITCH",
            category="RISK",
            severity=Severity.CRITICAL,
            title=f"{scope.value.title()} kill switch activated",
            message=f"{reason} ({cancelled} working orders cancelled)",
            source="kill_switch",
            using_db=conn,
        )
    await ctx.engine.publish(changes)
    return KillSwitchChanged(state=_state(switch, scope), cancelled_orders=cancelled)


async def _deactivate(info: Info, scope_in: KillSwitchScope, reason_in: str) -> KillSwitchResult:
    """One transaction: turning the switch off needs no barrier (a placement that still sees it on is
    refused, which was right a moment earlier)."""
    ctx = info.context
    principal = require_principal(ctx)
    checked = _check(info, scope_in, reason_in)
    if isinstance(checked, InvalidInput):
        return checked
    scope, reason = checked
    async with in_transaction() as conn:
        switch = await _lock_switch(conn, scope, principal.user_id)
        if not switch.active:
            return _no_change(scope, False)
        switch.active, switch.reason, switch.changed_by, switch.changed_at = False, reason, principal.user.id, utcnow()
        await switch.save(using_db=conn)
        await EventRow.create(
            scope=scope, user_id=switch.user_id, active=False, reason=reason, actor_id=principal.user.id, using_db=conn
        )
        await Alert.create(
            user_id=switch.user_id,
            type="KILL_SWITCH",
            category="RISK",
            severity=Severity.INFO,
            title=f"{scope.value.title()} kill switch deactivated",
            message=reason,
            source="kill_switch",
            using_db=conn,
        )
        await audit.record(
            "killswitch.deactivate",
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="KillSwitch",
            target_id=_target(switch),
            ip=ctx.client.ip,
            detail={"reason": reason, "cancelledOrders": 0},
            conn=conn,
        )
    await ctx.bus.publish(_channel(switch), {"scope": scope.value, "active": False})
    return KillSwitchChanged(state=_state(switch, scope), cancelled_orders=0)


def _target(switch: KillSwitch) -> str:
    return KillScope.GLOBAL.value if switch.user_id is None else str(switch.user_id)


def _channel(switch: KillSwitch) -> str:
    return _GLOBAL_CHANNEL if switch.user_id is None else channel("killswitch", str(switch.user_id))


async def _cancel_working(ctx: Context, conn: BaseDBAsyncClient, user_id: str | None, changes: Changes) -> int:
    """Cancel every working order in scope, account by account in a fixed order (no lock cycles)."""
    accounts = VenueAccount.all() if user_id is None else VenueAccount.filter(user_id=user_id)
    ids = sorted(str(a) for a in await accounts.using_db(conn).values_list("id", flat=True))
    cancelled = 0
    for account_id in ids:
        cancelled += len(await ctx.engine.cancel_account_working(conn, account_id, "kill switch activated", changes))
    return cancelled


async def activate_kill_switch(
    info: Info, input: Annotated[ActivateKillSwitchInput, strawberry.argument(description="Scope and reason.")]
) -> KillSwitchResult:
    """Cancels every working order in scope, blocks new ones, raises a critical alert, audits; atomically."""
    return await _activate(info, input.scope, input.reason)


async def deactivate_kill_switch(
    info: Info, input: Annotated[DeactivateKillSwitchInput, strawberry.argument(description="Scope and reason.")]
) -> KillSwitchResult:
    return await _deactivate(info, input.scope, input.reason)


async def kill_switch_history(info: Info, first: First = None, after: After = None) -> Connection[KillSwitchEvent]:
    principal = require_principal(info.context)
    query = EventRow.all()
    if not has_role(info.context, Role.ADMIN):
        query = query.filter(Q(user_id=principal.user.id) | Q(scope=KillScope.GLOBAL))
    return await paginate(
        query,
        first=first,
        after=after,
        cap=info.context.settings.max_page_size,
        convert=lambda row: KillSwitchEvent(
            scope=KillSwitchScope[row.scope],
            active=row.active,
            reason=row.reason,
            actor_id=strawberry.ID(to_global_id("User", row.actor_id)) if row.actor_id else None,
            cancelled_orders=row.cancelled_orders,
            created_at=row.created_at,
        ),
    )


async def kill_switch_changed(info: Info) -> AsyncGenerator[KillSwitchUpdate, None]:
    return _stream(info.context, require_principal(info.context).user_id)


async def _stream(ctx: Context, user_id: str) -> AsyncGenerator[KillSwitchUpdate, None]:
    sequence = 1
    async with ctx.bus.subscribe([_GLOBAL_CHANNEL, channel("killswitch", user_id)]) as events:
        yield KillSwitchUpdate(status=await status_for(user_id), sequence=sequence, snapshot=True)
        async for event in events:
            sequence += 1
            yield KillSwitchUpdate(status=await status_for(user_id), sequence=sequence, snapshot=event.resync)
