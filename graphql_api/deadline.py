"""Request deadlines: a request either commits within its deadline or commits nothing, and says which.

The view runs each HTTP request under a :class:`Deadline` (REQUEST_DEADLINE seconds). Every COMMIT on
PostgreSQL asks the request's deadline first (pgengine): once the deadline has passed, the transaction is
rolled back instead. When the deadline passes while the request is still running (the database has gone
quiet), the view answers at once with DEADLINE_EXCEEDED, "not executed", if no commit has begun; the
request goes on in the background until the database answers, and can then only roll back. If a commit
had begun, the outcome is whatever the database says, and the view waits for it: a client is never told
"not executed" about something that was.

Statements themselves cannot be cut short from here (pgengine lets a statement finish before a
cancellation lands); PostgreSQL bounds them (statement_timeout, lock_timeout,
idle_in_transaction_session_timeout, set per connection from DATABASE_STATEMENT_TIMEOUT) and asyncpg
bounds connecting (DATABASE_CONNECT_TIMEOUT).
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from .errors import ApiError


class DeadlineExceeded(ApiError):
    code = "DEADLINE_EXCEEDED"


NOT_EXECUTED = "the request did not complete within its deadline and was not executed; it is safe to retry"


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.expires_at = time.monotonic() + seconds
        self.closed = False
        self.commits_begun = 0

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def close(self) -> bool:
        """Refuse every later commit; True when none has begun (so nothing of the request was executed)."""
        self.closed = True
        return self.commits_begun == 0

    def begin_commit(self) -> DeadlineExceeded | None:
        """Called right before COMMIT, with no await in between: the refusal to raise instead, if any."""
        if self.closed or time.monotonic() >= self.expires_at:
            self.closed = True
            return DeadlineExceeded(
                NOT_EXECUTED if self.commits_begun == 0 else "the request ran past its deadline part way"
            )
        self.commits_begun += 1
        return None


current_deadline: ContextVar[Deadline | None] = ContextVar("current_deadline", default=None)


def begin_commit() -> DeadlineExceeded | None:
    deadline = current_deadline.get()
    return None if deadline is None else deadline.begin_commit()
