"""Document limits: refused before execution, in time linear in the document, with a code and a cost."""

from __future__ import annotations

import time

from graphql import get_introspection_query

from graphql_api.client import GraphQLClient

from .support import ServerHandle


def _doubling_fragments(levels: int, leaf: str) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice, …: 2^levels paths in a document a few hundred bytes long."""
    lines = ["query Doubling { ...F0 }"]
    lines += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    lines.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "\n".join(lines)


async def test_doubling_fragments_are_measured_in_linear_time(api: GraphQLClient) -> None:
    # 21 levels stalled the process for 12 s when each path was walked (every level doubles it).
    for levels in (21, 25):
        started = time.monotonic()
        body = await api.execute(_doubling_fragments(levels, "instruments { symbol }"))
        elapsed = time.monotonic() - started
        assert "errors" not in body, body.get("errors")
        assert body["data"]["instruments"][0]["symbol"] == "BTC"
        # instruments: a list without a size argument counts DEFAULT_LIST_SIZE (20) objects of cost 1; the
        # fragments merge into one selection, so the cost is that of one `instruments`.
        assert body["extensions"]["cost"] == {"requested": 20, "limit": 10_000}
        assert elapsed < 1.0, f"{levels} levels took {elapsed:.2f}s"


async def test_doubling_fragments_over_the_depth_limit_are_refused_at_once(
    api: GraphQLClient, server: ServerHandle
) -> None:
    limit = server.settings.max_query_depth
    # The depth sits in the leaf fragment, behind 25 doubling levels: each fragment is measured once.
    nested = '__type(name: "Query") { ' + "ofType { " * limit + "name" + " }" * limit + " }"
    started = time.monotonic()
    body = await api.execute(_doubling_fragments(25, f'instrument(symbol: "BTC") {{ symbol }} {nested}'))
    assert time.monotonic() - started < 1.0
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["DEPTH_LIMIT_EXCEEDED"]
    assert body["errors"][0]["message"] == f"'Doubling' exceeds maximum operation depth of {limit}"


async def test_depth_limit_applies_to_introspection(api: GraphQLClient, server: ServerHandle) -> None:
    deep = "{ __schema { types { " + "ofType { " * 100 + "name" + " }" * 100 + " } } }"
    started = time.monotonic()
    body = await api.execute(deep)
    assert time.monotonic() - started < 1.0
    assert body.get("data") is None
    assert body["errors"][0]["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "limit": server.settings.max_query_depth}
    # GraphiQL's and codegen's own introspection query (15 levels, with every optional part) still fits.
    full = get_introspection_query(
        descriptions=True, specified_by_url=True, directive_is_repeatable=True, input_value_deprecation=True
    )
    data = await api.query(full)
    assert data["__schema"]["queryType"]["name"] == "Query"


_CANDLES = 'candles(symbol: "BTC", interval: ONE_MINUTE, limit: 1500) { open close }'


async def test_thirty_aliases_of_big_candle_lists_are_refused_by_cost(api: GraphQLClient) -> None:
    aliases = " ".join(f"c{i}: {_CANDLES}" for i in range(30))
    started = time.monotonic()
    body = await api.execute(f"{{ {aliases} }}")
    assert time.monotonic() - started < 1.0
    # 30 lists of 1500 candles, each candle an object of cost 1: 45,000 against the budget of 10,000.
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": {"requested": 45_000, "limit": 10_000}}
    assert body["extensions"]["cost"] == {"requested": 45_000, "limit": 10_000}


async def test_cost_counts_sizes_from_arguments_defaults_and_variables(api: GraphQLClient) -> None:
    one = await api.execute(f"{{ {_CANDLES} }}")
    assert one["extensions"]["cost"]["requested"] == 1500
    assert len(one["data"]["candles"]) == 1500
    # `limit` omitted: its declared default (500) sizes the list.
    default = await api.execute('{ candles(symbol: "BTC", interval: ONE_HOUR) { open } }')
    assert default["extensions"]["cost"]["requested"] == 500
    # From a variable; 10,001 candles cost 10,001 > 10,000 and nothing runs.
    query = 'query($n: Int!) { candles(symbol: "BTC", interval: ONE_HOUR, limit: $n) { open } }'
    refused = await api.execute(query, {"n": 10_001})
    assert refused["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert refused["extensions"]["cost"] == {"requested": 10_001, "limit": 10_000}
    # A connection's `first` multiplies its edges: the connection 1, then 50 × (edge 1 + order 1 + fills:
    # a list without a size argument, 20 × 1) = 1 + 50 × 22 = 1101. Priced before the permission check.
    orders = await api.execute("{ orders(first: 50) { edges { node { id fills { price } } } totalCount } }")
    assert orders["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert orders["extensions"]["cost"]["requested"] == 1101
    # `first` omitted: the page default of 20 → 1 + 20 × 2 = 41.
    page = await api.execute("{ orders { edges { node { id } } } }")
    assert page["extensions"]["cost"]["requested"] == 41
    # One price per symbol asked: 3 objects.
    prices = await api.execute('{ prices(symbols: ["BTC", "ETH", "SOL"]) { price } }')
    assert prices["extensions"]["cost"]["requested"] == 3


async def test_alias_and_token_refusals_carry_codes(api: GraphQLClient, server: ServerHandle) -> None:
    aliases = " ".join(f"a{i}: instruments {{ symbol }}" for i in range(server.settings.max_aliases + 1))
    body = await api.execute(f"{{ {aliases} }}")
    assert body["errors"][0]["extensions"] == {"code": "ALIAS_LIMIT_EXCEEDED", "limit": server.settings.max_aliases}
    tokens = "{ " + " ".join("instruments { symbol }" for _ in range(server.settings.max_tokens // 3)) + " }"
    body = await api.execute(tokens)
    assert body["errors"][0]["extensions"] == {"code": "TOKEN_LIMIT_EXCEEDED", "limit": server.settings.max_tokens}
