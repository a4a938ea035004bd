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

Its transactions also run work handed to :func:`defer_to_commit` just before their top-level COMMIT: the
audit log's chain head is locked there, as the last lock of a transaction (graphql_api/audit.py).

Selected by :func:`graphql_api.db.tortoise_config` for PostgreSQL URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import NestedTransactionContext, TransactionContext, TransactionContextPooled

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


BeforeCommit = Callable[[Any], Awaitable[None]]


class HookedTransaction(TransactionWrapper):
    """tortoise's asyncpg transaction (or savepoint) that runs the work deferred to its commit.

    Nested blocks (savepoints) share the outermost transaction's list: a savepoint rolled back drops what
    was deferred inside it; the outermost commit runs the rest, in order, in the transaction."""

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self._outermost = not isinstance(connection, HookedTransaction)
        self._deferred: list[BeforeCommit] = [] if self._outermost else connection._deferred
        self._mark = 0

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(HookedTransaction(self))

    async def begin(self) -> None:
        await super().begin()
        self._mark = len(self._deferred)

    async def commit(self) -> None:
        if self._outermost:
            for work in self._deferred:
                await work(self)
            self._deferred.clear()
        await super().commit()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            del self._deferred[self._mark :]


def defer_to_commit(client: Any, work: BeforeCommit) -> bool:
    """Run ``work(transaction)`` just before ``client``'s transaction commits; False when ``client`` is not
    such a transaction (then the caller does the work itself)."""
    if not isinstance(client, HookedTransaction):
        return False
    client._deferred.append(work)
    return True


class FinishFirstClient(AsyncpgDBClient):
    connection_class = FinishFirstConnection

    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(HookedTransaction(self), self._pool_init_lock)


client_class = FinishFirstClient
