"""Events of the market domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from . import Event, event


@event("price", key="symbol")
@dataclass(frozen=True)
class PriceTicked(Event):
    """One feed step of ``symbol``: its new price and the base quantity the tick traded."""

    symbol: str
    price: Decimal
    step: int
    ts: datetime
    volume: Decimal
