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
from schema.common import After, Connection, First, invalid
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


async def _set(info: Info, scope_in: KillSwitchScope, reason: str, active: bool) -> KillSwitchResult:
    ctx = info.context
    principal = require_principal(ctx)
    scope = KillScope(scope_in.name)
    if scope == KillScope.GLOBAL and not has_role(ctx, Role.ADMIN):
        raise Forbidden("only admins control the global kill switch")
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        return invalid("reason must be 1 to 500 characters", "reason")
    changes = Changes()
    async with in_transaction() as conn:
        # Switch row first, accounts after: the same order placements lock in (see lock_for_trading).
        switch = await _lock_switch(conn, scope, principal.user_id)
        if switch.active == active:
            state = "active" if active else "inactive"
            return invalid(f"the {scope.value.lower()} kill switch is already {state}", "scope", code="NO_CHANGE")
        cancelled = 0
        if active:
            cancelled = await _cancel_working(
                ctx, conn, None if scope == KillScope.GLOBAL else principal.user_id, changes
            )
        now = utcnow()
        switch.active, switch.reason, switch.changed_by, switch.changed_at = active, reason, principal.user.id, now
        await switch.save(using_db=conn)
        await EventRow.create(
            scope=scope,
            user_id=switch.user_id,
            active=active,
            reason=reason,
            actor_id=principal.user.id,
            cancelled_orders=cancelled,
            using_db=conn,
        )
        await Alert.create(
            user_id=switch.user_id,
            type="KILL_SWITCH",
            category="RISK",
            severity=Severity.CRITICAL if active else Severity.INFO,
            title=f"{scope.value.title()} kill switch {'activated' if active else 'deactivated'}",
            message=f"{reason} ({cancelled} working orders cancelled)" if active else reason,
            source="kill_switch",
            using_db=conn,
        )
        await audit.record(
            "killswitch.activate" if active else "killswitch.deactivate",
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="KillSwitch",
            target_id=scope.value if scope == KillScope.GLOBAL else principal.user_id,
            ip=ctx.client.ip,
            detail={"reason": reason, "cancelledOrders": cancelled},
            conn=conn,
        )
    await ctx.engine.publish(changes)
    await ctx.bus.publish(
        _GLOBAL_CHANNEL if scope == KillScope.GLOBAL else channel("killswitch", principal.user_id),
        {"scope": scope.value, "active": active},
    )
    return KillSwitchChanged(state=_state(switch, scope), cancelled_orders=cancelled)


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
    return await _set(info, input.scope, input.reason, True)


async def deactivate_kill_switch(
    info: Info, input: Annotated[DeactivateKillSwitchInput, strawberry.argument(description="Scope and reason.")]
) -> KillSwitchResult:
    return await _set(info, input.scope, input.reason, False)


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
