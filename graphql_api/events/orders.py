"""Events of the orders domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("orders", key="user_id")
@dataclass(frozen=True)
class OrderChanged(Event):
    """An order of ``user_id`` changed: placed, filled, cancelled, triggered."""

    user_id: str
    order_id: str
