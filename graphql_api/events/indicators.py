"""Events of the indicators domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("signal", key="symbol")
@dataclass(frozen=True)
class SignalChanged(Event):
    """A signal of ``symbol`` on ``interval`` changed its action; ``record_id`` is the stored row."""

    symbol: str
    interval: str
    action: str
    record_id: int
