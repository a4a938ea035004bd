"""The skeleton of a leased runner: every API process runs one per kind (bots, trading sessions). It holds
row leases (``RowLeases``) on the live rows, renewing and claiming them every ``renew``, and hands each feed
tick to ``on_tick``; a lease pass and a tick never run at once in one process (one lock). A subclass says what
holding a row means (``manage``) and what a tick does (``on_tick``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tortoise.models import Model

from models.market import Instrument

from ..events import channel_for, decode
from ..events.market import PriceTicked
from .lease import RowLeases, process_name

if TYPE_CHECKING:
    from ..services.deps import Deps

log = logging.getLogger(__name__)

H = TypeVar("H")


class LeasedRunner(Generic[H]):
    kind = "runner"  # names the tasks (``<kind>-leases``, ``<kind>-ticks``) and the log lines

    def __init__(self, deps: Deps, model: type[Model], *, ttl: timedelta, renew: timedelta, **live: Any) -> None:
        self._deps = deps
        self._renew = renew
        self.name = process_name()
        self._leases = RowLeases(model, self.name, ttl, **live)
        self._held: dict[str, H] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()  # one lease pass or tick at a time in this process

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._lease_loop(), name=f"{self.kind}-leases"),
            asyncio.create_task(self._tick_loop(), name=f"{self.kind}-ticks"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._leases.release()
        self._held.clear()

    async def manage(self) -> None:
        """Renew what this process holds, drop what ended, claim its share of the unheld live rows."""
        raise NotImplementedError

    async def on_tick(self, tick: PriceTicked) -> None:
        raise NotImplementedError

    async def _lease_loop(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self.manage()
            except Exception:
                log.exception("%s lease pass failed", self.kind)
            await asyncio.sleep(self._renew.total_seconds())

    async def _tick_loop(self) -> None:
        symbols = await Instrument.all().values_list("symbol", flat=True)
        channels = [channel_for(PriceTicked, symbol) for symbol in symbols]
        async with self._deps.bus.subscribe(channels) as deliveries:
            async for delivery in deliveries:
                tick = decode(delivery)
                if not isinstance(tick, PriceTicked):
                    continue
                async with self._lock:
                    try:
                        await self.on_tick(tick)
                    except Exception:
                        log.exception("%s tick %s %s failed", self.kind, tick.symbol, tick.step)
