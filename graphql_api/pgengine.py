"""tortoise's asyncpg engine, with statements that finish before a cancellation takes effect.

A task cancelled in the middle of a statement (a subscription whose client went away, a socket watcher
stopped with its socket, a shutdown) makes asyncpg cancel that statement on the server and then wait
for the server to confirm. That wait can last for ever: seen here with a transaction cancelled during
COMMIT, after which the rollback, then the pool's reset of the connection, waited on the cancellation
without end (asyncpg ignores their timeouts while a cancellation is in flight; asyncpg issue 431 is the
same family). The connection never went back to the pool, and shutdown hung on it.

Our statements are short, so a cancelled task here lets the statement in flight finish and only then
receives its cancellation, however often it is cancelled meanwhile. asyncpg's cancellation protocol
is never started, and the connection goes back to the pool idle.

Selected by :func:`graphql_api.db.tortoise_config` for PostgreSQL URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from .deadline import begin_commit

log = logging.getLogger(__name__)

T = TypeVar("T")


async def finish_first(statement: Coroutine[Any, Any, T]) -> T:
    """Await ``statement``; if the caller is cancelled meanwhile, let it complete, then re-raise."""
    task = asyncio.ensure_future(statement)
    task.add_done_callback(_collect)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Until the statement is done the connection is busy: returning now would let the caller hand
        # it back to the pool (a reset on a busy connection) mid-statement. Further cancels wait too.
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        raise


def _collect(task: asyncio.Future[Any]) -> None:
    # The caller may have gone (cancelled): the outcome is collected here so it is never left unread.
    if not task.cancelled() and task.exception() is not None:
        log.debug("database statement failed: %r", task.exception())


class FinishFirstConnection(asyncpg.Connection):
    """The statement methods tortoise and asyncpg's transactions use, each run to completion.

    A transaction's COMMIT (asyncpg sends exactly ``COMMIT;``) is first cleared with the request's
    deadline (graphql_api.deadline): past it, the transaction is rolled back instead and the refusal raised.
    """

    def get_reset_query(self) -> str:
        """Nothing, where asyncpg would run ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
        ALL`` each time a connection goes back to the pool (a round trip per statement outside a transaction).

        The application leaves no session state on a pooled connection: its advisory locks are
        transaction-scoped (``pg_advisory_xact_lock``; the feed lease holds its lock on a connection of its own,
        engine/lease.py), cursors live inside transactions, it never LISTENs (the bus is Redis) and never SETs
        session variables. An open transaction is still rolled back on release
        (asyncpg does that before this query, whatever it returns)."""
        return ""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        if args and args[0] == "COMMIT;" and (refusal := begin_commit()) is not None:
            await finish_first(super().execute("ROLLBACK;"))
            raise refusal
        return await finish_first(super().execute(*args, **kwargs))

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return await finish_first(super().executemany(*args, **kwargs))

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        return await finish_first(super().fetch(*args, **kwargs))

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        return await finish_first(super().fetchrow(*args, **kwargs))

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        return await finish_first(super().fetchval(*args, **kwargs))


class FinishFirstClient(AsyncpgDBClient):
    connection_class = FinishFirstConnection


client_class = FinishFirstClient
