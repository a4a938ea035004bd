"""Alerts: the Query / Mutation / Subscription fields of alerts and price alerts (the actions are
graphql_api/services/alerts/; price alerts are evaluated there, after each feed tick)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
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
from graphql_api.services.alerts import prices
from models import alerts as m
from schema.alerts import (
    Alert,
    AlertCategory,
    AlertChanged,
    AlertFilter,
    AlertResult,
    AlertSeverity,
    AlertsMarkedRead,
    AlertType,
    AlertUpdate,
    DeletePriceAlertResult,
    PriceAlert,
    PriceAlertChanged,
    PriceAlertCondition,
    PriceAlertDeleted,
    PriceAlertInput,
    PriceAlertResult,
    PriceAlertState,
    TestAlertResult,
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
