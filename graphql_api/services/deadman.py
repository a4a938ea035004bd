"""The dead-man switch (Hyperliquid's scheduled cancel): arm it with a timeout, keep it alive with heartbeats;
when a deadline passes without one, every working order of the user's venue accounts is cancelled.

The deadline is stored (``expires_at`` = last arm or heartbeat + timeout), so it survives restarts and every
process agrees on it. The feed leader sweeps expired switches after each tick (a tick consumer, so once
across the cluster); a firing disarms the switch and counts against a daily allowance
(``DEADMAN_DAILY_TRIGGERS`` per UTC day, ten as on Hyperliquid): once it is used up, arming is refused until
the next day. Locks: the switch row, then the user's accounts in id order (the order every multi-account
writer uses); placements never lock the switch row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.alerts import AlertCategory, AlertType, Severity
from models.audit import Outcome
from models.compliance import DeadMansSwitch
from models.venues import VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.matching import PaperEngine
from ..engine.types import Changes
from ..events import publish
from ..events.compliance import DeadMansSwitchFired
from ..ownership import Actor
from ..pubsub import Bus
from ..rejections import Invalid
from .alerts import announce, raise_alert
from .deps import Deps

MIN_TIMEOUT = 5
DEADMAN_CANCEL_REASON = "dead-man switch expired"
MAX_TIMEOUT = 86_400


@dataclass
class Fired:
    user_id: str
    cancelled_orders: int


def triggers_on(switch: DeadMansSwitch, day: str) -> int:
    return switch.triggers_today if switch.trigger_day == day else 0


async def _lock(conn: BaseDBAsyncClient, user_id: str) -> DeadMansSwitch:
    row = await DeadMansSwitch.filter(user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        await DeadMansSwitch.create(user_id=user_id, using_db=conn)
        row = await DeadMansSwitch.filter(user_id=user_id).using_db(conn).select_for_update().get()
    return row


async def state(user_id: str) -> DeadMansSwitch:
    return await DeadMansSwitch.get_or_none(user_id=user_id) or DeadMansSwitch(user_id=user_id)


async def arm(deps: Deps, actor: Actor, timeout_seconds: int) -> DeadMansSwitch:
    detail = {"timeoutSeconds": timeout_seconds}
    async with audit.refusals(
        actor, Action.DEADMAN_ARM, target_type="DeadMansSwitch", target_id=actor.user_id, detail=detail
    ):
        if not MIN_TIMEOUT <= timeout_seconds <= MAX_TIMEOUT:
            raise Invalid(f"timeoutSeconds must be {MIN_TIMEOUT} to {MAX_TIMEOUT}", field="timeoutSeconds")
        limit = deps.settings.deadman_daily_triggers
        async with in_transaction() as conn:
            row = await _lock(conn, actor.user_id)
            now = utcnow()
            if triggers_on(row, now.date().isoformat()) >= limit:
                raise Invalid(
                    f"the dead-man switch fired {limit} times today, the daily limit: it can be armed again tomorrow",
                    code="DEADMAN_TRIGGER_LIMIT",
                    field="timeoutSeconds",
                )
            row.armed, row.timeout_seconds, row.armed_at, row.last_heartbeat_at = True, timeout_seconds, now, now
            row.expires_at = now + timedelta(seconds=timeout_seconds)
            await row.save(using_db=conn)
            await audit.by(
                actor,
                Action.DEADMAN_ARM,
                Outcome.SUCCESS,
                target_type="DeadMansSwitch",
                target_id=actor.user_id,
                detail=detail,
                conn=conn,
            )
        return row


async def heartbeat(deps: Deps, actor: Actor) -> DeadMansSwitch:
    """Push the deadline to now + timeout. A heartbeat after the deadline is too late: the switch fires now."""
    async with audit.refusals(actor, Action.DEADMAN_HEARTBEAT, target_type="DeadMansSwitch", target_id=actor.user_id):
        async with in_transaction() as conn:
            row = await _lock(conn, actor.user_id)
            now = utcnow()
            if not row.armed or row.expires_at is None:
                raise Invalid("the dead-man switch is not armed", code="NOT_ARMED")
            if row.expires_at > now:
                row.last_heartbeat_at = now
                row.expires_at = now + timedelta(seconds=row.timeout_seconds)
                await row.save(using_db=conn)
                await audit.by(
                    actor,
                    Action.DEADMAN_HEARTBEAT,
                    Outcome.SUCCESS,
                    target_type="DeadMansSwitch",
                    target_id=actor.user_id,
                    conn=conn,
                )
                return row
        await fire(deps.engine, deps.bus, actor.user_id, now)
        raise Invalid(
            "the heartbeat came after the deadline: the working orders were cancelled", code="DEADMAN_EXPIRED"
        )


async def disarm(deps: Deps, actor: Actor) -> DeadMansSwitch:
    async with audit.refusals(actor, Action.DEADMAN_DISARM, target_type="DeadMansSwitch", target_id=actor.user_id):
        async with in_transaction() as conn:
            row = await _lock(conn, actor.user_id)
            if not row.armed:
                raise Invalid("the dead-man switch is not armed", code="NOT_ARMED")
            row.armed, row.expires_at = False, None
            await row.save(using_db=conn)
            await audit.by(
                actor,
                Action.DEADMAN_DISARM,
                Outcome.SUCCESS,
                target_type="DeadMansSwitch",
                target_id=actor.user_id,
                conn=conn,
            )
        return row


async def fire(engine: PaperEngine, bus: Bus, user_id: str, now: datetime) -> Fired | None:
    """Cancel the user's working orders if the switch is armed and its deadline is at or before ``now``."""
    changes = Changes()
    async with in_transaction() as conn:
        row = await DeadMansSwitch.filter(user_id=user_id).using_db(conn).select_for_update().first()
        if row is None or not row.armed or row.expires_at is None or row.expires_at > now:
            return None  # a heartbeat or a disarm got there first
        accounts = await VenueAccount.filter(user_id=user_id).using_db(conn).values_list("id", flat=True)
        cancelled = 0
        for account_id in sorted(str(a) for a in accounts):
            cancelled += len(await engine.cancel_account_working(conn, account_id, DEADMAN_CANCEL_REASON, changes))
        day = now.date().isoformat()
        row.triggers_today = triggers_on(row, day) + 1
        row.trigger_day, row.triggered_at, row.cancelled_orders = day, now, cancelled
        row.armed, row.expires_at = False, None
        await row.save(using_db=conn)
        await audit.record(
            Action.DEADMAN_TRIGGER,
            Outcome.SUCCESS,
            actor_label="dead-man switch",
            target_type="DeadMansSwitch",
            target_id=user_id,
            detail={"cancelledOrders": cancelled, "triggersToday": row.triggers_today},
            conn=conn,
        )
        alert = await raise_alert(
            conn,
            user_id=user_id,
            type=AlertType.ERROR,
            category=AlertCategory.TRADING,
            severity=Severity.CRITICAL,
            title="Dead-man switch fired",
            message=f"No heartbeat arrived in time: {cancelled} working orders were cancelled.",
            source="dead_mans_switch",
            metadata={"cancelledOrders": cancelled, "triggersToday": row.triggers_today},
        )
    await engine.publish(changes)
    await announce(bus, [alert])
    await publish(bus, DeadMansSwitchFired(user_id=user_id, cancelled_orders=cancelled))
    return Fired(user_id, cancelled)


async def sweep(engine: PaperEngine, bus: Bus, now: datetime | None = None) -> list[Fired]:
    """Fire every armed switch whose deadline is at or before ``now`` (the feed leader, after each tick)."""
    now = now or utcnow()
    due = await DeadMansSwitch.filter(armed=True, expires_at__lte=now).values_list("user_id", flat=True)
    fired = []
    for user_id in due:
        done = await fire(engine, bus, str(user_id), now)
        if done is not None:
            fired.append(done)
    return fired
