"""HTTP caching of GraphQL GET responses, from cache hints declared in the schema as Apollo's ``@cacheControl``.

A hint is declared on a type (``directives=[CacheControl(max_age=300)]`` on ``strawberry.type``: every field
returning it) or on a field, and printed in schema.graphql. The policy of an operation is computed from its
document before it runs, by Apollo's rules: a root field, or a field that returns an object, interface or union,
is uncacheable (max age 0) unless a hint on it or on its type says otherwise (``inheritMaxAge`` takes its parent's
instead); a scalar field restricts nothing; the operation's max age is the least of its fields', its scope
PRIVATE if any hint says so.

What a response then says (``http_headers``):

- a GET by an anonymous caller, whose operation's policy is PUBLIC with a max age and whose response has no
  error: ``Cache-Control: public, max-age=N``, a strong ``ETag`` of the body, ``Vary: Accept``; an
  ``If-None-Match`` naming that ETag is answered 304 without a body;
- a signed-in caller, or an operation with a PRIVATE hint: ``private, no-store``;
- anything else: ``no-store``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema_directive import Location
from strawberry.types.unset import UNSET

NO_STORE = "no-store"
PRIVATE_NO_STORE = "private, no-store"


@strawberry.enum(description="Who may cache a response: any cache (PUBLIC) or only the caller's own (PRIVATE).")
class CacheControlScope(Enum):
    PUBLIC = strawberry.enum_value("PUBLIC", description="Shared caches (CDNs, proxies) may keep it.")
    PRIVATE = strawberry.enum_value("PRIVATE", description="Only the caller's own cache may keep it.")


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT, Location.INTERFACE, Location.UNION],
    name="cacheControl",
    description="How long a GET response that selects this field (or a field of this type) may be cached, "
    "as Apollo's @cacheControl: the response's policy is the strictest of its fields'.",
)
class CacheControl:
    max_age: int | None = strawberry.directive_field(name="maxAge", default=UNSET)
    scope: CacheControlScope | None = strawberry.directive_field(name="scope", default=UNSET)
    inherit_max_age: bool | None = strawberry.directive_field(name="inheritMaxAge", default=UNSET)


@dataclass(frozen=True)
class Policy:
    max_age: int
    private: bool

    @property
    def cacheable(self) -> bool:
        return self.max_age > 0 and not self.private


def _hint(definition: Any) -> CacheControl | None:
    strawberry_definition = (getattr(definition, "extensions", None) or {}).get("strawberry-definition")
    for directive in getattr(strawberry_definition, "directives", None) or ():
        if isinstance(directive, CacheControl):
            return directive
    return None


class _Walk:
    """The policy of one operation: one pass over its selections, each fragment walked once per parent age."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.max_age: int | None = None
        self.private = False
        self._seen: set[tuple[str, int | None]] = set()

    def restrict(self, age: int) -> None:
        self.max_age = age if self.max_age is None else min(self.max_age, age)

    def selection_set(self, node: SelectionSetNode, parent: GraphQLNamedType | None, age: int | None) -> None:
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, age)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.selection_set(selection.selection_set, target, age)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                key = (selection.name.value, age)
                if fragment is None or key in self._seen:
                    continue
                self._seen.add(key)
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.selection_set(fragment.selection_set, target, age)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, parent_age: int | None) -> None:
        definition: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        if definition is None:
            return  # __typename, introspection, or a field validation refuses
        named = get_named_type(definition.type)
        composite = isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)
        hint = _hint(definition) or (_hint(named) if composite else None)
        if hint is not None and hint.scope is CacheControlScope.PRIVATE:
            self.private = True
        age: int | None = None  # a scalar without a hint: its parent's age, no restriction of its own
        if hint is not None and isinstance(hint.max_age, int):
            age = hint.max_age
        elif hint is not None and hint.inherit_max_age is True and parent_age is not None:
            age = parent_age
        elif composite or parent_age is None:
            age = 0  # a root field, or an object without a hint
        if age is not None:
            self.restrict(age)
        if node.selection_set is not None:
            self.selection_set(node.selection_set, named, age if age is not None else parent_age)


def operation_policy(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Policy:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        selected = operations[0] if len(operations) == 1 else None
    else:
        selected = next((op for op in operations if op.name and op.name.value == operation_name), None)
    if selected is None or selected.operation != OperationType.QUERY or schema.query_type is None:
        return Policy(0, False)
    walk = _Walk(schema, document)
    walk.selection_set(selected.selection_set, schema.query_type, None)
    return Policy(walk.max_age or 0, walk.private)


class CachePolicy(SchemaExtension):
    """Records the operation's policy on the context (``cache_policy``) for the view's response headers."""

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.pre_execution_errors and hasattr(context.context, "cache_policy"):
            context.context.cache_policy = operation_policy(context.schema._schema, document, context.operation_name)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, as RFC 9110 asks for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
