"""`python -m bench compare`: each figure of the project beside its anchor, measured in interleaved rounds.

Every workload runs ``--rounds`` times (default 3) as anchor, project, anchor, project, …, so drift of the
shared 2-core machine (the other process idles meanwhile) falls on both alike; the table gives the median
of the rounds, their spread (min–max) and the server's CPU, and the ratio project / anchor of the medians.

| workload | project | anchor |
|---|---|---|
| me | ``{ me { id email } }`` with a Bearer token, PostgreSQL + Redis | bare strawberry ``{ hello }`` |
| instruments | ``{ instruments { symbol tickSize } }``, SQLite + memory bus | bare strawberry ``{ hello }`` |
| orders | ``orders(first: 100)`` with fills, PostgreSQL | PostGraphile v4 on the same tables |
| ticks | ``priceTicks`` to N subscribers, PostgreSQL + Redis | pre-serialised fan-out to the same sockets |

The ticks workload runs once per ``--subscribers`` count (500 and 2,000 by default), a row each.

Bare strawberry and the fan-out anchor run from ``bench/anchors.py``; PostGraphile from ``bench/postgraphile``
(``npm ci`` there on first use; the workload is skipped, and says so, where Node.js is not installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from graphql_api.client import GraphQLClient

from .console import out, progress
from .http_load import CONNECTION_FAILURES, KeepAliveConnection, Send, judge_field, load
from .server import LEGS, POSTGRES_BENCH_URL, ChildProcess, ServerOutcome, ServerProcess, serve
from .stats import percentiles
from .ticks import run_ticks
from .traders import Trader, TraderPool

POSTGRAPHILE_DIR = Path(__file__).resolve().parent / "postgraphile"
ORDERS_ON_PAGE = 100
# Judges one answer: None when good, else a short name for what went wrong.
Judge = Callable[[int, bytes], str | None]


@dataclass(frozen=True)
class HttpWork:
    """One query as a request body, the headers it needs and how to judge its answer."""

    body: bytes
    judge: Judge
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, query: str, judge: Judge, headers: Mapping[str, str] | None = None) -> HttpWork:
        return cls(orjson.dumps({"query": query}), judge, dict(headers or {}))


HELLO = HttpWork.of("{ hello }", judge_field("hello"))


@dataclass
class Sample:
    """One round of one side: throughput (or deliveries) per second, latency percentiles, the server's CPU."""

    rate: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_percent: float | None
    errors: int
    note: str = ""


@dataclass
class Row:
    workload: str
    unit: str
    project: list[Sample] = field(default_factory=list)
    anchor: list[Sample] = field(default_factory=list)
    anchor_name: str = ""
    skipped: str = ""


async def http_round(process: ChildProcess, work: HttpWork, concurrency: int, requests: int) -> Sample:
    """``requests`` POSTs of ``work`` over ``concurrency`` keep-alive connections, after a warm-up."""
    connections = [KeepAliveConnection("127.0.0.1", process.port, work.headers) for _ in range(concurrency)]

    def sender(connection: KeepAliveConnection) -> Send:
        async def send() -> str | None:
            try:
                status, content = await connection.post(work.body)
            except (ConnectionResetError, asyncio.IncompleteReadError):
                # The server may close a keep-alive connection that sat idle (uvicorn: 5 s) while slower
                # workers finished the previous phase; that is not the request failing, so reconnect once.
                try:
                    status, content = await connection.post(work.body)
                except CONNECTION_FAILURES as exc:
                    return type(exc).__name__
            except CONNECTION_FAILURES as exc:
                return type(exc).__name__
            return work.judge(status, content)

        return send

    senders = [sender(c) for c in connections]
    try:
        await load(senders, max(requests // 10, 2 * concurrency), [], Counter())
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        cpu_before = process.cpu_seconds()
        started = time.perf_counter()
        await load(senders, requests, latencies, errors)
        seconds = time.perf_counter() - started
        cpu_after = process.cpu_seconds()
    finally:
        for c in connections:
            c.close()
    pct = percentiles(latencies, (50, 99))
    cpu = None if cpu_before is None or cpu_after is None else 100 * (cpu_after - cpu_before) / seconds
    return Sample(len(latencies) / seconds, pct["p50"], pct["p99"], cpu, sum(errors.values()), _kinds(errors))


async def ticks_round(process: ChildProcess, subscribers: int, ticks: int) -> Sample:
    result = await run_ticks(process, subscribers, ticks)
    failures = sum(result.connect_failures.values()) + sum(result.stream_failures.values())
    note = f"{result.deliveries}/{result.expected} delivered"
    return Sample(
        result.deliveries / result.collect_seconds,
        result.p50_ms,
        result.p99_ms,
        result.server_cpu_percent,
        failures + (result.expected - result.deliveries),
        note,
    )


def _kinds(errors: Counter[str]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in sorted(errors.items()))


@contextlib.asynccontextmanager
async def running(process: ChildProcess) -> AsyncIterator[ChildProcess]:
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


class PostGraphile(ChildProcess):
    """PostGraphile v4's CLI on the bench database; ready once it answers a query."""

    def __init__(self, log_path: Path) -> None:
        binary = POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"
        command = [str(binary), "-c", POSTGRES_BENCH_URL, "-s", "public", "-n", "127.0.0.1", "-p", "{port}"]
        super().__init__("postgraphile", [*command, "--disable-query-log"], log_path)

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"postgraphile exited with {self.proc.returncode} (see {self.log_path})")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post(self.url + "/graphql", json={"query": "{ __typename }"})
                    if response.status_code == 200:
                        return {"status": "ready"}
                await asyncio.sleep(0.2)
        raise TimeoutError(f"postgraphile not ready within {timeout}s (see {self.log_path})")


def postgraphile_available() -> str:
    """Empty when PostGraphile can run, else why not; installs it from the committed lock file on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js/npm not installed"
    if not (POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile").exists():
        progress("  installing PostGraphile (npm ci, bench/postgraphile)")
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=POSTGRAPHILE_DIR, capture_output=True, text=True
        )
        if done.returncode != 0:
            return f"npm ci failed: {done.stderr.strip()[-300:]}"
    return ""


PLACE_MARKET = """
mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) { __typename ... on UserError { code message } }
}"""

_ORDER_FIELDS = "id symbol side status quantity price filledQuantity createdAt"
_FILL_FIELDS = "id price quantity fee"
ORDERS_PAGE = (
    f"{{ orders(first: {ORDERS_ON_PAGE}) {{ edges {{ node {{ {_ORDER_FIELDS} fills {{ {_FILL_FIELDS} }} }} }} }} }}"
)
POSTGRAPHILE_PAGE = (
    f"{{ allOrders(first: {ORDERS_ON_PAGE}, orderBy: CREATED_AT_DESC) {{ nodes {{ {_ORDER_FIELDS} "
    f"fillsByOrderId {{ nodes {{ {_FILL_FIELDS} }} }} }} }} }}"
)


async def _fill_orders(server: ServerProcess, trader: Trader, count: int) -> None:
    """``count`` small market buys, each filled: the page the orders workload reads."""
    async with GraphQLClient(server.url, headers=trader.headers, timeout=60) as api:
        for i in range(count):
            order = {
                "venueAccountId": trader.account_id,
                "symbol": "BTC",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "0.001",
                "clientOrderId": f"compare-{i}",
            }
            placed = (await api.query(PLACE_MARKET, {"input": order}))["placeOrder"]
            if placed["__typename"] != "OrderPlaced":
                raise RuntimeError(f"setting up the orders page failed: {placed}")


@dataclass(frozen=True)
class Options:
    rounds: int
    concurrency: int
    requests: int
    subscribers: tuple[int, ...]
    ticks: int
    only: frozenset[str]


async def _interleave(
    row: Row, rounds: int, anchor: Callable[[], Any], project: Callable[[], Any], settle: float = 0.0
) -> None:
    for round_ in range(1, rounds + 1):
        progress(f"  {row.workload}: round {round_}/{rounds}, anchor ({row.anchor_name})")
        row.anchor.append(await anchor())
        if settle:
            await asyncio.sleep(settle)  # the anchor's sockets finish closing before the project's wave
        progress(f"  {row.workload}: round {round_}/{rounds}, project")
        row.project.append(await project())
        if settle:
            await asyncio.sleep(settle)


async def compare(options: Options) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        logs = Path(tmp)
        python = sys.executable
        strawberry = ChildProcess(
            "bare strawberry",
            [python, "-m", "bench.anchors", "strawberry", "--port", "{port}"],
            logs / "strawberry.log",
        )
        async with running(strawberry):
            if "instruments" in options.only:
                outcome = ServerOutcome()
                async with serve(LEGS["sqlite"], outcome) as (server, _):
                    work = HttpWork.of("{ instruments { symbol tickSize } }", judge_field("instruments"))
                    rows.append(await _against_strawberry("instruments (SQLite)", strawberry, server, work, options))
            if options.only & {"me", "orders", "ticks"}:
                outcome = ServerOutcome()
                async with serve(LEGS["postgres"], outcome) as (server, _):
                    pool = TraderPool(server, "compare")
                    (trader,) = await pool.take(1)
                    if "me" in options.only:
                        me = HttpWork.of("{ me { id email } }", judge_field("me"), trader.headers)
                        title = "me, Bearer (PostgreSQL)"
                        rows.append(await _against_strawberry(title, strawberry, server, me, options))
                    if "orders" in options.only:
                        rows.append(await _orders_row(server, trader, options, logs))
                    if "ticks" in options.only:
                        for subscribers in options.subscribers:
                            rows.append(await _ticks_row(server, subscribers, options, logs))
    return rows


async def _against_strawberry(
    title: str, strawberry: ChildProcess, server: ServerProcess, work: HttpWork, options: Options
) -> Row:
    row = Row(title, "req/s", anchor_name="bare strawberry {hello}")
    await _interleave(
        row,
        options.rounds,
        lambda: http_round(strawberry, HELLO, options.concurrency, options.requests),
        lambda: http_round(server, work, options.concurrency, options.requests),
    )
    return row


async def _orders_row(server: ServerProcess, trader: Trader, options: Options, logs: Path) -> Row:
    row = Row(f"orders(first: {ORDERS_ON_PAGE}) + fills (PostgreSQL)", "req/s", anchor_name="PostGraphile v4")
    why_not = postgraphile_available()
    if why_not:
        row.skipped = why_not
        return row
    progress(f"  orders: placing {ORDERS_ON_PAGE} filled market orders (not timed)")
    await _fill_orders(server, trader, ORDERS_ON_PAGE)
    project = HttpWork.of(ORDERS_PAGE, judge_field("orders"), trader.headers)
    anchor = HttpWork.of(POSTGRAPHILE_PAGE, judge_field("allOrders"))
    requests = max(options.requests // 5, 100)
    async with running(PostGraphile(logs / "postgraphile.log")) as postgraphile:
        await _interleave(
            row,
            options.rounds,
            lambda: http_round(postgraphile, anchor, options.concurrency, requests),
            lambda: http_round(server, project, options.concurrency, requests),
        )
    return row


async def _ticks_row(server: ServerProcess, subscribers: int, options: Options, logs: Path) -> Row:
    from .server import FEED_INTERVAL

    row = Row(
        f"priceTicks to {subscribers} subscribers (PostgreSQL + Redis)",
        "deliveries/s",
        anchor_name="pre-serialised fan-out",
    )
    fanout = ChildProcess(
        "fan-out anchor",
        [sys.executable, "-m", "bench.anchors", "fanout", "--port", "{port}", "--interval", str(FEED_INTERVAL)],
        logs / "fanout.log",
    )
    async with running(fanout):
        await _interleave(
            row,
            options.rounds,
            lambda: ticks_round(fanout, subscribers, options.ticks),
            lambda: ticks_round(server, subscribers, options.ticks),
            settle=2.0,
        )
    return row


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, decimals: int = 0) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _spread(samples: Sequence[Sample]) -> str:
    rates = [s.rate for s in samples]
    return f"{_fmt(min(rates))}–{_fmt(max(rates))}" if rates else "-"


def _latency(samples: Sequence[Sample]) -> str:
    return f"{_fmt(_median([s.p50_ms for s in samples]), 1)}/{_fmt(_median([s.p99_ms for s in samples]), 1)}"


def _cpu(samples: Sequence[Sample]) -> str:
    return f"{_fmt(_median([s.cpu_percent for s in samples]))}%"


def print_rows(rows: list[Row], options: Options) -> None:
    out(
        f"bench compare: {options.rounds} interleaved rounds (anchor, project, …), medians; spread = min–max "
        f"of the rounds; http: {options.requests} requests at concurrency {options.concurrency} after a "
        f"warm-up; cpu = the measured server process (100% = one core)"
    )
    header = (
        f"{'workload':<46} {'project':>10} {'anchor':>10} {'ratio':>6}  {'p50/p99 ms (project)':>21}  "
        f"{'p50/p99 ms (anchor)':>20}  {'cpu proj/anch':>13}  anchor, spread project | anchor"
    )
    out(header)
    for row in rows:
        if row.skipped:
            out(f"{row.workload:<46} skipped: {row.skipped}")
            continue
        project = _median([s.rate for s in row.project])
        anchor = _median([s.rate for s in row.anchor])
        ratio = None if not project or not anchor else project / anchor
        cpu = f"{_cpu(row.project)}/{_cpu(row.anchor)}"
        out(
            f"{row.workload:<46} {_fmt(project):>10} {_fmt(anchor):>10} {_fmt(ratio, 2):>6}  "
            f"{_latency(row.project):>21}  {_latency(row.anchor):>20}  {cpu:>13}  "
            f"{row.anchor_name}, {_spread(row.project)} | {_spread(row.anchor)} {row.unit}"
        )
        errors = sum(s.errors for s in itertools.chain(row.project, row.anchor))
        if errors:
            notes = "; ".join(
                f"{side} round {i}: {s.note}"
                for side, samples in (("project", row.project), ("anchor", row.anchor))
                for i, s in enumerate(samples, 1)
                if s.errors
            )
            out(f"{'':<46} errors: {errors} ({notes})")


def as_json(rows: list[Row]) -> bytes:
    from dataclasses import asdict

    return orjson.dumps([asdict(r) for r in rows], option=orjson.OPT_INDENT_2)
