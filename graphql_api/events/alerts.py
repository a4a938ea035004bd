"""Events of the alerts domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event

ADMINS = "admins"  # the channel key of alerts for every admin (an alert without an owner)


@event("alerts", key="channel_key")
@dataclass(frozen=True)
class AlertRaised(Event):
    """An alert was raised for its owner (``channel_key`` is the user id), or for every admin (``admins``)."""

    channel_key: str
    alert_id: str
