"""Events of the bots domain."""

from __future__ import annotations

from dataclasses import dataclass

from . import Event, event


@event("bots", key="user_id")
@dataclass(frozen=True)
class BotStatusChanged(Event):
    """A bot of ``user_id`` changed status or configuration."""

    user_id: str
    bot_id: str
    status: str


@event("botlog", key="bot_id")
@dataclass(frozen=True)
class BotLogged(Event):
    """A line was added to a bot's log."""

    bot_id: str
    log_id: int
