"""Admin monitoring: user activity, broadcasts and the system figures of the answering process."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.services import monitoring as m

from .alerts import AlertSeverity
from .common import InvalidInput, enum_from

if TYPE_CHECKING:
    from graphql_api.services.monitoring import ActivityKind
else:
    ActivityKind = enum_from(
        m.ActivityKind,
        "What a user did, by the domain of the audited action.",
        {
            "SIGN_IN": "Registering, signing in (password or wallet), refreshing tokens, signing out.",
            "ACCOUNT": "Profile, password, two-factor, sessions, referral codes, leaderboard profile.",
            "SETTINGS": "Trading and display settings, settings imports.",
            "VENUE": "Connecting, disconnecting and syncing venue accounts.",
            "ORDER": "Placing and cancelling orders.",
            "POSITION": "Closing positions, leverage and liquidations of perpetuals.",
            "FUNDS": "Deposits, withdrawals, transfers, rewards.",
            "BOT": "Bots, strategies and backtests.",
            "TRADING_SESSION": "Trading sessions.",
            "ALERT": "Alerts read or acknowledged, price alerts.",
        },
        name="ActivityKind",
    )


@strawberry.input(description="Narrow the activity feed; every field given must match.")
class ActivityFilter:
    user: strawberry.ID | None = strawberry.field(default=None, description="Only this User's activity (ID).")
    kinds: list[ActivityKind] | None = strawberry.field(default=None, description="Only these kinds (all if none).")
    from_: datetime | None = strawberry.field(default=None, name="from", description="At or after.")
    to: datetime | None = strawberry.field(default=None, description="Before.")


@strawberry.type(description="The broadcast went out: one SYSTEM alert per active user.")
class BroadcastSent:
    recipients: int = strawberry.field(description="How many users it was raised for.")
    message: str = strawberry.field(description="The message as sent (trimmed).")
    severity: AlertSeverity = strawberry.field(description="Its severity.")

    @classmethod
    def of(cls, sent: m.Broadcast) -> BroadcastSent:
        return cls(recipients=sent.recipients, message=sent.message, severity=AlertSeverity(sent.severity))


BroadcastResult = Annotated[
    BroadcastSent | InvalidInput, strawberry.union("BroadcastResult", description="The broadcast, or why not.")
]


@strawberry.type(description="The market feed as this process sees it.")
class FeedMetrics:
    role: str | None = strawberry.field(
        description="This process's part: `leader` (it steps the feed), `standby`, or null (feed disabled)."
    )
    last_tick_at: datetime | None = strawberry.field(description="The newest tick stored, by whichever process leads.")
    lag_seconds: float | None = strawberry.field(
        description="Age of that tick in seconds: a stalled feed grows it (null before the first tick)."
    )
    schedule_lag_seconds: float = strawberry.field(
        description="How late this process's last feed step started against its schedule (0 on a standby)."
    )


@strawberry.type(description="The event bus of this process.")
class BusMetrics:
    kind: str = strawberry.field(description="`redis` (production) or `memory` (embedded).")
    healthy: bool = strawberry.field(description="Connected and delivering (always true in memory).")


@strawberry.type(description="The database connection pool of this process (PostgreSQL).")
class PoolMetrics:
    in_use: int = strawberry.field(description="Connections lent out now.")
    idle: int = strawberry.field(description="Open connections waiting in the pool.")
    max: int = strawberry.field(description="The pool's size limit.")


@strawberry.type(description="Open streaming connections of one transport on this process.")
class TransportCount:
    transport: str = strawberry.field(description="`websocket`, `sse` or `multipart`.")
    count: int = strawberry.field(description="Open now.")


@strawberry.type(description="Health and load figures of the API process that answered (each replica has its own).")
class SystemMetrics:
    uptime_seconds: float = strawberry.field(description="Seconds since this process started.")
    feed: FeedMetrics = strawberry.field(description="The market feed.")
    bus: BusMetrics = strawberry.field(description="The event bus.")
    database_pool: PoolMetrics | None = strawberry.field(description="The connection pool; null on SQLite.")
    live_subscribers: int = strawberry.field(
        description="Open subscriptions to the event bus on this process: one per stream, and one per signed-in "
        "socket watching its session."
    )
    live_connections: list[TransportCount] = strawberry.field(description="Open streaming connections by transport.")
    job_queue_depth: int = strawberry.field(description="Background jobs waiting to run (queued backtests).")

    @classmethod
    def of(cls, f: m.SystemFigures) -> SystemMetrics:
        return cls(
            uptime_seconds=f.uptime_seconds,
            feed=FeedMetrics(
                role=f.feed_role,
                last_tick_at=f.feed_last_tick_at,
                lag_seconds=f.feed_lag_seconds,
                schedule_lag_seconds=f.feed_schedule_lag_seconds,
            ),
            bus=BusMetrics(kind=f.bus_kind, healthy=f.bus_healthy),
            database_pool=PoolMetrics(in_use=f.pool.in_use, idle=f.pool.idle, max=f.pool.max) if f.pool else None,
            live_subscribers=f.live_subscriptions,
            live_connections=[TransportCount(transport=t, count=n) for t, n in f.live_connections.items()],
            job_queue_depth=f.job_queue_depth,
        )
