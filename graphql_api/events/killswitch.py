"""Events of the kill-switch domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("killswitch", key="channel_key")
@dataclass(frozen=True)
class KillSwitchFlipped(Event):
    """A kill switch was activated or deactivated."""

    channel_key: str  # "global" for the platform switch, else the owning user id
    scope: str
    active: bool
