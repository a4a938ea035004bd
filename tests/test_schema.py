"""The schema is a contract: committed SDL matches the code, everything is described, limits hold."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    find_breaking_changes,
)
from graphql import build_schema as build_graphql_schema

from graphql_api.client import GraphQLClient
from schema import build_schema, possible_types_json

from .support import ServerHandle, migrate, production_sqlite_env, spawn_servers

REPO = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_the_code() -> None:
    exported = build_schema().as_str() + "\n"
    committed = (REPO / "schema.graphql").read_text()
    assert committed == exported, "schema.graphql drifted: run `python -m graphql_api export-schema` and commit it"


def test_every_public_type_field_and_argument_is_described() -> None:
    schema = build_schema()._schema
    missing: list[str] = []
    for name, gtype in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType):
            for fname, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{fname}")
                missing += [f"{name}.{fname}({a})" for a, arg in field.args.items() if not arg.description]
        elif isinstance(gtype, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in gtype.fields.items() if not field.description]
        elif isinstance(gtype, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in gtype.values.items() if not value.description]
    builtin = {"String", "Int", "Float", "Boolean", "ID"}
    assert [m for m in missing if m not in builtin] == []


async def test_depth_alias_and_token_limits(api: GraphQLClient, server: ServerHandle) -> None:
    aliases = " ".join(f"a{i}: instruments {{ symbol }}" for i in range(server.settings.max_aliases + 1))
    body = await api.execute(f"{{ {aliases} }}")
    assert "aliases" in body["errors"][0]["message"].lower()

    # Today's schema has no cycle deep enough to reach the limit with valid fields; the limiter reads the
    # document's shape before field validation matters, so nesting unknown fields is enough to reach it.
    depth = server.settings.max_query_depth
    nested = "query Deep { " + " ".join(f"f{i} {{" for i in range(depth + 1)) + " leaf" + " }" * (depth + 2)
    body = await api.execute(nested)
    assert f"'Deep' exceeds maximum operation depth of {depth}" in [e["message"] for e in body["errors"]]
    shallow = "query Shallow { " + " ".join(f"f{i} {{" for i in range(depth - 1)) + " leaf" + " }" * depth
    body = await api.execute(shallow)
    assert not [e for e in body["errors"] if "depth" in e["message"]]

    tokens = "{ " + " ".join("instruments { symbol }" for _ in range(server.settings.max_tokens // 3)) + " }"
    body = await api.execute(tokens)
    assert "token" in body["errors"][0]["message"].lower()


async def test_oversized_body_is_refused(server: ServerHandle) -> None:
    padding = "#" * (server.settings.max_body_bytes + 10)
    async with httpx.AsyncClient() as client:
        response = await client.post(server.url + "/graphql", json={"query": "{ instruments { symbol } }" + padding})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_production_mode_hides_introspection_suggestions_and_graphiql(tmp_path: Path) -> None:
    env = production_sqlite_env(tmp_path)
    migrate(env)
    async with spawn_servers([env], tmp_path) as (proc,):
        await proc.wait_ready()
        async with GraphQLClient(proc.url) as api:
            body = await api.execute("{ __schema { queryType { name } } }")
            assert "introspection" in body["errors"][0]["message"].lower()
            body = await api.execute("{ instrumentz { symbol } }")
            assert "Did you mean" not in body["errors"][0]["message"]
            page = await api.http.get("/graphql", headers={"Accept": "text/html"})
            assert "graphiql" not in page.text.lower()
            assert (await api.query("{ instruments { symbol } }"))["instruments"][0]["symbol"] == "BTC"


async def test_development_mode_serves_graphiql_and_suggestions(api: GraphQLClient) -> None:
    body = await api.execute("{ instrumentz { symbol } }")
    assert "Did you mean" in body["errors"][0]["message"]
    page = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_committed_possible_types_match_the_code() -> None:
    exported = orjson.loads(possible_types_json())
    committed = orjson.loads((REPO / "possibleTypes.json").read_text())
    assert committed == exported, "possibleTypes.json drifted: run `python -m graphql_api export-possible-types`"
    # Every member of every result union is listed, e.g. the UserError members the README's fragment reads.
    schema = build_schema()._schema
    user_errors = {
        t.name
        for t in schema.type_map.values()
        if isinstance(t, GraphQLObjectType) and "UserError" in {i.name for i in t.interfaces}
    }
    assert set(committed["UserError"]) == user_errors


def test_the_code_breaks_nothing_the_committed_schema_promised() -> None:
    committed = build_graphql_schema((REPO / "schema.graphql").read_text())
    breaking = find_breaking_changes(committed, build_schema()._schema)
    for change in breaking:
        print(f"BREAKING {change.type.name}: {change.description}")  # noqa: T201
    assert breaking == [], "a breaking change must be deliberate: re-export schema.graphql once it is"
