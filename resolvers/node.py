"""`node(id:)`: refetch any Node by global ID through a registry each domain adds its Node types to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from graphql_api.context import Info
from graphql_api.pagination import from_global_id, parse_id
from schema.common import GlobalID, Node

NodeLoader = Callable[[Info, str], Awaitable[Node | None]]
_LOADERS: dict[str, NodeLoader] = {}
_NATURAL_KEYS: set[str] = set()
_TYPES: list[type] = []


def node_type(kind: str, type_: type, *, natural_key: bool = False) -> Callable[[NodeLoader], NodeLoader]:
    """Register how to load a ``kind`` (the global ID's type name) by primary key, under the same
    visibility rules as the domain's typed query: not visible is None, like not found. Keys are UUIDs,
    checked before the loader runs, unless ``natural_key`` (an instrument's symbol, say)."""

    def register(loader: NodeLoader) -> NodeLoader:
        _LOADERS[kind] = loader
        if natural_key:
            _NATURAL_KEYS.add(kind)
        _TYPES.append(type_)
        return loader

    return register


def node_types() -> list[type]:
    return list(_TYPES)


async def node(info: Info, id: GlobalID) -> Node | None:
    kind, key = from_global_id(id)
    loader = _LOADERS.get(kind)
    if loader is None:
        return None
    return await loader(info, key if kind in _NATURAL_KEYS else parse_id(id, kind))


@strawberry.type
class Query:
    node: Node | None = strawberry.field(
        resolver=node, description="Any object by global ID, if it exists and is visible to the caller."
    )
