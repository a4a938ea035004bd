"""`node(id:)`: refetch any Node by global ID through a registry each domain adds its Node types to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from graphql_api.context import Info
from graphql_api.pagination import from_global_id, parse_id
from schema.common import GlobalID, Node

NodeLoader = Callable[[Info, str], Awaitable[Node | None]]
_LOADERS: dict[str, NodeLoader] = {}
_TYPES: list[type] = []


def node_type(kind: str, type_: type) -> Callable[[NodeLoader], NodeLoader]:
    """Register how to load a ``kind`` (the global ID's type name) by primary key, under the same
    visibility rules as the domain's typed query: not visible is None, like not found."""

    def register(loader: NodeLoader) -> NodeLoader:
        _LOADERS[kind] = loader
        _TYPES.append(type_)
        return loader

    return register


def node_types() -> list[type]:
    return list(_TYPES)


async def node(info: Info, id: GlobalID) -> Node | None:
    kind, _ = from_global_id(id)
    loader = _LOADERS.get(kind)
    if loader is None:
        return None
    return await loader(info, parse_id(id, kind))


@strawberry.type
class Query:
    node: Node | None = strawberry.field(
        resolver=node, description="Any object by global ID, if it exists and is visible to the caller."
    )
