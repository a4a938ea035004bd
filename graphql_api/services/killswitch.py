"""Kill switch actions: activate or deactivate the global switch (admins) or one's own, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.alerts import Alert, Severity
from models.audit import Outcome
from models.killswitch import KillScope, KillSwitch, KillSwitchEvent
from models.venues import VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.types import Changes
from ..events import publish
from ..events.killswitch import KillSwitchFlipped
from ..ownership import Actor
from ..rejections import Invalid, NotAllowed
from .deps import Deps

GLOBAL = "global"  # the channel key of the platform switch


@dataclass
class Switched:
    switch: KillSwitch
    cancelled_orders: int


def switch_key(scope: KillScope, user_id: str) -> str:
    return GLOBAL if scope == KillScope.GLOBAL else user_id


async def _lock_switch(conn: BaseDBAsyncClient, scope: KillScope, user_id: str) -> KillSwitch:
    if scope == KillScope.GLOBAL:
        return await KillSwitch.filter(scope=KillScope.GLOBAL).using_db(conn).select_for_update().get()
    row = await KillSwitch.filter(scope=KillScope.ACCOUNT, user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        row = await KillSwitch.create(scope=KillScope.ACCOUNT, user_id=user_id, active=False, using_db=conn)
    return row


async def set_kill_switch(deps: Deps, actor: Actor, scope: KillScope, reason: str, active: bool) -> Switched:
    """Activation cancels every working order in scope, blocks new ones and raises a critical alert;
    all of it, the history row and the audit row commit together."""
    action = Action.KILLSWITCH_ACTIVATE if active else Action.KILLSWITCH_DEACTIVATE
    target = scope.value if scope == KillScope.GLOBAL else actor.user_id
    changes = Changes()
    async with audit.refusals(actor, action, target_type="KillSwitch", target_id=target, detail={"reason": reason}):
        if scope == KillScope.GLOBAL and not actor.is_admin:
            raise NotAllowed("only admins control the global kill switch")
        reason = reason.strip()
        if not 1 <= len(reason) <= 500:
            raise Invalid("reason must be 1 to 500 characters", field="reason")
        async with in_transaction() as conn:
            # Switch row first, accounts after: the same order placements lock in (see lock_for_trading).
            switch = await _lock_switch(conn, scope, actor.user_id)
            if switch.active == active:
                state = "active" if active else "inactive"
                raise Invalid(
                    f"the {scope.value.lower()} kill switch is already {state}", code="NO_CHANGE", field="scope"
                )
            cancelled = 0
            if active:
                cancelled = await _cancel_working(
                    deps, conn, None if scope == KillScope.GLOBAL else actor.user_id, changes
                )
            switch.active, switch.reason, switch.changed_by, switch.changed_at = active, reason, actor.user.id, utcnow()
            await switch.save(using_db=conn)
            await KillSwitchEvent.create(
                scope=scope,
                user_id=switch.user_id,
                active=active,
                reason=reason,
                actor_id=actor.user.id,
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
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="KillSwitch",
                target_id=target,
                detail={"reason": reason, "cancelledOrders": cancelled},
                conn=conn,
            )
    await deps.engine.publish(changes)
    flipped = KillSwitchFlipped(channel_key=switch_key(scope, actor.user_id), scope=scope.value, active=active)
    await publish(deps.bus, flipped)
    return Switched(switch, cancelled)


async def _cancel_working(deps: Deps, conn: BaseDBAsyncClient, user_id: str | None, changes: Changes) -> int:
    """Cancel every working order in scope, account by account in a fixed order (no lock cycles)."""
    accounts = VenueAccount.all() if user_id is None else VenueAccount.filter(user_id=user_id)
    ids = sorted(str(a) for a in await accounts.using_db(conn).values_list("id", flat=True))
    cancelled = 0
    for account_id in ids:
        cancelled += len(await deps.engine.cancel_account_working(conn, account_id, "kill switch activated", changes))
    return cancelled
