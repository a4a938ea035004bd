"""Events of the compliance domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event

ADMINS = "admins"  # the channel key every admin's stream listens on, beside the owner's


@event("compliance", key="channel_key")
@dataclass(frozen=True)
class ViolationRaised(Event):
    """A compliance violation was raised (or changed status): published to its owner and to ``admins``."""

    channel_key: str
    violation_id: str


@event("deadman", key="user_id")
@dataclass(frozen=True)
class DeadMansSwitchFired(Event):
    """The dead-man switch of ``user_id`` expired and cancelled its working orders."""

    user_id: str
    cancelled_orders: int
