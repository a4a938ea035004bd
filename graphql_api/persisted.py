"""Automatic persisted queries (Apollo's APQ protocol) and the optional allow-list of operations.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex SHA-256 of the query text>}``,
by POST or GET, without the query. A known hash runs its query; an unknown one is answered, with status 200 as
Apollo Server answers it, by ``{"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code":
"PERSISTED_QUERY_NOT_FOUND"}}]}``: Apollo's ``createPersistedQueryLink`` then sends the query with its hash,
which registers it once the hash is checked against the text (a mismatch is a 400 that names the rule).

The store is Redis when the bus is (``<namespace>:apq:<hash>``, shared by every process, each entry living
APQ_TTL seconds from its last use), else this process's memory, the APQ_CACHE_SIZE most recently used
queries. It is a cache: an entry that is gone is registered again by the next client that sends it, and a
Redis outage reads as a miss rather than an error.

``PERSISTED_QUERIES=allowlist`` runs only the operations of an Apollo persisted-query manifest
(``PERSISTED_QUERIES_MANIFEST``, the JSON ``generate-persisted-query-manifest`` writes); any other document,
sent by hash or in full, is refused (403, PERSISTED_QUERY_NOT_IN_LIST) and nothing is registered.
``PERSISTED_QUERIES=off`` answers a hash with PERSISTED_QUERY_NOT_SUPPORTED, as a server without APQ does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from strawberry.http import GraphQLRequestData

from .errors import ApiError
from .settings import Settings, SettingsError

log = logging.getLogger(__name__)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# What Apollo Server sends with a persisted-query error: the answer depends on this server's store, not the URL.
PERSISTED_CACHE_CONTROL = "private, no-cache, must-revalidate"


class PersistedQueryError(ApiError):
    """A persisted-query refusal; ``status`` is the HTTP status of a response that carries only it."""

    status = 400  # a miss is 200, as Apollo Server answers it: Apollo's link stops using hashes after a 400

    def __init__(self, message: str, code: str, status: int) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


def not_found() -> PersistedQueryError:
    return PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", 200)


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class MemoryStore:
    """The most recently used ``size`` queries of this process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self._queries.get(digest)
        if query is not None:
            self._queries.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self.size:
            self._queries.popitem(last=False)


class RedisStore:
    """Queries shared by every process, each expiring ``ttl`` seconds after its last use."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl

    async def get(self, digest: str) -> str | None:
        try:
            value = await self._redis.getex(f"{self._prefix}:{digest}", ex=self._ttl)
        except RedisError as exc:
            log.warning("persisted query store unreachable, read as a miss: %s", type(exc).__name__)
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, digest: str, query: str) -> None:
        try:
            await self._redis.set(f"{self._prefix}:{digest}", query, ex=self._ttl)
        except RedisError as exc:
            log.warning("persisted query not stored: %s", type(exc).__name__)


class AllowList:
    """The operations of a persisted-query manifest, by the SHA-256 of their text; read-only."""

    def __init__(self, path: Path) -> None:
        try:
            manifest = orjson.loads(path.read_bytes())
            operations = manifest["operations"]
            self.queries = {sha256_hex(op["body"]): op["body"] for op in operations}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SettingsError(
                f"PERSISTED_QUERIES_MANIFEST {path}: not a persisted-query manifest "
                f'({{"operations": [{{"body": ...}}, ...]}}): {exc}'
            ) from None

    async def get(self, digest: str) -> str | None:
        return self.queries.get(digest)


class PersistedQueries:
    """Turns a request that names its query by hash into one that carries it (see the module's docstring)."""

    def __init__(self, settings: Settings, redis: aioredis.Redis | None) -> None:
        self.mode = settings.persisted_queries
        self.allow_list: AllowList | None = None
        self.store: MemoryStore | RedisStore | AllowList
        if self.mode == "allowlist":
            assert settings.persisted_queries_manifest is not None  # Settings refuses allowlist without one
            self.store = self.allow_list = AllowList(settings.persisted_queries_manifest)
        elif redis is not None:
            self.store = RedisStore(redis, f"{settings.broadcast_namespace}:apq", settings.apq_ttl)
        else:
            self.store = MemoryStore(settings.apq_cache_size)

    async def resolve(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its query; raises PersistedQueryError when it cannot run."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if persisted is None:
            if self.allow_list is not None and data.query is not None:
                self._check_listed(sha256_hex(data.query))
            return data
        if self.mode == "off":
            raise PersistedQueryError("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED", 200)
        digest = _digest(persisted)
        if data.query is None:
            query = await self.store.get(digest)
            if query is None:
                raise not_found()
            return dataclasses.replace(data, query=query)
        if sha256_hex(data.query) != digest:
            raise PersistedQueryError(
                "provided sha does not match query: extensions.persistedQuery.sha256Hash must be the hex "
                "SHA-256 of the UTF-8 query text",
                "BAD_REQUEST",
                400,
            )
        if isinstance(self.store, AllowList):
            self._check_listed(digest)
        else:
            await self.store.put(digest, data.query)
        return data

    def _check_listed(self, digest: str) -> None:
        assert self.allow_list is not None
        if digest not in self.allow_list.queries:
            raise PersistedQueryError(
                "the operation is not on this server's allow-list of persisted operations",
                "PERSISTED_QUERY_NOT_IN_LIST",
                403,
            )


def _digest(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise PersistedQueryError("extensions.persistedQuery must be an object", "BAD_REQUEST", 400)
    if persisted.get("version") != 1:
        raise PersistedQueryError(
            "Unsupported persisted query version: extensions.persistedQuery.version must be 1", "BAD_REQUEST", 400
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise PersistedQueryError(
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits", "BAD_REQUEST", 400
        )
    return digest
