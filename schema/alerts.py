"""Alerts: the alerts raised for users, the price alerts they set, and the alert stream."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from models import alerts as a

from .common import InvalidInput, Node, NotFound, enum_from

if TYPE_CHECKING:
    from models.alerts import AlertCategory, AlertType
    from models.alerts import PriceAlertStatus as PriceAlertState
    from models.alerts import PriceCondition as PriceAlertCondition
    from models.alerts import Severity as AlertSeverity
else:
    AlertType = enum_from(
        a.AlertType,
        "The nature of an alert.",
        {
            "ERROR": "Something failed or was stopped.",
            "WARNING": "Needs attention.",
            "INFO": "For information.",
            "SUCCESS": "Something completed.",
        },
    )
    AlertCategory = enum_from(
        a.AlertCategory,
        "What an alert is about; each category but SECURITY has a notification choice that lets it out of the app.",
        {
            "SYSTEM": "The platform (announcements, test alerts); choice systemAnnouncements.",
            "TRADING": "Orders, kill switch, dead-man switch, liquidations; choice orderFills.",
            "COMPLIANCE": "Compliance violations; choice complianceAlerts.",
            "SECURITY": "The account's security; always delivered.",
            "PRICE": "Price alerts you set; choice priceAlerts.",
            "BOT": "Bots; choice botEvents.",
        },
    )
    AlertSeverity = enum_from(
        a.Severity,
        "How urgent an alert is. CRITICAL alerts go out on every channel you enabled, whatever the category.",
        {"LOW": "Low.", "MEDIUM": "Medium.", "HIGH": "High.", "CRITICAL": "Critical (an emergency)."},
        name="AlertSeverity",
    )
    PriceAlertCondition = enum_from(
        a.PriceCondition,
        "When a price alert fires, judged on each feed tick's mark p.",
        {
            "ABOVE": "p ≥ value. Recurring: again only after p fell below value (once per crossing).",
            "BELOW": "p ≤ value. Recurring: again only after p rose above value (once per crossing).",
            "CROSSES": "p is on the other side of value (p ≥ value or p < value) than referencePrice: the mark "
            "when the alert was set, then at each firing. Recurring: every crossing, either way.",
            "PERCENT_CHANGE": "|p − referencePrice| × 100 ≥ value × referencePrice (value in percent). The "
            "reference is the mark when set or last fired; with window, taken again on the first tick after "
            "each window of that many seconds ends (tumbling windows).",
        },
        name="PriceAlertCondition",
    )
    PriceAlertState = enum_from(
        a.PriceAlertStatus,
        "Whether a price alert is still watching.",
        {"ACTIVE": "Watching the mark.", "TRIGGERED": "Fired once (not recurring); update it to watch again."},
        name="PriceAlertStatus",
    )


@strawberry.type(description="A notification raised for you (or, with no owner, for every admin).")
class Alert(Node):
    type: AlertType = strawberry.field(description="ERROR, WARNING, INFO or SUCCESS.")
    category: AlertCategory = strawberry.field(description="What it is about.")
    severity: AlertSeverity = strawberry.field(description="How urgent it is.")
    title: str = strawberry.field(description="One line.")
    message: str = strawberry.field(description="What happened.")
    source: str = strawberry.field(
        description="What raised it: kill_switch, dead_mans_switch, compliance, liquidation, price_alert, test."
    )
    venue: str | None = strawberry.field(description="The venue concerned, if any.")
    bot_id: strawberry.ID | None = strawberry.field(description="The bot concerned, if any.")
    metadata: JSON = strawberry.field(description="Details of the source (ids, symbol, price, counts), as JSON.")
    read: bool = strawberry.field(description="Marked read (or acknowledged).")
    read_at: datetime | None = strawberry.field(description="When it was marked read.")
    acknowledged: bool = strawberry.field(description="Acknowledged by its owner.")
    acknowledged_at: datetime | None = strawberry.field(description="When it was acknowledged.")
    created_at: datetime = strawberry.field(description="When it was raised.")


@strawberry.input(description="Narrow the alerts listed.")
class AlertFilter:
    category: AlertCategory | None = strawberry.field(default=None, description="Only this category.")
    severity: AlertSeverity | None = strawberry.field(default=None, description="Only this severity.")
    read: bool | None = strawberry.field(default=None, description="Only read (true) or unread (false) alerts.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Raised at or after.")
    to: datetime | None = strawberry.field(default=None, description="Raised before.")


@strawberry.type(description="The alert after the change.")
class AlertChanged:
    alert: Alert = strawberry.field(description="The alert.")


@strawberry.type(description="Every unread alert of yours is now read.")
class AlertsMarkedRead:
    count: int = strawberry.field(description="How many alerts this marked read.")


AlertResult = Annotated[AlertChanged | NotFound, strawberry.union("AlertResult", description="The alert, or why not.")]
TestAlertResult = Annotated[
    AlertChanged | InvalidInput, strawberry.union("TestAlertResult", description="The test alert, or why not.")
]


@strawberry.type(description="One delivery on alertRaised.")
class AlertUpdate:
    alert: Alert | None = strawberry.field(description="The alert raised (on the snapshot: your latest, or null).")
    unread_count: int = strawberry.field(description="Your unread alerts, now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")


@strawberry.type(description="A condition on an instrument's mark that raises a PRICE alert on the tick meeting it.")
class PriceAlert(Node):
    symbol: str = strawberry.field(description="The instrument.")
    condition: PriceAlertCondition = strawberry.field(description="When it fires (the rules are on the enum).")
    value: Decimal = strawberry.field(description="The price (ABOVE, BELOW, CROSSES) or percentage (PERCENT_CHANGE).")
    window: int | None = strawberry.field(description="PERCENT_CHANGE: the window in seconds (null: since set).")
    recurring: bool = strawberry.field(description="Fires at every crossing rather than once.")
    note: str = strawberry.field(description="Your note, added to the alert's message.")
    status: PriceAlertState = strawberry.field(description="ACTIVE or TRIGGERED.")
    armed: bool = strawberry.field(
        description="False while a recurring ABOVE/BELOW alert waits for the mark to leave the condition."
    )
    reference_price: Decimal = strawberry.field(description="The mark CROSSES and PERCENT_CHANGE are judged from.")
    trigger_count: int = strawberry.field(description="Times it fired.")
    last_triggered_at: datetime | None = strawberry.field(description="When it last fired.")
    last_triggered_price: Decimal | None = strawberry.field(description="The mark it last fired at.")
    created_at: datetime = strawberry.field(description="When it was set.")
    updated_at: datetime = strawberry.field(description="When it last changed.")


@strawberry.input(description="A price alert, whole (create, or replace on update: it is then re-armed).")
class PriceAlertInput:
    symbol: str = strawberry.field(description="An instrument symbol.")
    condition: PriceAlertCondition = strawberry.field(description="When it fires.")
    value: Decimal = strawberry.field(description="Positive; a percentage (at most 1000) for PERCENT_CHANGE.")
    window: int | None = strawberry.field(
        default=None, description="PERCENT_CHANGE only: window in seconds (1 to 2592000)."
    )
    recurring: bool = strawberry.field(default=False, description="Fire at every crossing, not once.")
    note: str = strawberry.field(default="", description="Up to 200 characters.")


@strawberry.type(description="The price alert after the change.")
class PriceAlertChanged:
    price_alert: PriceAlert = strawberry.field(description="The price alert.")


@strawberry.type(description="The price alert was deleted.")
class PriceAlertDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of the deleted price alert.")


PriceAlertResult = Annotated[
    PriceAlertChanged | InvalidInput | NotFound,
    strawberry.union("PriceAlertResult", description="The price alert, or why not."),
]
DeletePriceAlertResult = Annotated[
    PriceAlertDeleted | NotFound,
    strawberry.union("DeletePriceAlertResult", description="The deleted price alert's ID, or why not."),
]


if TYPE_CHECKING:
    from models.alerts import DeliveryChannel, DeliveryStatus
else:
    DeliveryChannel = enum_from(
        a.DeliveryChannel,
        "Where an outbox delivery goes.",
        {"WEBHOOK": "A POST to one of your webhooks.", "EMAIL": "An email to your address."},
    )
    DeliveryStatus = enum_from(
        a.DeliveryStatus,
        "Where a delivery stands.",
        {
            "PENDING": "Not sent yet, or being retried (see nextAttemptAt).",
            "DELIVERED": "The channel accepted it.",
            "FAILED": "Given up after the last attempt (or the channel is gone).",
        },
    )


@strawberry.type(description="A URL that receives your alerts as signed POSTs (see the README for the signature).")
class Webhook(Node):
    url: str = strawberry.field(description="Where alerts are posted.")
    description: str = strawberry.field(description="Your note.")
    active: bool = strawberry.field(description="Receives alerts.")
    created_at: datetime = strawberry.field(description="When it was added.")


@strawberry.type(description="The webhook was added; its signing secret is shown this once.")
class WebhookCreated:
    webhook: Webhook = strawberry.field(description="The webhook.")
    secret: str = strawberry.field(
        description="The HMAC-SHA256 key of its X-Alert-Signature header; stored encrypted, never shown again."
    )


@strawberry.type(description="The webhook was removed (its pending deliveries are dropped).")
class WebhookDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of the removed webhook.")


CreateWebhookResult = Annotated[
    WebhookCreated | InvalidInput, strawberry.union("CreateWebhookResult", description="The webhook, or why not.")
]
DeleteWebhookResult = Annotated[
    WebhookDeleted | NotFound, strawberry.union("DeleteWebhookResult", description="The removed ID, or why not.")
]


@strawberry.type(description="One try of a delivery.")
class DeliveryAttempt:
    attempt: int = strawberry.field(description="Its number, from 1.")
    at: datetime = strawberry.field(description="When it was made.")
    ok: bool = strawberry.field(description="The channel accepted it.")
    status_code: int | None = strawberry.field(description="The webhook's HTTP status, if it answered.")
    error: str = strawberry.field(description="Why it failed (empty when ok).")


@strawberry.type(description="One alert sent to one channel (the outbox row), with its attempts.")
class AlertDelivery(Node):
    alert_id: strawberry.ID = strawberry.field(description="Global ID of the alert.")
    alert_title: str = strawberry.field(description="The alert's title.")
    channel: DeliveryChannel = strawberry.field(description="WEBHOOK or EMAIL.")
    webhook_id: strawberry.ID | None = strawberry.field(description="The webhook (WEBHOOK deliveries).")
    target: str = strawberry.field(description="The webhook URL or email address it goes to.")
    status: DeliveryStatus = strawberry.field(description="PENDING, DELIVERED or FAILED.")
    attempts: int = strawberry.field(description="Attempts made.")
    next_attempt_at: datetime | None = strawberry.field(description="When a PENDING delivery is tried next.")
    delivered_at: datetime | None = strawberry.field(description="When the channel accepted it.")
    last_error: str = strawberry.field(description="The last attempt's error (empty if none failed).")
    created_at: datetime = strawberry.field(description="When the alert queued it.")
    attempt_log: list[DeliveryAttempt] = strawberry.field(description="Every attempt, first first.")
