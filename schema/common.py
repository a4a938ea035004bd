"""Shapes every domain shares: the UserError interface, Node, and Relay connections."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from graphql_api.pagination import Page

T = TypeVar("T")


@strawberry.interface(
    description="An expected failure the caller can act on, returned as a member of a mutation's result union."
)
class UserError:
    message: str = strawberry.field(description="What went wrong, for people.")
    code: str = strawberry.field(description="A stable machine-readable code, e.g. INVALID_INPUT.")
    field: str | None = strawberry.field(description="The input field at fault (camelCase path), if any.")


@strawberry.type(description="An input value was rejected; `field` names it.")
class InvalidInput(UserError):
    pass


@strawberry.type(description="The object does not exist, or is not visible to the caller.")
class NotFound(UserError):
    pass


@strawberry.type(description="The action conflicts with something that already exists; `message` says what.")
class Conflict(UserError):
    pass


@strawberry.interface(description="An object with a global ID that `node(id:)` can refetch.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global identifier.")


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="Items precede the first edge (true after a cursor).")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge; pass it as `after`.")


@strawberry.type(description="One item of a page with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item; pass it as `after`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style: edges, pageInfo and the total count.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int = strawberry.field(description="Number of items in the whole filtered list.")

    @classmethod
    def of(cls, page: Page[T]) -> Connection[T]:
        edges = [Edge(cursor=cursor, node=node) for cursor, node in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )


def invalid(message: str, field: str | None = None, code: str = "INVALID_INPUT") -> InvalidInput:
    return InvalidInput(message=message, code=code, field=field)


First = Annotated[int | None, strawberry.argument(description="Page size (default 20, at most the server's cap).")]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor (endCursor).")]
GlobalID = Annotated[strawberry.ID, strawberry.argument(description="Global ID of the object.")]


def enum_from(model_enum: type[Enum], description: str, values: dict[str, str], *, name: str | None = None) -> Any:
    """The GraphQL enum of a model enum, written once: the model's names and values, with a description of
    every value here (a value added to the model without one fails at import, not in production)."""
    if set(values) != {member.name for member in model_enum}:
        raise TypeError(f"{model_enum.__name__}: describe exactly its values {[m.name for m in model_enum]}")
    members = {m.name: strawberry.enum_value(m.value, description=values[m.name]) for m in model_enum}
    generated: Any = Enum(name or model_enum.__name__, members)  # type: ignore[misc]
    return strawberry.enum(generated, description=description)
