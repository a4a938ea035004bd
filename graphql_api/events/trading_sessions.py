"""Events of the trading sessions domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("trading_sessions", key="user_id")
@dataclass(frozen=True)
class TradingSessionChanged(Event):
    """A session of ``user_id`` changed: started, traded, logged a decision, or ended."""

    user_id: str
    session_id: str
