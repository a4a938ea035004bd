"""`python -m bench [--leg sqlite|postgres|both] [--quick] [--http-client streams|httpx] [--json PATH]`
`python -m bench compare [--rounds 3] [--only me,instruments,orders,ticks] [--subscribers N[,N…]] [--quick]`

Run from the repository root. Figures go to stdout, progress to stderr. The first form measures the
project alone, per leg; ``compare`` puts each figure beside its anchor (see ``bench/compare.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from .console import progress
from .http_load import LoadClient
from .report import print_header, print_leg, write_json
from .run import LegResult, Plan, run_leg
from .server import FEED_INTERVAL, LEGS, raise_fd_limit


async def _run_legs(names: list[str], plan: Plan) -> list[LegResult]:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM to the bench cancels the run like Ctrl-C does, so the server is still stopped on the way out.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results = []
    for name in names:
        result = await run_leg(LEGS[name], plan)
        print_leg(result)
        results.append(result)
    return results


def _run(coroutine_factory: Callable[[], Any]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine_factory())


def compare_main(argv: list[str]) -> int:
    from . import compare

    parser = argparse.ArgumentParser(prog="python -m bench compare", description=compare.__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="me,instruments,orders,ticks", help="comma-separated workloads")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP connections (wrk's -c)")
    parser.add_argument("--requests", type=int, default=3000, help="HTTP requests per round")
    parser.add_argument(
        "--subscribers", default="500,2000", help="comma-separated subscriber counts: one ticks row for each"
    )
    parser.add_argument("--ticks", type=int, default=20, help="ticks each subscriber receives per round")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    only = frozenset(w.strip() for w in args.only.split(",") if w.strip())
    unknown = only - {"me", "instruments", "orders", "ticks"}
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    options = compare.Options(
        rounds=args.rounds,
        concurrency=args.concurrency,
        requests=300 if args.quick else args.requests,
        subscribers=(100,) if args.quick else tuple(int(n) for n in args.subscribers.split(",") if n.strip()),
        ticks=5 if args.quick else args.ticks,
        only=only,
    )
    soft, _ = raise_fd_limit()
    if soft < max(options.subscribers) * 2 + 200:
        progress(f"warning: open-files limit {soft} is low for {max(options.subscribers)} subscribers")
    try:
        rows = _run(lambda: compare.compare(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress("interrupted; servers stopped")
        return 130
    compare.print_rows(rows, options)
    if args.json is not None:
        args.json.write_bytes(compare.as_json(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--leg", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run (under a minute)")
    parser.add_argument(
        "--http-client",
        choices=("streams", "httpx"),
        default="streams",
        help="load client for the query benchmark: lean keep-alive connections (default) or httpx, for comparison",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)

    http_client: LoadClient = "httpx" if args.http_client == "httpx" else "streams"
    plan = Plan.for_mode(args.quick, http_client)
    names = ["sqlite", "postgres"] if args.leg == "both" else [args.leg]
    soft, _ = raise_fd_limit()
    # Each subscriber holds a socket in the bench and one in the server (which inherits this limit).
    needed = max(plan.subscriber_counts) + 200
    if soft < needed:
        progress(f"warning: open-files limit {soft} is below the {needed} the largest subscriber wave needs")
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        # uvloop, as uvicorn runs the server, so the bench's own loop costs the shared CPUs as little as it can.
        "loop": "uvloop",
        "nofile": soft,
        "feed_interval_s": FEED_INTERVAL,
        "argv": sys.argv,
    }
    print_header(plan, meta)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results = runner.run(_run_legs(names, plan))
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress("interrupted; server stopped")
        return 130
    if args.json is not None:
        write_json(args.json, plan, meta, results)
        progress(f"results written to {args.json}")
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
