"""Events of the positions domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("positions", key="user_id")
@dataclass(frozen=True)
class PositionChanged(Event):
    """A fill or a cancellation changed what ``account_id`` holds or reserves of ``symbol``."""

    user_id: str
    account_id: str
    symbol: str
