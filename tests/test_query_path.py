"""The query path does per request only what the request needs: a document is parsed and validated once."""

from __future__ import annotations

from uuid import uuid4

from strawberry.extensions.validation_cache import _get_validate_cache

from graphql_api.client import GraphQLClient, GraphQLWSClient

# The size schema/__init__.py gives its ValidationCache: strawberry keeps one shared LRU per size.
VALIDATION_CACHE = _get_validate_cache(1024)


async def test_a_repeated_document_is_validated_once(api: GraphQLClient) -> None:
    query = f"query Repeated{uuid4().hex} {{ instruments {{ symbol }} }}"
    before = VALIDATION_CACHE.cache_info()
    answers = [await api.query(query) for _ in range(5)]
    after = VALIDATION_CACHE.cache_info()
    assert all(answer["instruments"] for answer in answers)
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 4)


async def test_a_subscription_validated_for_a_socket_is_still_refused_over_http(
    api: GraphQLClient, ws: GraphQLWSClient
) -> None:
    document = f'subscription Ticks{uuid4().hex} {{ priceTicks(symbols: ["BTC"]) {{ symbol }} }}'
    sub = await ws.subscribe(document)
    assert (await sub.data())["priceTicks"]["symbol"] == "BTC"
    await sub.stop()
    body = await api.execute(document)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "WebSocket" in body["errors"][0]["message"]
    assert body.get("data") is None
