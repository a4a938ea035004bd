"""The composition root: Query, Mutation and Subscription merged from each domain's pieces.

A domain is a set of modules of one name (models/, schema/, resolvers/, graphql_api/services/); its
resolvers module exports its ``Query`` / ``Mutation`` / ``Subscription`` classes (fields, permissions,
descriptions) and registers its Node types. Adding a domain is one line in ``DOMAINS``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from graphql_api.cachecontrol import CachePolicy
from graphql_api.errors import ApiSchema, MaskInternalErrors, SubscriptionsOverStreamsOnly
from graphql_api.inputs import CheckArgumentValues, CheckVariableValues
from graphql_api.limits import CachedValidation, DocumentLimits
from graphql_api.metrics import OperationMetrics
from graphql_api.ratelimit import default_category
from graphql_api.scalars import SCALAR_MAP
from resolvers import (
    agents,
    alerts,
    apikeys,
    audit,
    bots,
    compliance,
    funds,
    identity,
    indicators,
    killswitch,
    leaderboard,
    market,
    monitoring,
    node,
    orders,
    perps,
    portfolio,
    positions,
    preferences,
    reconciliation,
    referrals,
    routing,
    strategies,
    trading_sessions,
    vaults,
    venues,
)

if TYPE_CHECKING:
    from graphql_api.settings import Settings

# One line per domain, in the order their fields appear in the schema.
DOMAINS: list[ModuleType] = [
    market,
    node,
    identity,
    venues,
    orders,
    routing,
    positions,
    portfolio,
    killswitch,
    indicators,
    compliance,
    perps,
    funds,
    alerts,
    leaderboard,
    referrals,
    strategies,
    bots,
    vaults,
    agents,
    reconciliation,
    trading_sessions,
    preferences,
    audit,
    monitoring,
    apikeys,
]


def _root(kind: str, description: str) -> type:
    """One root type from every domain's piece of that kind (a domain may have none)."""
    pieces = [getattr(domain, kind) for domain in DOMAINS if hasattr(domain, kind)]
    # Strawberry collects inherited fields in base order: the schema lists them in the DOMAINS order.
    return strawberry.type(type(kind, tuple(pieces), {}), description=description)


Query = _root("Query", "Read-only entry points.")
Mutation = _root("Mutation", "State-changing entry points. Expected failures are members of each result union.")
Subscription = _root("Subscription", "Live streams over graphql-transport-ws.")


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the document limits of ``settings``; with none, the limits do not apply (SDL export)."""
    # Factories, not instances: strawberry builds extensions per operation and some keep per-operation state.
    suggestions = settings is None or settings.field_suggestions
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = []
    if settings is not None and settings.metrics:
        extensions.append(OperationMetrics)  # first: its exit runs last, after errors are masked and coded
    if settings is not None and settings.tracing:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.append(OpenTelemetryExtension)
    extensions += [
        partial(MaskInternalErrors, suggestions=suggestions),
        SubscriptionsOverStreamsOnly,
        partial(CheckArgumentValues, suggestions=suggestions),
    ]
    if settings is None:
        extensions.append(partial(ParserCache, maxsize=1024))
    else:
        # Parses (cached) and refuses documents over the token, alias, depth or cost limits in one linear
        # pass, before validation.
        extensions.append(partial(DocumentLimits, settings))
        if not settings.introspection:
            extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    # After the extensions that add rules: validation is cached per (parsed document — one object per query
    # text, from the parse cache — and rule set); the transport's extra rule (SubscriptionsOverStreamsOnly)
    # makes plain HTTP and streams two entries, each validated once. The request's variables are checked after.
    extensions.append(partial(CachedValidation, maxsize=1024))
    extensions.append(CachePolicy)
    extensions.append(partial(CheckVariableValues, suggestions=suggestions))
    default_category(Query, Mutation)
    return ApiSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=node.node_types(),
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=not suggestions,
            scalar_map=SCALAR_MAP,
            # A JSON array of operations (Apollo's BatchHttpLink); the view caps it with a clearer message.
            batching_config={"max_operations": settings.max_batch_size if settings else 10},
        ),
    )


def possible_types_json() -> str:
    """Apollo InMemoryCache's ``possibleTypes``: each union and interface with the object types it may be, as
    JSON (sorted, so the committed file only changes when the schema does)."""
    import orjson
    from graphql import GraphQLInterfaceType, GraphQLUnionType

    schema = build_schema()._schema
    abstract = [t for t in schema.type_map.values() if isinstance(t, GraphQLUnionType | GraphQLInterfaceType)]
    possible = {
        t.name: sorted(p.name for p in schema.get_possible_types(t)) for t in abstract if not t.name.startswith("__")
    }
    return orjson.dumps(possible, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


__all__ = ["Mutation", "Query", "Subscription", "build_schema", "possible_types_json"]
