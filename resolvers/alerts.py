"""Alerts: the Query / Mutation / Subscription fields of alerts and price alerts (the actions are
graphql_api/services/alerts/; price alerts are evaluated there, after each feed tick)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from graphql_api.audit import Action
from graphql_api.context import Context, Info
from graphql_api.events import channel_for, decode
from graphql_api.events.alerts import ADMINS, AlertRaised
from graphql_api.ownership import Actor, load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated
from graphql_api.services import alerts as actions
from graphql_api.services.alerts import delivery, prices
from models import alerts as m
from schema.alerts import (
    Alert,
    AlertCategory,
    AlertChanged,
    AlertDelivery,
    AlertFilter,
    AlertResult,
    AlertSeverity,
    AlertsMarkedRead,
    AlertType,
    AlertUpdate,
    CreateWebhookResult,
    DeletePriceAlertResult,
    DeleteWebhookResult,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryStatus,
    PriceAlert,
    PriceAlertChanged,
    PriceAlertCondition,
    PriceAlertDeleted,
    PriceAlertInput,
    PriceAlertResult,
    PriceAlertState,
    TestAlertResult,
    Webhook,
    WebhookCreated,
    WebhookDeleted,
)
from schema.common import After, Connection, First, GlobalID

from .node import node_type
from .results import actor, audited, result


def alert_view(row: m.Alert) -> Alert:
    return Alert(
        id=strawberry.ID(to_global_id("Alert", row.id)),
        type=AlertType[row.type],
        category=AlertCategory[row.category],
        severity=AlertSeverity[row.severity],
        title=row.title,
        message=row.message,
        source=row.source,
        venue=row.venue,
        bot_id=strawberry.ID(row.bot_id) if row.bot_id else None,
        metadata=JSON(row.metadata or {}),
        read=row.read_at is not None,
        read_at=row.read_at,
        acknowledged=row.acknowledged_at is not None,
        acknowledged_at=row.acknowledged_at,
        created_at=row.created_at,
    )


def price_alert_view(row: m.PriceAlert) -> PriceAlert:
    return PriceAlert(
        id=strawberry.ID(to_global_id("PriceAlert", row.id)),
        symbol=row.symbol,
        condition=PriceAlertCondition[row.condition],
        value=row.value,
        window=row.window_seconds,
        recurring=row.recurring,
        note=row.note,
        status=PriceAlertState[row.status],
        armed=row.armed,
        reference_price=row.reference_price,
        trigger_count=row.trigger_count,
        last_triggered_at=row.last_triggered_at,
        last_triggered_price=row.last_triggered_price,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _spec(data: PriceAlertInput) -> prices.PriceAlertSpec:
    return prices.PriceAlertSpec(
        symbol=data.symbol,
        condition=m.PriceCondition(data.condition.name),
        value=data.value,
        window_seconds=data.window,
        recurring=data.recurring,
        note=data.note,
    )


# -- queries -------------------------------------------------------------------------------------------------


async def alerts(
    info: Info,
    filter: Annotated[AlertFilter | None, strawberry.argument(description="Category, severity, read, period.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Alert]:
    query = m.Alert.filter(actions.visible(actor(info)))
    if filter is not None:
        if filter.category is not None:
            query = query.filter(category=m.AlertCategory(filter.category.name))
        if filter.severity is not None:
            query = query.filter(severity=m.Severity(filter.severity.name))
        if filter.read is not None:
            query = query.filter(read_at__isnull=not filter.read)
        if filter.from_ is not None:
            query = query.filter(created_at__gte=filter.from_)
        if filter.to is not None:
            query = query.filter(created_at__lt=filter.to)
    return Connection.of(
        await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=alert_view)
    )


async def unread_alert_count(info: Info) -> int:
    return await actions.unread_count(actor(info))


async def price_alerts(info: Info, first: First = None, after: After = None) -> Connection[PriceAlert]:
    query = m.PriceAlert.filter(user_id=actor(info).user.id)
    return Connection.of(
        await paginate(
            query, first=first, after=after, cap=info.context.settings.max_page_size, convert=price_alert_view
        )
    )


@node_type("Alert", Alert)
async def alert_node(info: Info, pk: str) -> Alert | None:
    row = await m.Alert.filter(actions.visible(actor(info)), id=pk).first()
    return alert_view(row) if row is not None else None


@node_type("PriceAlert", PriceAlert)
async def price_alert_node(info: Info, pk: str) -> PriceAlert | None:
    row = await load_owned(m.PriceAlert, pk, actor(info), act=True)
    return price_alert_view(row) if row is not None else None


def webhook_view(row: m.WebhookEndpoint) -> Webhook:
    return Webhook(
        id=strawberry.ID(to_global_id("Webhook", row.id)),
        url=row.url,
        description=row.description,
        active=row.active,
        created_at=row.created_at,
    )


async def webhooks(info: Info) -> list[Webhook]:
    rows = await m.WebhookEndpoint.filter(user_id=actor(info).user.id).order_by("created_at", "id")
    return [webhook_view(r) for r in rows]


async def alert_deliveries(info: Info, first: First = None, after: After = None) -> Connection[AlertDelivery]:
    """The page's attempts and alert titles are read with one query each."""
    query = m.AlertDelivery.filter(user_id=actor(info).user.id)
    page = await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=lambda r: r)
    ids = [row.id for _, row in page.items]
    attempts: dict[int, list[DeliveryAttempt]] = {}
    for t in await m.DeliveryAttempt.filter(delivery_id__in=ids).order_by("delivery_id", "attempt"):
        attempts.setdefault(t.delivery_id, []).append(
            DeliveryAttempt(attempt=t.attempt, at=t.at, ok=t.ok, status_code=t.status_code, error=t.error)
        )
    alert_ids = list({row.alert_id for _, row in page.items})
    titles = dict(await m.Alert.filter(id__in=alert_ids).values_list("id", "title")) if alert_ids else {}

    def view(row: m.AlertDelivery) -> AlertDelivery:
        pending = row.status == m.DeliveryStatus.PENDING
        return AlertDelivery(
            id=strawberry.ID(to_global_id("AlertDelivery", row.id)),
            alert_id=strawberry.ID(to_global_id("Alert", row.alert_id)),
            alert_title=str(titles.get(row.alert_id, "")),
            channel=DeliveryChannel[row.channel],
            webhook_id=strawberry.ID(to_global_id("Webhook", row.endpoint_id)) if row.endpoint_id else None,
            target=row.address,
            status=DeliveryStatus[row.status],
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if pending else None,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            created_at=row.created_at,
            attempt_log=attempts.get(row.id, []),
        )

    return Connection.of(replace(page, items=[(cursor, view(row)) for cursor, row in page.items]))


# -- mutations -----------------------------------------------------------------------------------------------


def _changed(row: m.Alert) -> AlertChanged:
    return AlertChanged(alert=alert_view(row))


async def mark_alert_read(info: Info, id: GlobalID) -> AlertResult:
    return await result(actions.mark_read(actor(info), parse_id(id, "Alert")), _changed)


async def acknowledge_alert(info: Info, id: GlobalID) -> AlertResult:
    return await result(actions.acknowledge(actor(info), parse_id(id, "Alert")), _changed)


async def mark_all_alerts_read(info: Info) -> AlertsMarkedRead:
    return AlertsMarkedRead(count=await actions.mark_all_read(actor(info)))


async def send_test_alert(
    info: Info,
    severity: Annotated[
        AlertSeverity, strawberry.argument(description="The test alert's severity.")
    ] = AlertSeverity.LOW,
    message: Annotated[str | None, strawberry.argument(description="Its message (1–500 characters).")] = None,
) -> TestAlertResult:
    action = actions.send_test_alert(info.context.bus, actor(info), m.Severity(severity.name), message)
    return await result(action, _changed)


def _price_changed(row: m.PriceAlert) -> PriceAlertChanged:
    return PriceAlertChanged(price_alert=price_alert_view(row))


async def create_price_alert(
    info: Info, input: Annotated[PriceAlertInput, strawberry.argument(description="The price alert.")]
) -> PriceAlertResult:
    return await result(prices.create(actor(info), _spec(input)), _price_changed)


async def update_price_alert(
    info: Info,
    id: GlobalID,
    input: Annotated[PriceAlertInput, strawberry.argument(description="The price alert, whole.")],
) -> PriceAlertResult:
    return await result(prices.update(actor(info), parse_id(id, "PriceAlert"), _spec(input)), _price_changed)


async def delete_price_alert(info: Info, id: GlobalID) -> DeletePriceAlertResult:
    pk = parse_id(id, "PriceAlert")
    return await result(prices.delete(actor(info), pk), lambda _: PriceAlertDeleted(deleted_id=id))


async def create_webhook(
    info: Info,
    url: Annotated[str, strawberry.argument(description="An absolute http(s) URL.")],
    secret: Annotated[
        str | None,
        strawberry.argument(description="The signing secret (16 to 200 characters); omitted: one is made."),
    ] = None,
    description: Annotated[str, strawberry.argument(description="Your note (up to 200 characters).")] = "",
) -> CreateWebhookResult:
    action = delivery.create_webhook(info.context.settings, actor(info), url, secret, description)
    return await result(action, lambda made: WebhookCreated(webhook=webhook_view(made.endpoint), secret=made.secret))


async def delete_webhook(info: Info, id: GlobalID) -> DeleteWebhookResult:
    pk = parse_id(id, "Webhook")
    return await result(delivery.delete_webhook(actor(info), pk), lambda _: WebhookDeleted(deleted_id=id))


# -- the stream ----------------------------------------------------------------------------------------------


async def alert_raised(info: Info) -> AsyncGenerator[AlertUpdate, None]:
    return _stream(info.context, actor(info))


async def _latest(viewer: Actor) -> tuple[m.Alert | None, int]:
    latest = await m.Alert.filter(actions.visible(viewer)).order_by("-created_at", "-id").first()
    return latest, await actions.unread_count(viewer)


async def _stream(ctx: Context, viewer: Actor) -> AsyncGenerator[AlertUpdate, None]:
    keys = [viewer.user_id, ADMINS] if viewer.is_admin else [viewer.user_id]
    sequence = 0
    async with ctx.bus.subscribe([channel_for(AlertRaised, key) for key in keys]) as events:
        row, snapshot = (await _latest(viewer))[0], True
        while True:
            sequence += 1
            yield AlertUpdate(
                alert=alert_view(row) if row is not None else None,
                unread_count=await actions.unread_count(viewer),
                sequence=sequence,
                snapshot=snapshot,
            )
            raised = decode(await anext(events))
            if raised is None:  # a resync: the stream starts over from the current state
                row, snapshot = (await _latest(viewer))[0], True
                continue
            assert isinstance(raised, AlertRaised)
            row, snapshot = await m.Alert.get_or_none(id=raised.alert_id), False


@strawberry.type
class Query:
    alerts: Connection[Alert] = strawberry.field(
        resolver=alerts,
        permission_classes=[IsAuthenticated],
        description="Your alerts, newest first (admins also see the alerts for every admin).",
    )
    unread_alert_count: int = strawberry.field(
        resolver=unread_alert_count, permission_classes=[IsAuthenticated], description="Your unread alerts."
    )
    price_alerts: Connection[PriceAlert] = strawberry.field(
        resolver=price_alerts, permission_classes=[IsAuthenticated], description="Your price alerts, newest first."
    )
    webhooks: list[Webhook] = strawberry.field(
        resolver=webhooks, permission_classes=[IsAuthenticated], description="Your webhooks, oldest first."
    )
    alert_deliveries: Connection[AlertDelivery] = strawberry.field(
        resolver=alert_deliveries,
        permission_classes=[IsAuthenticated],
        description="The delivery log: your alerts sent to webhooks and email, newest first, with every attempt.",
    )


@strawberry.type
class Mutation:
    create_price_alert: PriceAlertResult = strawberry.mutation(
        resolver=audited(Action.PRICE_ALERT_CREATE)(create_price_alert),
        permission_classes=[IsAuthenticated],
        description="Set a price alert: a PRICE alert is raised on the feed tick that meets it, once per crossing.",
    )
    update_price_alert: PriceAlertResult = strawberry.mutation(
        resolver=audited(Action.PRICE_ALERT_UPDATE)(update_price_alert),
        permission_classes=[IsAuthenticated],
        description="Replace a price alert's settings; it is re-armed from the current mark.",
    )
    delete_price_alert: DeletePriceAlertResult = strawberry.mutation(
        resolver=audited(Action.PRICE_ALERT_DELETE)(delete_price_alert),
        permission_classes=[IsAuthenticated],
        description="Delete a price alert (the alerts it raised stay).",
    )
    mark_alert_read: AlertResult = strawberry.mutation(
        resolver=audited(Action.ALERT_MARK_READ)(mark_alert_read),
        permission_classes=[IsAuthenticated],
        description="Mark one of your alerts read.",
    )
    mark_all_alerts_read: AlertsMarkedRead = strawberry.mutation(
        resolver=audited(Action.ALERT_MARK_ALL_READ)(mark_all_alerts_read),
        permission_classes=[IsAuthenticated],
        description="Mark every unread alert of yours read.",
    )
    acknowledge_alert: AlertResult = strawberry.mutation(
        resolver=audited(Action.ALERT_ACKNOWLEDGE)(acknowledge_alert),
        permission_classes=[IsAuthenticated],
        description="Acknowledge one of your alerts (it is marked read too).",
    )
    create_webhook: CreateWebhookResult = strawberry.mutation(
        resolver=audited(Action.WEBHOOK_CREATE)(create_webhook),
        permission_classes=[IsAuthenticated],
        description="Add a webhook that receives your alerts as signed POSTs; its secret is returned this once.",
    )
    delete_webhook: DeleteWebhookResult = strawberry.mutation(
        resolver=audited(Action.WEBHOOK_DELETE)(delete_webhook),
        permission_classes=[IsAuthenticated],
        description="Remove one of your webhooks.",
    )
    send_test_alert: TestAlertResult = strawberry.mutation(
        resolver=audited(Action.ALERT_SEND_TEST)(send_test_alert),
        permission_classes=[IsAuthenticated],
        description="Raise a test alert for yourself, delivered like a real one of its severity (SYSTEM category).",
    )


@strawberry.type
class Subscription:
    alert_raised: AsyncGenerator[AlertUpdate, None] = strawberry.subscription(
        resolver=alert_raised,
        permission_classes=[IsAuthenticated],
        description="Your latest alert as a snapshot, then every alert raised for you (admins: also those for "
        "every admin), with your unread count.",
    )
