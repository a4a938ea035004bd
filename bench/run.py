"""What a run measures, and one leg's run from server start to stop."""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass, field
from typing import Any

from .console import progress
from .http_load import HttpLevelResult, LoadClient, run_http
from .orders import MARKET, RESTING, OrderLevelResult, run_orders
from .positions import PositionResult, run_positions
from .server import Leg, ServerOutcome, serve
from .ticks import TickResult, run_ticks
from .traders import TraderPool

# Lets the server finish tearing down one wave of subscribers before the next wave is measured.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    quick: bool
    http_levels: tuple[int, ...]
    http_requests: int
    http_warmup: int
    subscriber_counts: tuple[int, ...]
    ticks_per_subscriber: int
    order_levels: tuple[int, ...]
    orders_per_level: int
    order_warmup: int
    position_subscriber_counts: tuple[int, ...]
    http_client: LoadClient = "streams"

    @classmethod
    def for_mode(cls, quick: bool, http_client: LoadClient = "streams") -> Plan:
        if quick:
            return cls(True, (1, 10, 50), 300, 50, (100,), 10, (1, 10, 50), 200, 20, (10,), http_client)
        return cls(False, (1, 10, 50), 2000, 200, (100, 1000), 20, (1, 10, 50), 1000, 100, (10, 100), http_client)

    @property
    def traders(self) -> int:
        """Traders a leg registers: one per order worker at the highest level, one per position subscriber."""
        return max((*self.order_levels, *self.position_subscriber_counts), default=0)


@dataclass
class LegResult:
    leg: str
    title: str
    ready: dict[str, Any] | None = None
    instruments: int | None = None
    http: list[HttpLevelResult] = field(default_factory=list)
    ticks: list[TickResult] = field(default_factory=list)
    orders: list[OrderLevelResult] = field(default_factory=list)
    positions: list[PositionResult] = field(default_factory=list)
    error: str | None = None
    server_started: bool = False
    server_exit_code: int | None = None
    server_killed: bool = False
    server_exited_by_itself: bool = False
    server_log: list[str] = field(default_factory=list)


async def run_leg(leg: Leg, plan: Plan) -> LegResult:
    result = LegResult(leg.name, leg.title)
    outcome = ServerOutcome()
    progress(f"leg {leg.name}: starting server")
    try:
        async with serve(leg, outcome) as (server, ready):
            result.ready = ready
            result.instruments, result.http = await run_http(
                server, plan.http_client, plan.http_levels, plan.http_requests, plan.http_warmup
            )
            for count in plan.subscriber_counts:
                await asyncio.sleep(SETTLE_SECONDS)
                result.ticks.append(await run_ticks(server, count, plan.ticks_per_subscriber))
            await asyncio.sleep(SETTLE_SECONDS)
            pool = TraderPool(server, leg.name)
            progress(f"  setup: {plan.traders} traders")
            await pool.take(plan.traders)
            # Market orders, then the position streams, then resting orders last: those stay working for the
            # rest of the leg and the engine re-scans working orders on every tick.
            result.orders += await run_orders(
                server, pool, (MARKET,), plan.order_levels, plan.orders_per_level, plan.order_warmup
            )
            for count in plan.position_subscriber_counts:
                await asyncio.sleep(SETTLE_SECONDS)
                result.positions.append(await run_positions(server, pool, count))
            await asyncio.sleep(SETTLE_SECONDS)
            result.orders += await run_orders(
                server, pool, (RESTING,), plan.order_levels, plan.orders_per_level, plan.order_warmup
            )
            progress(f"leg {leg.name}: stopping server")
    except Exception as exc:  # a failed leg is reported with the others' figures, not a traceback
        result.error = f"{type(exc).__name__}: {exc}"
        progress(traceback.format_exc())
    finally:
        result.server_started = outcome.started
        result.server_exit_code = outcome.exit_code
        result.server_killed = outcome.killed
        result.server_exited_by_itself = outcome.exited_by_itself
        result.server_log = outcome.log.splitlines()
    return result
