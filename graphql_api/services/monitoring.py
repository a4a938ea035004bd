"""Admin monitoring and operations, GraphQL-free: recent user activity (read from the audit log), broadcasts
(an alert to every active user), and the answering process's system figures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from prometheus_client import REGISTRY
from tortoise import Tortoise
from tortoise.functions import Max
from tortoise.transactions import in_transaction

from models.alerts import Alert, AlertCategory, AlertType, Severity
from models.audit import Outcome
from models.backtests import Backtest, BacktestStatus
from models.identity import User, UserStatus
from models.market import LastPrice

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..ownership import Actor
from ..pubsub import Bus
from ..rejections import Invalid
from .alerts import announce, raise_alert
from .audit import AuditQuery

MAX_BROADCAST_CHARS = 1000
_IMPORTED_AT = time.time()


class ActivityKind(StrEnum):
    """What a user did, by the audited actions' domain (``Action`` values are ``<domain>.<verb>``)."""

    SIGN_IN = "SIGN_IN"
    ACCOUNT = "ACCOUNT"
    SETTINGS = "SETTINGS"
    VENUE = "VENUE"
    ORDER = "ORDER"
    POSITION = "POSITION"
    FUNDS = "FUNDS"
    BOT = "BOT"
    TRADING_SESSION = "TRADING_SESSION"
    ALERT = "ALERT"


_DOMAINS: dict[ActivityKind, tuple[str, ...]] = {
    ActivityKind.SIGN_IN: ("auth",),
    ActivityKind.ACCOUNT: ("account", "referral", "leaderboard"),
    ActivityKind.SETTINGS: ("settings",),
    ActivityKind.VENUE: ("venue",),
    ActivityKind.ORDER: ("order",),
    ActivityKind.POSITION: ("position", "perp"),
    ActivityKind.FUNDS: ("funds",),
    ActivityKind.BOT: ("bot", "strategy", "backtest"),
    ActivityKind.TRADING_SESSION: ("trading_session",),
    ActivityKind.ALERT: ("alert", "price_alert"),
}


def activity_actions(kind: ActivityKind) -> tuple[str, ...]:
    domains = _DOMAINS[kind]
    return tuple(a.value for a in Action if a.value.split(".", 1)[0] in domains)


def activity_kind(action: str) -> ActivityKind | None:
    domain = action.split(".", 1)[0]
    return next((kind for kind, domains in _DOMAINS.items() if domain in domains), None)


def activity_query(
    user_id: str | None, kinds: list[ActivityKind] | None, since: datetime | None, until: datetime | None
) -> AuditQuery:
    """The audit rows that are user activity: of the given kinds (all kinds when none are given)."""
    chosen = kinds or list(ActivityKind)
    actions = tuple(a for kind in chosen for a in activity_actions(kind))
    return AuditQuery(actor_id=user_id, actions=actions, since=since, until=until).check("filter.")


# -- broadcast -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast:
    recipients: int
    message: str
    severity: Severity


async def broadcast(bus: Bus, actor: Actor, message: str, severity: Severity) -> Broadcast:
    """A SYSTEM alert to every active user, raised in one transaction with its audit row, then published
    (each user's alertRaised stream gets it live; external channels follow their preferences)."""
    text = message.strip()
    async with audit.refusals(actor, Action.ADMIN_BROADCAST, target_type="Broadcast"):
        if not 1 <= len(text) <= MAX_BROADCAST_CHARS:
            raise Invalid(f"message must be 1 to {MAX_BROADCAST_CHARS} characters", field="message")
        alerts: list[Alert] = []
        async with in_transaction() as conn:
            recipients = (
                await User.filter(status=UserStatus.ACTIVE).using_db(conn).order_by("id").values_list("id", flat=True)
            )
            for user_id in recipients:
                alert = await raise_alert(
                    conn,
                    user_id=user_id,
                    type=AlertType.WARNING if severity in (Severity.HIGH, Severity.CRITICAL) else AlertType.INFO,
                    category=AlertCategory.SYSTEM,
                    severity=severity,
                    title="Announcement",
                    message=text,
                    source="broadcast",
                    metadata={"broadcastBy": actor.user_id},
                )
                alerts.append(alert)
            await audit.by(
                actor,
                Action.ADMIN_BROADCAST,
                Outcome.SUCCESS,
                target_type="Broadcast",
                detail={"recipients": len(alerts), "severity": str(severity), "message": text[:200]},
                conn=conn,
            )
    await announce(bus, alerts)
    return Broadcast(recipients=len(alerts), message=text, severity=severity)


# -- system figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    in_use: int
    idle: int
    max: int


@dataclass(frozen=True)
class SystemFigures:
    uptime_seconds: float
    feed_role: str | None  # None: this process runs no feed
    feed_last_tick_at: datetime | None  # the newest tick stored, by whichever process leads the feed
    feed_lag_seconds: float | None  # its age
    feed_schedule_lag_seconds: float  # how late this process's last step started (0 on a standby)
    bus_kind: str
    bus_healthy: bool
    pool: Pool | None  # PostgreSQL only
    live_subscriptions: int
    live_connections: dict[str, int]
    job_queue_depth: int


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _pool() -> Pool | None:
    connection: Any = Tortoise.get_connection("default")
    pool = getattr(connection, "_pool", None)
    if pool is None:
        return None
    size, idle = pool.get_size(), pool.get_idle_size()
    return Pool(in_use=size - idle, idle=idle, max=pool.get_max_size())


async def system_figures(bus: Bus, feed: Any) -> SystemFigures:
    started = REGISTRY.get_sample_value("process_start_time_seconds") or _IMPORTED_AT
    newest = (await LastPrice.annotate(newest=Max("ts")).values_list("newest", flat=True))[0]
    last_tick: datetime | None = newest if isinstance(newest, datetime) else None
    return SystemFigures(
        uptime_seconds=max(0.0, time.time() - started),
        feed_role=feed.role if feed is not None else None,
        feed_last_tick_at=last_tick,
        feed_lag_seconds=max(0.0, (utcnow() - last_tick).total_seconds()) if last_tick is not None else None,
        feed_schedule_lag_seconds=_sample("feed_lag_seconds"),
        bus_kind=bus.kind,
        bus_healthy=bus.healthy,
        pool=_pool(),
        live_subscriptions=int(_sample("live_subscriptions")),
        live_connections={
            transport: int(_sample("live_connections", {"transport": transport}))
            for transport in ("websocket", "sse", "multipart")
        },
        job_queue_depth=await Backtest.filter(status=BacktestStatus.QUEUED).count(),
    )
