"""Events of the identity domain: a session ended, a user changed (role, status)."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("session", key="session_id")
@dataclass(frozen=True)
class SessionEnded(Event):
    session_id: str
    reason: str


@event("user", key="user_id")
@dataclass(frozen=True)
class UserChanged(Event):
    user_id: str
    reason: str
