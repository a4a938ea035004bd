"""Counters in fixed time windows, shared by every process through Redis (or kept in-process).

Used for the request categories' limits (``RateLimit`` declared on root fields), and for guesses of
secrets (passwords, TOTP codes) with exponential back-off per account. Every check reserves before it
decides — one atomic INCR or Lua script on Redis, no await between read and write in memory — so
concurrent requests cannot all pass a check that only one of them should. If Redis is unreachable the
counters fall back to this process's memory: limits then hold per process instead of per cluster, which
is weaker but never turns a Redis outage into either an open door or a locked one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from strawberry.extensions import FieldExtension

from .errors import RateLimited

if TYPE_CHECKING:
    from .context import Context, Info
    from .services.deps import Deps
    from .settings import Settings

log = logging.getLogger(__name__)


# Reserve one guess. Refused while earlier guesses' back-off runs (or while the guess that started it is
# still being checked); otherwise counted, and from the `free`-th guess in a row on, every other guess
# waits until this one has been checked (at most `guard` ms) — then `_FAILED` starts the back-off.
_RESERVE = """
local now = tonumber(ARGV[1])
local wait_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < wait_until then return {0, wait_until - now} end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], now + tonumber(ARGV[3]), 'PX', ARGV[4])
end
return {1, 0}
"""
# A guess was wrong: from the `free`-th in a row on, the next waits base * 2^(n - free) ms (at most `cap`).
_FAILED = """
local now = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local free = tonumber(ARGV[2])
if n >= free then
  local delay = math.min(tonumber(ARGV[3]) * 2 ^ (n - free), tonumber(ARGV[4]))
  redis.call('SET', KEYS[2], math.floor(now + delay), 'PX', ARGV[5])
end
return n
"""
_GUARD_MS = 30_000  # a guess being checked holds the next one at most this long (a crash mid-check)


@dataclass(frozen=True)
class Take:
    """One event counted in a fixed window: whether it was within ``limit``, and when the window ends."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds

    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


class WindowCounters:
    def __init__(self, redis: aioredis.Redis | None, prefix: str = "rl") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local: dict[str, tuple[int, float]] = {}

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    async def add(self, name: str, window: int) -> int:
        """Count one event; the window starts at the first event and lasts ``window`` seconds."""
        if self._redis is not None:
            try:
                key = self._key(name)
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                    count, _ = await pipe.execute()
                return int(count)
            except RedisError as exc:
                log.warning("rate-limit counters fall back to memory: %s", type(exc).__name__)
        now = time.monotonic()
        count, expires = self._local.get(name, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window
        self._local[name] = (count + 1, expires)
        return count + 1

    async def reset(self, *names: str) -> None:
        for name in names:
            self._local.pop(name, None)
        if self._redis is not None:
            try:
                await self._redis.delete(*(self._key(name) for name in names))
            except RedisError as exc:
                log.warning("rate-limit reset not stored: %s", type(exc).__name__)

    async def forget_guesses(self, name: str) -> None:
        await self.reset(f"{name}:n", f"{name}:wait")

    async def take(self, name: str, limit: int, window: int) -> Take:
        """Count one event in the current window (aligned to the clock, so every process agrees on it)."""
        now = time.time()
        index = int(now // window)
        count = await self.add(f"{name}:{index}", window)
        return Take(count <= limit, limit, max(0, limit - count), (index + 1) * window)

    async def give_back(self, name: str, window: int) -> None:
        """Uncount the event just taken (a sign-in that succeeded is not a guess)."""
        key = f"{name}:{int(time.time() // window)}"
        if self._redis is not None:
            try:
                await self._redis.decr(self._key(key))
                return
            except RedisError as exc:
                log.warning("rate-limit counters fall back to memory: %s", type(exc).__name__)
        count, expires = self._local.get(key, (0, 0.0))
        if count > 0:
            self._local[key] = (count - 1, expires)

    async def reserve_guess(self, name: str, *, free: int, window: int) -> float:
        """Reserve one guess of a secret under exponential back-off; 0 when allowed, else seconds to wait.

        The first ``free`` guesses in a row go at once (concurrently too); from then on each waits for the
        one before it to be checked and then twice as long as the previous wait (``guess_failed``). A
        stranger who knows the account can slow its owner down but never lock them out; ``forget_guesses``
        after a success starts over.
        """
        now_ms = int(time.time() * 1000)
        if self._redis is not None:
            try:
                keys = (self._key(f"{name}:n"), self._key(f"{name}:wait"))
                allowed, wait_ms = await self._redis.eval(_RESERVE, 2, *keys, now_ms, free, _GUARD_MS, window * 1000)
                return 0.0 if int(allowed) else int(wait_ms) / 1000
            except RedisError as exc:
                log.warning("rate-limit counters fall back to memory: %s", type(exc).__name__)
        now = time.monotonic()
        wait_until, _ = self._local.get(f"{name}:wait", (0, 0.0))
        if wait_until > now_ms:
            return (wait_until - now_ms) / 1000
        count, expires = self._local.get(f"{name}:n", (0, 0.0))
        count = count + 1 if expires > now else 1
        self._local[f"{name}:n"] = (count, now + window)
        if count >= free:
            self._local[f"{name}:wait"] = (now_ms + _GUARD_MS, now + window)
        return 0.0

    async def guess_failed(self, name: str, *, free: int, base: float, cap: float, window: int) -> None:
        now_ms = int(time.time() * 1000)
        if self._redis is not None:
            try:
                keys = (self._key(f"{name}:n"), self._key(f"{name}:wait"))
                args = (now_ms, free, int(base * 1000), int(cap * 1000), window * 1000)
                await self._redis.eval(_FAILED, 2, *keys, *args)
                return
            except RedisError as exc:
                log.warning("rate-limit counters fall back to memory: %s", type(exc).__name__)
        now = time.monotonic()
        count, expires = self._local.get(f"{name}:n", (0, 0.0))
        if expires > now and count >= free:
            delay = min(base * math.pow(2, min(count - free, 64)), cap)
            self._local[f"{name}:wait"] = (now_ms + int(delay * 1000), now + window)


# --- Request categories -----------------------------------------------------------------------------------

GENERAL, TRADING, MARKET_DATA, AUTH = "general", "trading", "market_data", "auth"


def category_limit(settings: Settings, category: str) -> int:
    return {
        GENERAL: settings.rate_limit_general,
        TRADING: settings.rate_limit_trading,
        MARKET_DATA: settings.rate_limit_market_data,
        AUTH: settings.rate_limit_auth,
    }[category]


async def charge(context: Context, category: str) -> None:
    """Count one call of a root field against its category's bucket for the caller (the user when signed
    in, else the client address); refuse with RATE_LIMITED and ``retryAfter`` once the bucket is empty.

    The response carries the tightest bucket this request touched as X-RateLimit-Limit/Remaining/Reset.
    """
    settings = context.settings
    principal = context.principal
    subject = f"user:{principal.user_id}" if principal is not None else f"ip:{context.client.ip}"
    taken = await context.counters.take(
        f"rate:{category}:{subject}", category_limit(settings, category), settings.rate_limit_window
    )
    response = context.http_response
    if response is not None:
        shown = response.headers.get("x-ratelimit-remaining")
        if shown is None or taken.remaining <= int(shown):
            response.headers["X-RateLimit-Limit"] = str(taken.limit)
            response.headers["X-RateLimit-Remaining"] = str(taken.remaining)
            response.headers["X-RateLimit-Reset"] = str(taken.reset_at)
    if not taken.allowed:
        retry = taken.retry_after()
        if response is not None:
            response.headers["Retry-After"] = str(retry)
        raise RateLimited(
            f"rate limit exceeded: {taken.limit} {category.replace('_', ' ')} requests per "
            f"{settings.rate_limit_window} seconds; retry in {retry} s",
            retryAfter=retry,
            category=category.upper(),
            limit=taken.limit,
        )


class RateLimit(FieldExtension):
    """Declares a root field's rate-limit category; each call is charged before the resolver runs."""

    def __init__(self, category: str) -> None:
        super().__init__()
        self.category = category

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        raise TypeError("rate-limited fields must be async")  # every root resolver here is async

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any) -> Any:
        await charge(info.context, self.category)
        return await next_(source, info, **kwargs)


def default_category(*types: type, category: str = GENERAL) -> None:
    """Give every field of ``types`` without a declared RateLimit the ``category`` one (idempotent)."""
    for cls in types:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        for field in definition.fields:
            if not any(isinstance(ext, RateLimit) for ext in field.extensions):
                field.extensions.append(RateLimit(category))


async def reserve_guess(context: Deps, name: str) -> None:
    """Reserve one guess of a secret (password, TOTP code) for ``name`` before it is checked; refuse with
    RATE_LIMITED and ``retryAfter`` while the back-off of earlier wrong guesses runs. Every reserved guess
    ends with ``guess_failed`` or ``counters.forget_guesses`` (a success)."""
    settings = context.settings
    wait = await context.counters.reserve_guess(
        name, free=settings.login_failures_per_account, window=settings.login_failure_window
    )
    if wait > 0:
        retry = math.ceil(wait)
        raise RateLimited(f"too many wrong attempts; try again in {retry} s", retryAfter=retry)


async def guess_failed(context: Deps, name: str) -> None:
    settings = context.settings
    await context.counters.guess_failed(
        name,
        free=settings.login_failures_per_account,
        base=settings.login_backoff_base,
        cap=settings.login_backoff_max,
        window=settings.login_failure_window,
    )
