"""What Apollo Client's links expect of the server: automatic persisted queries (POST and GET, a store shared by
every process on the postgres leg and bounded in memory on the embedded one, an optional allow-list) and
batches (capped, each operation charged to the rate limits and the request's cost budget).

The leg's shared server answers the plain protocol; ``python -m graphql_api`` processes run the configurations
below (two of them sharing Redis on the postgres leg: a query registered on one runs on the other).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis import asyncio as aioredis

from graphql_api.client import GraphQLClient

from .accounts import Account, register, unique_email
from .support import (
    NAMESPACE,
    LegConfig,
    ServerHandle,
    ServerProcess,
    database_url_for,
    migrate,
    reset_postgres,
    spawn_servers,
)

CONFIGURED = {
    "RATE_LIMIT_WINDOW": "86400",  # one window for the whole run: no test straddles a window's end
    "RATE_LIMIT_MARKET_DATA": "2",
    "MAX_QUERY_COST": "3",
    "MAX_BATCH_SIZE": "3",
    "APQ_CACHE_SIZE": "2",
    "APQ_TTL": "600",
    "CORS_ORIGINS": "https://app.example",
}
LISTED = 'query Listed { instrument(symbol: "BTC") { symbol } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _address() -> dict[str, str]:
    """A client address of its own (trusted from loopback), so per-address limits of one test stay in it."""
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}


def _unique_query() -> str:
    """A query no store has seen: the operation's name makes its text, hence its hash, new."""
    return f'query Q{uuid.uuid4().hex} {{ instrument(symbol: "BTC") {{ symbol }} }}'


def _hashed(query: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256(query)}}


async def _post(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(url + "/graphql", json=body, headers=headers or _address())


async def _get(url: str, params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.get(url + "/graphql", params=params, headers=headers or _address())


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or ()]


NOT_FOUND = {
    "data": None,
    "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}],
}
BTC = {"instrument": {"symbol": "BTC"}}


@pytest.fixture(scope="module")
async def apollo_database(leg: LegConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    directory = tmp_path_factory.mktemp("apollo")
    if leg.is_postgres:
        url = database_url_for(leg.database_url, leg.database_url.rsplit("/", 1)[1] + "_apollo")
        await reset_postgres(url)
    else:
        url = f"sqlite://{directory / 'apollo.sqlite3'}"
    env = leg.env(DATABASE_URL=url, DATA_DIR=str(directory), BROADCAST_NAMESPACE=f"{NAMESPACE}-apollo")
    migrate(env)
    return url, directory


@pytest.fixture(scope="module")
async def configured(leg: LegConfig, apollo_database: tuple[str, Path]) -> AsyncIterator[list[ServerProcess]]:
    url, directory = apollo_database
    env = leg.env(DATABASE_URL=url, DATA_DIR=str(directory), BROADCAST_NAMESPACE=f"{NAMESPACE}-apollo", **CONFIGURED)
    async with spawn_servers([env] * (2 if leg.is_postgres else 1), directory) as procs:
        for proc in procs:
            await proc.wait_ready(timeout=90)
        async with GraphQLClient(procs[0].url, headers=_address()) as client:
            await register(client, unique_email("admin"))  # the first account is the ADMIN
        yield procs


@pytest.fixture(scope="module")
async def allowlisted(leg: LegConfig, apollo_database: tuple[str, Path]) -> AsyncIterator[ServerProcess]:
    url, directory = apollo_database
    manifest = directory / "persisted-query-manifest.json"
    operation = {"id": sha256(LISTED), "name": "Listed", "type": "query", "body": LISTED}
    manifest.write_bytes(
        orjson.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [operation]})
    )
    env = leg.env(
        DATABASE_URL=url,
        DATA_DIR=str(directory / "allowlist"),
        BROADCAST_NAMESPACE=f"{NAMESPACE}-apollo-list",
        PERSISTED_QUERIES="allowlist",
        PERSISTED_QUERIES_MANIFEST=str(manifest),
        FEED_ENABLED="false",
    )
    (directory / "allowlist").mkdir()
    async with spawn_servers([env], directory / "allowlist") as (proc,):
        await proc.wait_ready(timeout=90)
        yield proc


# --- Automatic persisted queries ------------------------------------------------------------------------------


async def test_apq_miss_register_hit_by_post(server: ServerHandle) -> None:
    query = _unique_query()
    miss = await _post(server.url, {"extensions": _hashed(query)})
    assert miss.status_code == 200  # Apollo's link retries a 200 miss with the query; a 400 would disable it
    assert miss.json() == NOT_FOUND
    assert miss.headers["cache-control"] == "private, no-cache, must-revalidate"

    registered = await _post(server.url, {"query": query, "extensions": _hashed(query)})
    assert registered.status_code == 200
    assert registered.json()["data"] == BTC

    hit = await _post(server.url, {"extensions": _hashed(query)})
    assert hit.status_code == 200
    assert hit.json()["data"] == BTC
    assert "errors" not in hit.json()


async def test_apq_by_get_with_variables(server: ServerHandle) -> None:
    query = f"query Q{uuid.uuid4().hex}($s: String!) {{ instrument(symbol: $s) {{ symbol }} }}"
    params = {"variables": '{"s": "ETH"}', "extensions": orjson.dumps(_hashed(query)).decode()}
    miss = await _get(server.url, params)
    assert (miss.status_code, miss.json()) == (200, NOT_FOUND)

    registered = await _post(server.url, {"query": query, "variables": {"s": "ETH"}, "extensions": _hashed(query)})
    assert registered.json()["data"] == {"instrument": {"symbol": "ETH"}}

    hit = await _get(server.url, params)
    assert hit.status_code == 200
    assert hit.json()["data"] == {"instrument": {"symbol": "ETH"}}


async def test_a_hash_that_is_not_the_querys_is_refused_and_not_registered(server: ServerHandle) -> None:
    query, other = _unique_query(), _unique_query()
    wrong = await _post(server.url, {"query": query, "extensions": _hashed(other)})
    assert wrong.status_code == 400
    error = wrong.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("provided sha does not match query")
    # Neither text was stored under the other's hash.
    assert (await _post(server.url, {"extensions": _hashed(other)})).json() == NOT_FOUND


async def test_only_version_1_of_the_protocol_is_spoken(server: ServerHandle) -> None:
    query = _unique_query()
    response = await _post(server.url, {"query": query, "extensions": _hashed(query, version=2)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("Unsupported persisted query version")


@pytest.mark.legs("postgres")
async def test_a_registered_query_runs_on_every_process_of_the_cluster(
    leg: LegConfig, configured: list[ServerProcess]
) -> None:
    query = _unique_query()
    first, second = configured
    assert (await _post(second.url, {"extensions": _hashed(query)})).json() == NOT_FOUND
    assert (await _post(first.url, {"query": query, "extensions": _hashed(query)})).json()["data"] == BTC
    assert (await _post(second.url, {"extensions": _hashed(query)})).json()["data"] == BTC
    # Kept in Redis for APQ_TTL seconds from its last use.
    redis = aioredis.Redis.from_url(leg.broadcast_url)
    try:
        key = f"{NAMESPACE}-apollo:apq:{sha256(query)}"
        assert (await redis.get(key)) == query.encode()
        assert 0 < await redis.ttl(key) <= int(CONFIGURED["APQ_TTL"])
    finally:
        await redis.aclose()


@pytest.mark.legs("sqlite")
async def test_the_in_memory_store_keeps_the_most_recently_used_queries(configured: list[ServerProcess]) -> None:
    (proc,) = configured
    a, b, c = _unique_query(), _unique_query(), _unique_query()
    for query in (a, b):
        assert (await _post(proc.url, {"query": query, "extensions": _hashed(query)})).json()["data"] == BTC
    assert (await _post(proc.url, {"extensions": _hashed(a)})).json()["data"] == BTC  # a is now the most recent
    assert (await _post(proc.url, {"query": c, "extensions": _hashed(c)})).json()["data"] == BTC  # APQ_CACHE_SIZE=2
    assert (await _post(proc.url, {"extensions": _hashed(b)})).json() == NOT_FOUND
    assert (await _post(proc.url, {"extensions": _hashed(a)})).json()["data"] == BTC
    assert (await _post(proc.url, {"extensions": _hashed(c)})).json()["data"] == BTC


async def test_allow_list_runs_only_the_manifests_operations(allowlisted: ServerProcess) -> None:
    url = allowlisted.url
    assert (await _post(url, {"extensions": _hashed(LISTED)})).json()["data"] == BTC
    assert (await _post(url, {"query": LISTED})).json()["data"] == BTC

    unlisted = _unique_query()
    refused = await _post(url, {"query": unlisted})
    assert refused.status_code == 403
    assert _codes(refused.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    # Apollo's link: a miss, then the query with its hash, which is refused and registers nothing.
    assert (await _post(url, {"extensions": _hashed(unlisted)})).json() == NOT_FOUND
    refused = await _post(url, {"query": unlisted, "extensions": _hashed(unlisted)})
    assert (refused.status_code, _codes(refused.json())) == (403, ["PERSISTED_QUERY_NOT_IN_LIST"])
    assert (await _post(url, {"extensions": _hashed(unlisted)})).json() == NOT_FOUND


# --- Batches ----------------------------------------------------------------------------------------------------


async def test_a_batch_answers_each_operation_in_order(server: ServerHandle) -> None:
    query = _unique_query()
    batch = [
        {"query": 'query A { instrument(symbol: "ETH") { symbol } }'},
        {"query": "query B($s: String!) { instrument(symbol: $s) { symbol } }", "variables": {"s": "SOL"}},
        {"extensions": _hashed(query)},
        {"query": query, "extensions": _hashed(query)},
        {"query": "{ nope }"},
    ]
    response = await _post(server.url, batch)
    assert response.status_code == 200
    results = response.json()
    assert [r.get("data") for r in results] == [
        {"instrument": {"symbol": "ETH"}},
        {"instrument": {"symbol": "SOL"}},
        None,
        BTC,
        None,
    ]
    assert [_codes(r) for r in results] == [[], [], ["PERSISTED_QUERY_NOT_FOUND"], [], ["GRAPHQL_VALIDATION_FAILED"]]


async def test_a_batch_over_the_cap_is_refused_whole(configured: list[ServerProcess]) -> None:
    operation = {"query": '{ instrument(symbol: "BTC") { symbol } }'}
    response = await _post(configured[0].url, [operation] * 4)
    assert response.status_code == 400
    assert "MAX_BATCH_SIZE" in response.json()["errors"][0]["message"]
    empty = await _post(configured[0].url, [])
    assert empty.status_code == 400


async def test_each_operation_of_a_batch_is_charged_to_the_rate_limit(configured: list[ServerProcess]) -> None:
    # Each operation costs 1 (one object; scalars are free) and calls one market-data field: three fit the
    # cost budget of 3, and the third is the one the limit of 2 market-data calls refuses.
    operation = {"query": '{ instrument(symbol: "BTC") { symbol } }'}
    results = (await _post(configured[-1].url, [operation] * 3)).json()
    assert [r["data"] for r in results] == [BTC, BTC, None]
    assert [_codes(r) for r in results] == [[], [], ["RATE_LIMITED"]]


async def test_a_batchs_operations_share_one_cost_budget(configured: list[ServerProcess]) -> None:
    # Two objects each: 2 fits the budget of 3, the second operation's 2 more do not.
    two = '{ a: instrument(symbol: "BTC") { symbol } b: instrument(symbol: "ETH") { symbol } }'
    results = (await _post(configured[0].url, [{"query": two}, {"query": two}])).json()
    assert results[0]["data"] == {"a": {"symbol": "BTC"}, "b": {"symbol": "ETH"}}
    assert results[1]["data"] is None
    assert _codes(results[1]) == ["COST_LIMIT_EXCEEDED"]
    assert results[1]["errors"][0]["extensions"]["cost"] == {"requested": 2, "batchSpent": 2, "limit": 3}


# --- HTTP caching of GET ------------------------------------------------------------------------------------------

INSTRUMENTS = "{ instruments { id symbol } }"


async def test_public_data_by_get_is_cacheable_with_an_etag_answering_304(server: ServerHandle) -> None:
    first = await _get(server.url, {"query": INSTRUMENTS})
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=300"  # Instrument's @cacheControl(maxAge: 300)
    etag = first.headers["etag"]
    assert etag == '"' + hashlib.sha256(first.content).hexdigest()[:32] + '"'
    assert first.headers["vary"] == "Accept"

    again = await _get(server.url, {"query": INSTRUMENTS}, {**_address(), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert (again.headers["etag"], again.headers["cache-control"]) == (etag, "public, max-age=300")

    other = await _get(server.url, {"query": INSTRUMENTS}, {**_address(), "If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == first.content


async def test_the_policy_is_the_strictest_of_the_fields(server: ServerHandle) -> None:
    both = await _get(server.url, {"query": '{ instruments { symbol } ticker(symbol: "BTC") { lastPrice } }'})
    assert both.headers["cache-control"] == "public, max-age=5"  # Ticker's 5 beats Instrument's 300
    venues = await _get(server.url, {"query": "{ venues { id name } }"})
    assert venues.headers["cache-control"] == "public, max-age=300"
    # A price has no hint: an object without one is not cacheable, and neither is the response.
    price = await _get(server.url, {"query": '{ instruments { symbol } price(symbol: "BTC") { price } }'})
    assert price.headers["cache-control"] == "no-store"
    assert "etag" not in price.headers


async def test_a_persisted_query_by_get_is_cacheable(server: ServerHandle) -> None:
    query = f"query Q{uuid.uuid4().hex} {{ venues {{ id }} }}"
    await _post(server.url, {"query": query, "extensions": _hashed(query)})
    hit = await _get(server.url, {"extensions": orjson.dumps(_hashed(query)).decode()})
    assert hit.headers["cache-control"] == "public, max-age=300"
    assert "etag" in hit.headers


async def test_authenticated_and_failed_responses_are_never_stored(server: ServerHandle, trader: Account) -> None:
    signed_in = await _get(server.url, {"query": INSTRUMENTS}, {**_address(), **trader.headers})
    assert signed_in.status_code == 200
    assert signed_in.headers["cache-control"] == "private, no-store"
    assert "etag" not in signed_in.headers
    by_post = await _post(server.url, {"query": INSTRUMENTS}, {**_address(), **trader.headers})
    assert by_post.headers["cache-control"] == "private, no-store"
    failed = await _get(server.url, {"query": '{ instruments { symbol } instrument(symbol: "NOPE") { symbol } }'})
    assert failed.json()["errors"]
    assert failed.headers["cache-control"] == "no-store"


# --- CORS ---------------------------------------------------------------------------------------------------------


async def test_preflight_allows_apollo_and_trace_context_headers(configured: list[ServerProcess]) -> None:
    asked = "apollographql-client-name, apollographql-client-version, traceparent, tracestate, content-type"
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked,
    }
    async with httpx.AsyncClient() as client:
        response = await client.options(configured[0].url + "/graphql", headers=headers)
        refused = await client.options(
            configured[0].url + "/graphql", headers={**headers, "Origin": "https://elsewhere.example"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in asked.split(",")} <= allowed
    assert refused.status_code == 400
