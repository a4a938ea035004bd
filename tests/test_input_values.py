"""Argument values are checked at the schema edge: a bad scalar or an oversized string is BAD_USER_INPUT
naming the argument, the same inline as in a variable, and nothing unbounded reaches a resolver or a log."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType

from graphql_api.client import GraphQLClient
from graphql_api.inputs import MAX_LENGTH
from graphql_api.logbounds import BoundedRecords
from schema import build_schema

from .support import LegConfig, migrate, production_sqlite_env, spawn_servers

ORDER = 'venueAccountId: "VmVudWVBY2NvdW50OjE", symbol: "BTC", side: BUY, type: MARKET'


def _only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    return {"message": error["message"], "extensions": error["extensions"]}


@pytest.mark.parametrize(
    ("inline", "with_variable", "variables", "expected"),
    [
        (
            f'mutation {{ placeOrder(input: {{{ORDER}, quantity: "abc"}}) {{ __typename }} }}',
            f"mutation($q: Decimal!) {{ placeOrder(input: {{{ORDER}, quantity: $q}}) {{ __typename }} }}",
            {"q": "abc"},
            {"message": "input.quantity: 'abc' is not a decimal number", "field": "input.quantity"},
        ),
        (
            '{ candles(symbol: "BTC", interval: ONE_MINUTE, from: "now") { open } }',
            'query($f: DateTime) { candles(symbol: "BTC", interval: ONE_MINUTE, from: $f) { open } }',
            {"f": "now"},
            {
                "message": "from: 'now' is not an ISO-8601 date-time; a DateTime is an ISO-8601 string with an "
                'offset, e.g. "2026-01-31T12:00:00Z"',
                "field": "from",
            },
        ),
        (
            '{ candles(symbol: "BTC", interval: ONE_MINUTE, from: "9999-12-31T23:59:59Z") { open } }',
            'query($f: DateTime) { candles(symbol: "BTC", interval: ONE_MINUTE, from: $f) { open } }',
            {"f": "9999-12-31T23:59:59Z"},
            {
                "message": "from: '9999-12-31T23:59:59Z' is out of range: a DateTime lies in the years 1970 to 2999",
                "field": "from",
            },
        ),
    ],
    ids=["decimal", "datetime", "datetime-range"],
)
async def test_a_bad_scalar_is_the_same_bad_user_input_inline_and_as_a_variable(
    api: GraphQLClient,
    caplog: pytest.LogCaptureFixture,
    inline: str,
    with_variable: str,
    variables: dict[str, Any],
    expected: dict[str, str],
) -> None:
    want = {"message": expected["message"], "extensions": {"code": "BAD_USER_INPUT", "field": expected["field"]}}
    with caplog.at_level(logging.INFO):
        assert _only_error(await api.execute(inline)) == want
        assert _only_error(await api.execute(with_variable, variables)) == want
    # The caller's mistake is answered, not logged as a failure (no traceback, no ERROR).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


ORDER_WITH_SYMBOL_VARIABLE = ORDER.replace('"BTC"', "$s")
SYMBOL_DOCUMENTS = [
    ("{ instrument(symbol: $s) { symbol } }", "symbol"),
    ("{ price(symbol: $s) { price } }", "symbol"),
    ('{ prices(symbols: ["BTC", $s]) { price } }', "symbols[1]"),
    ("{ candles(symbol: $s, interval: ONE_MINUTE) { open } }", "symbol"),
    ("{ ticker(symbol: $s) { lastPrice } }", "symbol"),
    ("{ orderBook(symbol: $s) { symbol } }", "symbol"),
    ("{ orders(filter: {symbol: $s}) { totalCount } }", "filter.symbol"),
    ("{ positions(filter: {symbol: $s}) { symbol } }", "filter.symbol"),
    ('mutation { sendTestOrder(venueAccountId: "x", symbol: $s) { __typename } }', "symbol"),
    (
        "mutation { placeOrder(input: {" + ORDER_WITH_SYMBOL_VARIABLE + ', quantity: "1"}) { __typename } }',
        "input.symbol",
    ),
]


@pytest.mark.parametrize(("document", "field"), SYMBOL_DOCUMENTS, ids=[f for _, f in SYMBOL_DOCUMENTS])
async def test_every_symbol_argument_is_bounded_by_its_column(api: GraphQLClient, document: str, field: str) -> None:
    """instruments.symbol is VARCHAR(32): 33 characters are refused at the edge (on PostgreSQL they used to
    reach the query and fail as an internal error), inline and as a variable alike."""
    want = {
        "message": f"{field}: at most 32 characters (got 33)",
        "extensions": {"code": "BAD_USER_INPUT", "field": field},
    }
    operation = "mutation" if document.startswith("mutation") else "query"
    body = document.removeprefix("mutation ")
    as_variable = f"{operation}($s: String!) {body}"
    inline = document.replace("$s", '"' + "A" * 33 + '"')
    assert _only_error(await api.execute(as_variable, {"s": "A" * 33})) == want
    assert _only_error(await api.execute(inline)) == want


async def test_a_string_at_its_limit_passes_the_edge(api: GraphQLClient) -> None:
    body = await api.execute("query($s: String!) { price(symbol: $s) { price } }", {"s": "A" * 32})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "unknown symbol(s) in symbol: " + "A" * 32


async def test_a_venue_key_and_an_undeclared_string_are_bounded(api: GraphQLClient) -> None:
    body = await api.execute(f'{{ venue(id: "{"v" * 33}") {{ name }} }}')
    assert _only_error(body) == {
        "message": "id: at most 32 characters (got 33)",
        "extensions": {"code": "BAD_USER_INPUT", "field": "id"},
    }
    # A plain String without a declared limit gets the default (1000 characters).
    body = await api.execute("query($a: String) { mySessions(after: $a) { totalCount } }", {"a": "c" * 1001})
    assert _only_error(body) == {
        "message": "after: at most 1000 characters (got 1001)",
        "extensions": {"code": "BAD_USER_INPUT", "field": "after"},
    }


def test_every_declared_length_names_an_argument_or_input_field_of_the_schema() -> None:
    schema = build_schema()._schema
    coordinates: set[str] = set()
    names: set[str] = set()
    for type_name, gtype in schema.type_map.items():
        if isinstance(gtype, GraphQLObjectType):
            for field_name, field in gtype.fields.items():
                coordinates.update(f"{type_name}.{field_name}({a}:)" for a in field.args)
                names.update(field.args)
        elif isinstance(gtype, GraphQLInputObjectType):
            coordinates.update(f"{type_name}.{f}" for f in gtype.fields)
            names.update(gtype.fields)
    assert sorted(key for key in MAX_LENGTH if key not in coordinates | names) == []


@pytest.mark.legs("sqlite")
async def test_a_huge_argument_is_refused_without_being_written_to_the_log(leg: LegConfig, tmp_path: Path) -> None:
    env = leg.env(DATABASE_URL=f"sqlite://{tmp_path / 'log.sqlite3'}", DATA_DIR=str(tmp_path))
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready(timeout=120)
        before = proc.log_path.stat().st_size
        huge = "A" * 900_000
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                proc.url + "/graphql",
                json={"query": "query($s: String!) { price(symbol: $s) { price } }", "variables": {"s": huge}},
            )
        assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "symbol"}
        assert (await proc.ready()) is not None  # the process answers, and has flushed what it logged
        assert proc.log_path.stat().st_size - before < 2_000


def test_log_records_are_bounded_whatever_they_quote() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(BoundedRecords())
    logger = logging.getLogger("tests.logbounds")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        value = "x" * 900_000
        logger.warning("argument was %s", value)
        try:
            raise ValueError(f"bad value {value}")
        except ValueError:
            logger.exception("failed on %s", value)
    finally:
        logger.removeHandler(handler)
    assert [len(line) < 20_000 for line in lines] == [True, True]
    assert lines[0].startswith("argument was xxx") and "characters cut" in lines[0]
    assert lines[1].startswith("failed on xxx") and "\nTraceback (most recent call last):\n" in lines[1]
    assert re.search(r"\nValueError: bad value x+\n… \[\d+ characters cut\] …\nx+$", lines[1])


SUGGESTING = [
    ('{ price(symbl: "BTC") { price } }', "symbol"),  # argument
    ('{ candles(symbol: "BTC", interval: ONE_MINUTES) { open } }', "ONE_MINUTE"),  # enum value
    ("query($s: Sid) { __typename }", "Side"),  # type
    (
        f'mutation {{ placeOrder(input: {{{ORDER}, quantity: "1", clientOrderIdd: "x"}}) {{ __typename }} }}',
        "clientOrderId",
    ),  # input field
    ("{ instrumentz { symbol } }", "instruments"),  # field
]


async def test_development_mode_suggests_schema_names(api: GraphQLClient) -> None:
    for document, name in SUGGESTING:
        messages = [e["message"] for e in (await api.execute(document))["errors"]]
        assert any("Did you mean" in m and f"'{name}'" in m for m in messages), (document, messages)


async def test_production_mode_suggests_no_schema_names(tmp_path: Path) -> None:
    env = production_sqlite_env(tmp_path)
    migrate(env)
    async with spawn_servers([env], tmp_path) as (proc,), GraphQLClient(proc.url) as api:
        await proc.wait_ready(timeout=120)
        for document, name in SUGGESTING:
            messages = [e["message"] for e in (await api.execute(document))["errors"]]
            assert messages, document
            assert [m for m in messages if "Did you mean" in m or f"'{name}'" in m] == [], document
        # An enum value sent as a variable is checked the same way.
        body = await api.execute(
            'query($i: CandleInterval!) { candles(symbol: "BTC", interval: $i) { open } }', {"i": "ONE_MINUTES"}
        )
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert "ONE_MINUTE'" not in body["errors"][0]["message"]
