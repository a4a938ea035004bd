"""`python -m graphql_api [serve|migrate|export-schema|export-possible-types]` — serve is the default."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from .observability import configure_logging
from .settings import Settings, SettingsError

log = logging.getLogger("graphql_api")


async def _migrate(settings: Settings) -> None:
    from tortoise import Tortoise

    from . import db

    await Tortoise.init(config=db.tortoise_config(settings))
    try:
        applied = await db.apply_migrations()
        log.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")
    finally:
        await Tortoise.close_connections()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graphql_api", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the API server (default)")
    for p in (parser, serve):
        p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
        p.add_argument("--log-level", default="info")
    sub.add_parser("migrate", help="apply pending database migrations and exit")
    export = sub.add_parser("export-schema", help="write the schema SDL")
    export.add_argument("path", nargs="?", default="schema.graphql")
    possible = sub.add_parser(
        "export-possible-types", help="write the possibleTypes map of the unions and interfaces (Apollo's cache)"
    )
    possible.add_argument("path", nargs="?", default="possibleTypes.json")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    if args.command == "export-schema":
        from schema import build_schema

        Path(args.path).write_text(build_schema().as_str() + "\n")
        return 0
    if args.command == "export-possible-types":
        from schema import possible_types_json

        Path(args.path).write_text(possible_types_json())
        return 0
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return 2
    # JSON lines in production, text in development (LOG_FORMAT); every line carries its request id.
    configure_logging(settings.log_format, getattr(args, "log_level", "info"))
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0

    from .app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        proxy_headers=True,
        ws="websockets-sansio",
        # Frames over the body cap are refused by the protocol layer before they are buffered whole.
        ws_max_size=settings.max_body_bytes,
        lifespan="on",
        log_config=None,  # uvicorn's loggers propagate to the root handler configure_logging installed
    )
    # uvicorn exits non-zero itself when the lifespan fails (e.g. pending migrations in production).
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
