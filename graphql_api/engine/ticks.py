"""Per-tick work as registered consumers: matching, equity snapshots, and later stops, liquidations, bots,
trading sessions and price alerts each register here instead of editing the feed or the app.

Consumers run in registration order on the feed leader after each tick. Each is isolated: one that
raises is logged in full and the others still run, so a broken alert rule cannot stop matching.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

log = logging.getLogger(__name__)

Marks = dict[str, tuple[Decimal, int]]  # symbol -> (mark price, feed step)
TickConsumer = Callable[[Marks], Awaitable[None]]


class TickConsumers:
    def __init__(self) -> None:
        self._consumers: list[tuple[str, TickConsumer]] = []

    def register(self, name: str, consumer: TickConsumer) -> None:
        if any(existing == name for existing, _ in self._consumers):
            raise ValueError(f"a tick consumer named {name} is already registered")
        self._consumers.append((name, consumer))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._consumers]

    async def __call__(self, marks: Marks) -> None:
        for name, consumer in self._consumers:
            try:
                await consumer(marks)
            except Exception:
                log.exception("tick consumer %s failed", name)
