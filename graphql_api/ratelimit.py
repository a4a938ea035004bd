"""Counters in fixed time windows, shared by every process through Redis (or kept in-process).

Used to limit failed sign-ins per account and per client address. If Redis is unreachable the counters
fall back to this process's memory: limits then hold per process instead of per cluster, which is
weaker but never turns a Redis outage into either an open door or a locked one.
"""

from __future__ import annotations

import logging
import time

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class WindowCounters:
    def __init__(self, redis: aioredis.Redis | None, prefix: str = "rl") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local: dict[str, tuple[int, float]] = {}

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    async def count(self, name: str) -> int:
        if self._redis is not None:
            try:
                value = await self._redis.get(self._key(name))
                return int(value or 0)
            except RedisError as exc:
                log.warning("rate-limit counters fall back to memory: %s", type(exc).__name__)
        count, expires = self._local.get(name, (0, 0.0))
        return count if expires > time.monotonic() else 0

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

    async def reset(self, name: str) -> None:
        self._local.pop(name, None)
        if self._redis is not None:
            try:
                await self._redis.delete(self._key(name))
            except RedisError as exc:
                log.warning("rate-limit reset not stored: %s", type(exc).__name__)
