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
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig

from graphql_api.errors import MaskInternalErrors, SubscriptionsOverWebSocketOnly
from graphql_api.scalars import SCALAR_MAP
from resolvers import identity, killswitch, market, node, orders, portfolio, positions, venues

if TYPE_CHECKING:
    from graphql_api.settings import Settings

# One line per domain, in the order their fields appear in the schema.
DOMAINS: list[ModuleType] = [market, node, identity, venues, orders, positions, portfolio, killswitch]


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
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        MaskInternalErrors,
        SubscriptionsOverWebSocketOnly,
        # Parsing is pure; validation is not cached because a rule depends on the transport (see errors.py).
        partial(ParserCache, maxsize=1024),
    ]
    suggestions = True
    if settings is not None:
        extensions += [
            partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
            partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
            partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
        ]
        if not settings.introspection:
            extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
        suggestions = settings.field_suggestions
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=node.node_types(),
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not suggestions, scalar_map=SCALAR_MAP),
    )


__all__ = ["Mutation", "Query", "Subscription", "build_schema"]
