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


@event("credentials", key="scope")
@dataclass(frozen=True)
class CredentialsChanged(Event):
    """One channel every process listens on: forget the cached session (or all of a user's sessions)."""

    scope: str
    session_id: str | None = None
    user_id: str | None = None


# The credentials channel has a single key: every process subscribes to it once.
EVERY_PROCESS = "all"
