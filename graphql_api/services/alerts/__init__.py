"""Alert actions, GraphQL-free.

- here: ``raise_alert``, the one way any producer (the kill switch, the dead-man switch, compliance, the
  liquidation engine, price alerts, a test alert) notifies a user: called inside the producer's transaction,
  it writes the alert and its outbox rows (one per external channel the user's preferences ask for), so the
  alert and its deliveries commit or vanish with what caused them. ``announce`` publishes alerts on the bus
  after that commit; the feed leader's sweep (``publish_pending``) publishes what no producer announced (an
  alert raised deep in an order transaction, or a process that died in between). Each alert is published
  once: publishing first claims it with a conditional UPDATE on ``published``. And the owner's reads and
  marks (read, all read, acknowledged).
- ``prices``: price alerts users set, evaluated after each feed tick.
- ``channels``: the user's category × channel matrix deciding where an alert goes.
- ``delivery``: webhooks, and the outbox dispatcher that sends deliveries to webhooks and email.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.alerts import (
    Alert,
    AlertCategory,
    AlertDelivery,
    AlertType,
    DeliveryChannel,
    NotificationChannel,
    Severity,
    WebhookEndpoint,
)
from models.audit import Outcome
from models.bots import Bot, BotStatus
from models.identity import NOTIFICATION_DEFAULTS, User
from models.orders import Order

from ... import audit
from ...audit import Action
from ...auth import utcnow
from ...events import publish
from ...events.alerts import ADMINS, AlertRaised
from ...ownership import Actor
from ...pubsub import Bus
from ...rejections import Invalid, Missing
from ...scalars import serialize_decimal
from . import channels


async def raise_alert(
    conn: BaseDBAsyncClient,
    *,
    user_id: object | None,
    type: AlertType,
    category: AlertCategory,
    severity: Severity,
    title: str,
    message: str,
    source: str,
    venue: str | None = None,
    bot_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Alert:
    """Write an alert and its outbox rows in ``conn`` (the producer's transaction); announce it after commit.

    The user's channels (``channels.routes``) decide where it goes: with IN_APP off it is written read and
    already published (never streamed). ``user_id`` None makes an alert for every admin (in-app only)."""
    user = await User.get_or_none(id=user_id, using_db=conn) if user_id is not None else None
    routes = (
        channels.routes(user.notification_preferences, category, severity)
        if user is not None
        else {NotificationChannel.IN_APP}
    )
    in_app = NotificationChannel.IN_APP in routes
    alert = await Alert.create(
        user_id=user_id,
        type=type,
        category=category,
        severity=severity,
        title=title[:200],
        message=message,
        source=source,
        venue=venue,
        bot_id=bot_id,
        metadata=metadata or {},
        read_at=None if in_app else utcnow(),
        published=not in_app,
        using_db=conn,
    )
    if user is not None:
        await _schedule_deliveries(conn, alert, user, routes)
    return alert


async def _schedule_deliveries(
    conn: BaseDBAsyncClient, alert: Alert, user: User, routes: set[NotificationChannel]
) -> None:
    now = utcnow()
    rows = []
    if NotificationChannel.WEBHOOK in routes:
        rows = [
            AlertDelivery(
                alert_id=alert.id,
                user_id=user.id,
                channel=DeliveryChannel.WEBHOOK,
                endpoint_id=e.id,
                address=e.url,
                next_attempt_at=now,
            )
            for e in await WebhookEndpoint.filter(user_id=user.id, active=True).using_db(conn)
        ]
    if NotificationChannel.EMAIL in routes and user.email:
        rows.append(
            AlertDelivery(
                alert_id=alert.id,
                user_id=user.id,
                channel=DeliveryChannel.EMAIL,
                address=user.email,
                next_attempt_at=now,
            )
        )
    if rows:
        await AlertDelivery.bulk_create(rows, using_db=conn)


def channel_key(alert: Alert) -> str:
    return str(alert.user_id) if alert.user_id is not None else ADMINS


async def announce(bus: Bus, alerts: Iterable[Alert]) -> int:
    """Publish committed alerts that nobody published yet; returns how many this call published."""
    published = 0
    for alert in alerts:
        if await Alert.filter(id=alert.id, published=False).update(published=True):
            await publish(bus, AlertRaised(channel_key=channel_key(alert), alert_id=str(alert.id)))
            published += 1
    return published


async def publish_pending(bus: Bus, batch: int = 500) -> int:
    """The feed leader's sweep: announce alerts whose producer did not (see the module doc)."""
    pending = await Alert.filter(published=False).order_by("created_at", "id").limit(batch)
    return await announce(bus, pending)


# -- the owner's reads and marks ---------------------------------------------------------------------------


def visible(actor: Actor) -> Q:
    """A user's own alerts; an admin's also include the alerts for every admin."""
    mine = Q(user_id=actor.user.id)
    return mine | Q(user_id=None) if actor.is_admin else mine


async def unread_count(actor: Actor) -> int:
    return await Alert.filter(visible(actor), read_at=None).count()


async def _change(actor: Actor, alert_id: str, action: Action, **changes: Any) -> Alert:
    """Set the still-unset timestamps of ``changes`` on a visible alert, audited in one transaction."""
    async with audit.refusals(actor, action, target_type="Alert", target_id=alert_id):
        async with in_transaction() as conn:
            row = await Alert.filter(visible(actor), id=alert_id).using_db(conn).select_for_update().first()
            if row is None:
                raise Missing("no such alert", field="id")
            for name, value in changes.items():
                if getattr(row, name) is None:
                    setattr(row, name, value)
            await row.save(using_db=conn)
            await audit.by(actor, action, Outcome.SUCCESS, target_type="Alert", target_id=row.id, conn=conn)
        return row


async def mark_read(actor: Actor, alert_id: str) -> Alert:
    return await _change(actor, alert_id, Action.ALERT_MARK_READ, read_at=utcnow())


async def acknowledge(actor: Actor, alert_id: str) -> Alert:
    """Acknowledging an alert reads it too."""
    now = utcnow()
    return await _change(actor, alert_id, Action.ALERT_ACKNOWLEDGE, acknowledged_at=now, read_at=now)


async def mark_all_read(actor: Actor) -> int:
    async with in_transaction() as conn:
        count = await Alert.filter(visible(actor), read_at=None).using_db(conn).update(read_at=utcnow())
        await audit.by(
            actor, Action.ALERT_MARK_ALL_READ, Outcome.SUCCESS, target_type="Alert", detail={"count": count}, conn=conn
        )
    return count


async def send_test_alert(bus: Bus, actor: Actor, severity: Severity, message: str | None) -> Alert:
    """A test alert to the caller, through every channel a real one of its severity would take."""
    text = (message if message is not None else "This is a test alert.").strip()
    async with audit.refusals(actor, Action.ALERT_SEND_TEST, target_type="Alert"):
        if not 1 <= len(text) <= 500:
            raise Invalid("message must be 1 to 500 characters", field="message")
        async with in_transaction() as conn:
            alert = await raise_alert(
                conn,
                user_id=actor.user.id,
                type=AlertType.INFO,
                category=AlertCategory.SYSTEM,
                severity=severity,
                title="Test alert",
                message=text,
                source="test",
            )
            await audit.by(
                actor, Action.ALERT_SEND_TEST, Outcome.SUCCESS, target_type="Alert", target_id=alert.id, conn=conn
            )
    await announce(bus, [alert])
    return alert


# -- alerts that orders and bots raise, in their own transactions ---------------------------------------------


async def order_filled(conn: BaseDBAsyncClient, order: Order) -> Alert | None:
    """In the fill's transaction: a TRADING alert that ``order`` filled, when the owner's ``order_fills``
    choice is on (off: no alert at all)."""
    user = await User.get_or_none(id=order.user_id, using_db=conn)
    if user is None or not {**NOTIFICATION_DEFAULTS, **(user.notification_preferences or {})}["order_fills"]:
        return None
    side, quantity = order.side.value, serialize_decimal(order.quantity)
    average = serialize_decimal(order.average_price) if order.average_price is not None else "?"
    return await raise_alert(
        conn,
        user_id=order.user_id,
        type=AlertType.SUCCESS,
        category=AlertCategory.TRADING,
        severity=Severity.LOW,
        title=f"Order filled: {side} {quantity} {order.symbol}",
        message=f"{side} {quantity} {order.symbol} filled at an average price of {average}.",
        source="order",
        bot_id=str(order.bot_id) if order.bot_id else None,
        metadata={"orderId": str(order.id), "symbol": order.symbol, "side": side, "averagePrice": average},
    )


async def order_rejected(
    bus: Bus, user_id: object, *, symbol: str, side: str, quantity: str, bot_id: str | None, code: str, reason: str
) -> Alert:
    """A TRADING alert that an order was refused (kill switch, funds, compliance, venue): the refusal wrote
    nothing else, so the alert is its own transaction, announced at once."""
    async with in_transaction() as conn:
        alert = await raise_alert(
            conn,
            user_id=user_id,
            type=AlertType.WARNING,
            category=AlertCategory.TRADING,
            severity=Severity.MEDIUM,
            title=f"Order rejected: {side} {quantity} {symbol}",
            message=f"{reason} ({code})",
            source="order",
            bot_id=bot_id,
            metadata={"symbol": symbol, "side": side, "quantity": quantity, "code": code},
        )
    await announce(bus, [alert])
    return alert


async def bot_status_changed(conn: BaseDBAsyncClient, bot: Bot, reason: str) -> Alert:
    """In the transaction that changed ``bot``'s status: a BOT alert (ERROR: an error, HIGH)."""
    error = bot.status == BotStatus.ERROR
    return await raise_alert(
        conn,
        user_id=bot.user_id,
        type=AlertType.ERROR if error else AlertType.INFO,
        category=AlertCategory.BOT,
        severity=Severity.HIGH if error else Severity.LOW,
        title=f"Bot {bot.name} {'failed' if error else bot.status.value.lower()}",
        message=reason,
        source="bot",
        bot_id=str(bot.id),
        metadata={"status": bot.status.value},
    )
