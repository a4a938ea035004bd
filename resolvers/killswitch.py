"""The kill switch: the Query / Mutation / Subscription fields of the kill-switch domain (the action is
graphql_api/services/killswitch.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from tortoise.expressions import Q

from graphql_api.audit import Action
from graphql_api.context import Context, Info
from graphql_api.events import channel_for
from graphql_api.events.killswitch import KillSwitchFlipped
from graphql_api.pagination import paginate, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader, require_principal
from graphql_api.services import killswitch as actions
from graphql_api.services.killswitch import GLOBAL
from models.killswitch import KillLevel, KillScope, KillSwitch
from models.killswitch import KillSwitchEvent as EventRow
from schema.common import After, Connection, First
from schema.killswitch import (
    ActivateKillSwitchInput,
    DeactivateKillSwitchInput,
    KillSwitchChanged,
    KillSwitchEvent,
    KillSwitchLevel,
    KillSwitchResult,
    KillSwitchScope,
    KillSwitchState,
    KillSwitchStatus,
    KillSwitchUpdate,
)

from .results import actor, audited, result


def _state(row: KillSwitch | None, scope: KillScope) -> KillSwitchState:
    return KillSwitchState(
        scope=KillSwitchScope[scope.value],
        active=bool(row and row.active),
        level=KillSwitchLevel[row.level if row else KillLevel.CANCEL_ALL],
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


async def _set(
    info: Info, scope: KillSwitchScope, reason: str, active: bool, level: KillSwitchLevel | None = None
) -> KillSwitchResult:
    model_scope = KillScope(scope.name)
    model_level = KillLevel(level.name) if level is not None else KillLevel.CANCEL_ALL
    switching = actions.set_kill_switch(info.context, actor(info), model_scope, reason, active, model_level)
    return await result(
        switching,
        lambda done: KillSwitchChanged(
            state=_state(done.switch, model_scope),
            cancelled_orders=done.cancelled_orders,
            closing_orders=done.closing_orders,
        ),
    )


async def activate_kill_switch(
    info: Info, input: Annotated[ActivateKillSwitchInput, strawberry.argument(description="Scope and reason.")]
) -> KillSwitchResult:
    """Cancels every working order in scope, blocks new ones, raises a critical alert, audits; atomically."""
    return await _set(info, input.scope, input.reason, True, input.level)


async def deactivate_kill_switch(
    info: Info, input: Annotated[DeactivateKillSwitchInput, strawberry.argument(description="Scope and reason.")]
) -> KillSwitchResult:
    return await _set(info, input.scope, input.reason, False)


async def kill_switch_history(info: Info, first: First = None, after: After = None) -> Connection[KillSwitchEvent]:
    viewer = actor(info)
    query = EventRow.all()
    if not viewer.is_admin:
        query = query.filter(Q(user_id=viewer.user.id) | Q(scope=KillScope.GLOBAL))

    def event(row: EventRow) -> KillSwitchEvent:
        # Who flipped a switch is an admin's business: others see that it changed, not which admin did it.
        shown = row.actor_id is not None and (viewer.is_admin or str(row.actor_id) == viewer.user_id)
        return KillSwitchEvent(
            scope=KillSwitchScope[row.scope],
            active=row.active,
            level=KillSwitchLevel[row.level],
            reason=row.reason,
            actor_id=strawberry.ID(to_global_id("User", row.actor_id)) if shown else None,
            cancelled_orders=row.cancelled_orders,
            closing_orders=row.closing_orders,
            created_at=row.created_at,
        )

    return Connection.of(
        await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=event)
    )


async def kill_switch_changed(info: Info) -> AsyncGenerator[KillSwitchUpdate, None]:
    return _stream(info.context, require_principal(info.context).user_id)


async def _stream(ctx: Context, user_id: str) -> AsyncGenerator[KillSwitchUpdate, None]:
    sequence = 1
    async with ctx.bus.subscribe([channel_for(KillSwitchFlipped, key) for key in (GLOBAL, user_id)]) as events:
        yield KillSwitchUpdate(status=await status_for(user_id), sequence=sequence, snapshot=True)
        async for event in events:
            sequence += 1
            yield KillSwitchUpdate(status=await status_for(user_id), sequence=sequence, snapshot=event.resync)


@strawberry.type
class Query:
    kill_switch: KillSwitchStatus = strawberry.field(
        resolver=kill_switch, permission_classes=[IsAuthenticated], description="The switches that apply to you."
    )
    kill_switch_history: Connection[KillSwitchEvent] = strawberry.field(
        resolver=kill_switch_history,
        permission_classes=[IsAuthenticated],
        description="Activations and deactivations (global ones and your own; admins see all).",
    )


@strawberry.type
class Mutation:
    activate_kill_switch: KillSwitchResult = strawberry.mutation(
        resolver=audited(Action.KILLSWITCH_ACTIVATE)(activate_kill_switch),
        permission_classes=[IsTrader],
        description="Stop trading (ACCOUNT: yours; GLOBAL: everyone, admins only) at a level: BLOCK_ENTRIES "
        "refuses new orders except risk-reducing sells, CANCEL_ALL also cancels working orders, FLATTEN also "
        "closes every position at market; raises a critical alert.",
    )
    deactivate_kill_switch: KillSwitchResult = strawberry.mutation(
        resolver=audited(Action.KILLSWITCH_DEACTIVATE)(deactivate_kill_switch),
        permission_classes=[IsTrader],
        description="Resume trading.",
    )


@strawberry.type
class Subscription:
    kill_switch_changed: AsyncGenerator[KillSwitchUpdate, None] = strawberry.subscription(
        resolver=kill_switch_changed,
        permission_classes=[IsAuthenticated],
        description="The kill switches that apply to you, then every change.",
    )
