"""The user's notification channels per alert category: a matrix of category × channel (IN_APP, WEBHOOK,
EMAIL), kept in ``users.notification_preferences["channels"]`` as only the cells a user changed, each other
cell on.

What goes where, for an alert of category K and severity S:

- IN_APP: streamed on alertRaised and counted unread when cell (K, IN_APP) is on; when off the alert is still
  kept (listed, delivered elsewhere) but written as read and never streamed.
- WEBHOOK (every active webhook) and EMAIL (the account's address): when cell (K, channel) is on and the
  category's coarse choice lets it out of the app (``CATEGORY_PREFERENCE``), and for EMAIL the ``email``
  choice is on.
- A CRITICAL alert, and any SECURITY alert, goes out on every channel the user has (in-app, every active
  webhook, email when the ``email`` choice is on), whatever the matrix says: an emergency reaches the user.
"""

from __future__ import annotations

from typing import Any

from models.alerts import AlertCategory, NotificationChannel, Severity
from models.identity import NOTIFICATION_DEFAULTS

from ...rejections import Invalid

CHANNELS_KEY = "channels"

# The coarse choice (models.identity.NOTIFICATION_DEFAULTS) that lets each category out of the app.
# SECURITY has none: it always goes out.
CATEGORY_PREFERENCE: dict[AlertCategory, str] = {
    AlertCategory.TRADING: "order_fills",
    AlertCategory.PRICE: "price_alerts",
    AlertCategory.BOT: "bot_events",
    AlertCategory.COMPLIANCE: "compliance_alerts",
    AlertCategory.SYSTEM: "system_announcements",
}


def matrix(stored: dict[str, Any] | None) -> dict[AlertCategory, dict[NotificationChannel, bool]]:
    """Every category's channels from the stored preferences (cells never set are on)."""
    cells = (stored or {}).get(CHANNELS_KEY) or {}
    return {
        category: {
            channel: bool((cells.get(category.value) or {}).get(channel.value, True)) for channel in NotificationChannel
        }
        for category in AlertCategory
    }


def check_channels(value: Any, prefix: str = "") -> dict[str, dict[str, bool]]:
    """A channel matrix as stored: {category: {channel: bool}}; the first bad part is refused, named."""
    field = prefix + CHANNELS_KEY
    if not isinstance(value, dict):
        raise Invalid("channels must map categories to channels", field=field)
    for category, cells in value.items():
        if category not in AlertCategory.__members__:
            raise Invalid(f"unknown alert category {category}", field=f"{field}.{category}")
        if not isinstance(cells, dict):
            raise Invalid(f"{category} must map channels to true or false", field=f"{field}.{category}")
        for channel, on in cells.items():
            if channel not in NotificationChannel.__members__:
                raise Invalid(f"unknown channel {channel}", field=f"{field}.{category}.{channel}")
            if not isinstance(on, bool):
                raise Invalid(f"{category}.{channel} must be true or false", field=f"{field}.{category}.{channel}")
    return {category: dict(cells) for category, cells in value.items()}


def merge_channels(stored: dict[str, Any] | None, given: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
    """The stored cells with ``given`` cells over them (cell by cell)."""
    merged = {k: dict(v) for k, v in ((stored or {}).get(CHANNELS_KEY) or {}).items()}
    for category, cells in given.items():
        merged.setdefault(category, {}).update(cells)
    return merged


def routes(stored: dict[str, Any] | None, category: AlertCategory, severity: Severity) -> set[NotificationChannel]:
    """The channels an alert of ``category`` and ``severity`` goes to for a user with these preferences (see
    the module doc); WEBHOOK and EMAIL still need an active webhook or an address."""
    choices = {**NOTIFICATION_DEFAULTS, **{k: v for k, v in (stored or {}).items() if k in NOTIFICATION_DEFAULTS}}
    if severity == Severity.CRITICAL or category == AlertCategory.SECURITY:
        out = {NotificationChannel.IN_APP, NotificationChannel.WEBHOOK}
        return out | {NotificationChannel.EMAIL} if choices["email"] else out
    cells = matrix(stored)[category]
    chosen = {channel for channel, on in cells.items() if on}
    key = CATEGORY_PREFERENCE.get(category)
    if key is not None and not choices[key]:
        chosen &= {NotificationChannel.IN_APP}
    if not choices["email"]:
        chosen.discard(NotificationChannel.EMAIL)
    return chosen
