"""Tables for the terminal and the JSON document."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .console import out
from .orders import MARKET, RESTING
from .run import LegResult, Plan
from .server import STOP_TIMEOUT

SERVER_LOG_LINES = 20


def _num(value: float | None, width: int, decimals: int = 2) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{decimals}f}"


def _pct(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width - 1}.0f}%"


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in sorted(kinds.items()))


def print_header(plan: Plan, meta: dict[str, Any]) -> None:
    out(f"bench {'quick' if plan.quick else 'full'} run, {meta['started_at']}")
    out(
        f"python {meta['python']}, {meta['cpus']} CPUs shared by server and bench, bench loop {meta['loop']}, "
        f"open-files limit {meta['nofile']}"
    )
    out(
        f"http: {plan.http_requests} requests per level (+ warm-up >= {plan.http_warmup}), client {plan.http_client}; "
        f"ticks: {plan.ticks_per_subscriber} per subscriber, feed interval {meta['feed_interval_s']} s"
    )
    out("latency percentiles: linear interpolation between closest ranks")
    out(
        "tick latency = bench receive time - tick timestamp (taken by the feed before its DB write); "
        "1st/last sub = median over ticks of the fastest/slowest subscriber"
    )
    out(
        f"orders: {plan.orders_per_level} per level (+ warm-up >= {plan.order_warmup}), one trader (user + paper "
        f"account) per worker, each order a unique clientOrderId; {MARKET.description} (fills), then "
        f"{RESTING.description} (rests, and stays working for the rest of the leg)"
    )
    out(
        f"positions: {', '.join(map(str, plan.position_subscriber_counts))} subscribers, each its own trader; one "
        f"{MARKET.description} per trader, sent one after another over HTTP; latency = placeOrder sent -> "
        "first positionUpdates event showing the fill's quantity; ack = the placeOrder round trip"
    )
    out(
        "run order per leg: instruments query, price ticks, market orders, position streams, resting orders; "
        "tick every = the feed's mean tick interval beside the measurement, max gap = its longest time without one"
    )
    out(
        f"host cpu = every process on the machine ({meta['cpus']} CPUs = {100 * (meta['cpus'] or 1)}%): the server, "
        "the bench, the database and Redis, and whatever else ran then"
    )


def print_leg(result: LegResult) -> None:
    out()
    out(f"== leg {result.leg} ({result.title}) ==")
    if result.ready is not None:
        checks = result.ready.get("checks", {})
        feed = checks.get("feed", {})
        out(
            f"ready: database ok={checks.get('database', {}).get('ok')}, bus {checks.get('bus', {}).get('kind')}, "
            f"feed {feed.get('role', 'off')}; {result.instruments} instruments"
        )
    if result.http:
        out()
        out(
            f"{'instruments query':<20}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
            f"{'errors':>8}{'srv cpu':>9}{'bench cpu':>10}"
        )
        for h in result.http:
            out(
                f"{'':<20}{h.concurrency:>5}{h.requests_per_second:>10.1f}{_num(h.p50_ms, 9)}{_num(h.p95_ms, 9)}"
                f"{_num(h.p99_ms, 9)}{h.errors:>8}{_pct(h.server_cpu_percent, 9)}{_pct(h.client_cpu_percent, 10)}"
            )
        for h in result.http:
            if h.error_kinds:
                out(f"  conc {h.concurrency} errors: {_kinds(h.error_kinds)}")
    if result.ticks:
        out()
        out(
            f"{'price tick delivery':<20}{'subscribers':>12}{'connected':>10}{'deliveries/expected':>21}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'1st sub':>9}{'last sub':>9}{'tick every':>12}{'srv cpu':>9}"
            f"{'connect s':>11}"
        )
        for t in result.ticks:
            interval = "-" if t.mean_tick_interval_ms is None else f"{t.mean_tick_interval_ms:.0f} ms"
            out(
                f"{'':<20}{t.subscribers:>12}{t.connected:>10}{f'{t.deliveries}/{t.expected}':>21}"
                f"{_num(t.p50_ms, 9)}{_num(t.p99_ms, 9)}{_num(t.max_ms, 9)}{_num(t.first_subscriber_p50_ms, 9)}"
                f"{_num(t.last_subscriber_p50_ms, 9)}{interval:>12}"
                f"{_pct(t.server_cpu_percent, 9)}{_pct(t.client_cpu_percent, 10)}{t.connect_seconds:>11.1f}"
            )
        for t in result.ticks:
            if t.connect_failures:
                out(f"  {t.subscribers} subscribers, failed to connect: {_kinds(t.connect_failures)}")
            if t.stream_failures:
                out(f"  {t.subscribers} subscribers, streams that failed: {_kinds(t.stream_failures)}")
            if t.server_fds_before is not None and t.server_fds_after is not None:
                leaked = t.server_fds_after - t.server_fds_before
                verdict = "back to baseline" if leaked <= 0 else f"{leaked} more than before: sockets not released"
                out(
                    f"  {t.subscribers} subscribers: server fds {t.server_fds_before} before, "
                    f"{t.server_fds_after} after closing ({verdict})"
                )
            if t.sequence_gaps:
                out(f"  {t.subscribers} subscribers: {t.sequence_gaps} gaps in `sequence` (it should have none)")
    if result.orders:
        _print_orders(result)
    if result.positions:
        _print_positions(result)
    if result.error is not None:
        out()
        out(f"LEG FAILED: {result.error}")
    out()
    if not result.server_started:
        status = "not started"
    elif result.server_exited_by_itself:
        when = "before it was ready" if result.ready is None else "during the run"
        status = f"exited by itself {when} (exit code {result.server_exit_code})"
    elif result.ready is None:
        status = f"never ready, stopped (exit code {result.server_exit_code})"
    elif result.server_killed:
        status = f"did not stop within {STOP_TIMEOUT:g}s of SIGTERM, killed (exit code {result.server_exit_code})"
    else:
        # uvicorn re-raises the SIGTERM it caught once shut down, so -15 is the normal, graceful end.
        status = f"stopped on SIGTERM (exit code {result.server_exit_code})"
    if not result.server_log:
        out(f"server log (level warning): empty; server {status}")
    else:
        out(f"server log (level warning): {len(result.server_log)} lines; server {status}:")
        lines = result.server_log
        if len(lines) > SERVER_LOG_LINES:
            # Head for what went wrong first, tail for how it ended (a traceback's last lines).
            half = SERVER_LOG_LINES // 2
            omitted = f"... {len(lines) - 2 * half} lines omitted ..."
            lines = [*lines[:half], omitted, *lines[-half:]]
        for line in lines:
            out(f"  | {line}")


def _ms(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{f'{value:.0f} ms':>{width}}"


def _print_orders(result: LegResult) -> None:
    out()
    out(
        f"{'order placement':<20}{'kind':>8}{'conc':>5}{'accts':>6}{'orders/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>8}{'resting':>9}{'tick every':>12}{'max gap':>10}{'srv cpu':>9}{'bench cpu':>10}"
        f"{'host cpu':>10}"
    )
    for o in result.orders:
        out(
            f"{'':<20}{o.kind:>8}{o.concurrency:>5}{o.accounts:>6}{o.orders_per_second:>10.1f}{_num(o.p50_ms, 9)}"
            f"{_num(o.p95_ms, 9)}{_num(o.p99_ms, 9)}{o.errors:>8}{o.working_orders:>9}"
            f"{_ms(o.mean_tick_interval_ms, 12)}{_ms(o.longest_without_tick_ms, 10)}"
            f"{_pct(o.server_cpu_percent, 9)}{_pct(o.client_cpu_percent, 10)}{_pct(o.host_cpu_percent, 10)}"
        )
    for o in result.orders:
        if o.error_kinds:
            out(f"  {o.kind} conc {o.concurrency} errors: {_kinds(o.error_kinds)}")


def _print_positions(result: LegResult) -> None:
    out()
    out(
        f"{'position stream':<20}{'subscribers':>12}{'connected':>10}{'delivered/expected':>20}{'ack p50':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'upd/sub/s':>11}{'tick every':>12}{'max gap':>10}{'srv cpu':>9}"
        f"{'bench cpu':>10}{'host cpu':>10}{'connect s':>11}"
    )
    for p in result.positions:
        rate = "-" if p.updates_per_subscriber_per_second is None else f"{p.updates_per_subscriber_per_second:.1f}"
        out(
            f"{'':<20}{p.subscribers:>12}{p.connected:>10}{f'{p.deliveries}/{p.expected}':>20}"
            f"{_num(p.ack_p50_ms, 9)}{_num(p.p50_ms, 9)}{_num(p.p99_ms, 9)}{_num(p.max_ms, 9)}{rate:>11}"
            f"{_ms(p.mean_tick_interval_ms, 12)}{_ms(p.longest_without_tick_ms, 10)}"
            f"{_pct(p.server_cpu_percent, 9)}{_pct(p.client_cpu_percent, 10)}{_pct(p.host_cpu_percent, 10)}"
            f"{p.connect_seconds:>11.1f}"
        )
    for p in result.positions:
        if p.placement_error_kinds:
            out(f"  {p.subscribers} subscribers, orders that failed: {_kinds(p.placement_error_kinds)}")
        if p.connect_failures:
            out(f"  {p.subscribers} subscribers, failed to connect: {_kinds(p.connect_failures)}")
        if p.stream_failures:
            out(f"  {p.subscribers} subscribers, streams that failed: {_kinds(p.stream_failures)}")
        if p.sequence_gaps:
            out(f"  {p.subscribers} subscribers: {p.sequence_gaps} gaps in `sequence` (it should have none)")


def write_json(path: Path, plan: Plan, meta: dict[str, Any], results: list[LegResult]) -> None:
    document = {"meta": meta, "plan": asdict(plan), "legs": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")
