"""Events of the portfolio domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("portfolio", key="user_id")
@dataclass(frozen=True)
class PortfolioChanged(Event):
    """Something the portfolio of ``user_id`` is computed from changed."""

    user_id: str
