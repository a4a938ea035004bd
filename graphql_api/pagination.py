"""Keyset pagination on any sort key, and global IDs.

A cursor encodes the whole sort key of an item (every ordering column's value, in order); the next page
is everything strictly after it in that order, whatever mix of ascending and descending columns the list
uses. Unlike offsets, pages stay stable while rows are inserted, and every page costs one indexed range
query (plus one count). The last ordering column must be unique (``id``) so the order is total.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
from tortoise import fields
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from .errors import BadUserInput
from .settings import DEFAULT_PAGE_SIZE

T = TypeVar("T")

NEWEST_FIRST = ("-created_at", "-id")


@dataclass
class Page(Generic[T]):
    """One page of a list: the items with their cursors, and where the page sits."""

    items: list[tuple[str, T]]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([_plain(v) for v in values])).decode()


def decode_cursor(cursor: str, model: Any, columns: Sequence[str]) -> list[Any]:
    """The sort key inside a cursor of this list, each value as its column's type."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError
        values = []
        for column, value in zip(columns, raw, strict=True):
            field = model._meta.fields_map[column]
            if isinstance(field, fields.DatetimeField):
                value = datetime.fromisoformat(value)
            elif isinstance(field, fields.DecimalField):
                value = Decimal(value)
            values.append(value)
        return values
    except (ValueError, TypeError, UnicodeDecodeError, orjson.JSONDecodeError):
        raise BadUserInput("after is not a cursor from this list", field="after") from None


def _after(columns: Sequence[tuple[str, bool]], values: Sequence[Any]) -> Q:
    """Rows strictly after ``values`` in the order: the first differing column decides."""
    alternatives = []
    for i, (column, descending) in enumerate(columns):
        equal = {name: value for (name, _), value in zip(columns[:i], values[:i], strict=True)}
        beyond = {f"{column}__{'lt' if descending else 'gt'}": values[i]}
        alternatives.append(Q(**equal, **beyond))
    combined = alternatives[0]
    for alternative in alternatives[1:]:
        combined |= alternative
    return combined


def page_size(first: int | None, cap: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if first is None:
        return min(default, cap)
    if first < 0:
        raise BadUserInput("first must not be negative", field="first")
    if first > cap:
        raise BadUserInput(f"first may be at most {cap}", field="first")
    return first


async def paginate(
    queryset: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    cap: int,
    convert: Callable[[Any], T],
    order: Sequence[str] = NEWEST_FIRST,
) -> Page[T]:
    """A page of ``queryset`` in ``order`` (tortoise notation, ``-`` for descending), after a cursor."""
    size = page_size(first, cap)
    columns = [(key.lstrip("-"), key.startswith("-")) for key in order]
    total = await queryset.count()
    page = queryset.order_by(*order)
    if after:
        page = page.filter(_after(columns, decode_cursor(after, queryset.model, [c for c, _ in columns])))
    rows: Sequence[Any] = await page.limit(size + 1)
    more = len(rows) > size
    items = [(encode_cursor([getattr(r, c) for c, _ in columns]), convert(r)) for r in rows[:size]]
    return Page(items=items, has_next_page=more, has_previous_page=after is not None, total_count=total)


def to_global_id(type_name: str, pk: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, str]:
    padded = global_id + "=" * (-len(global_id) % 4)
    try:
        type_name, pk = base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput("id is not a global ID of this API", field="id") from None
    return type_name, pk


def parse_id(global_id: str, expected: str, field: str = "id") -> str:
    """The primary key inside a global ID of type ``expected`` (UUID keys), or BAD_USER_INPUT naming ``field``."""
    kind, pk = from_global_id(global_id)
    if kind != expected:
        raise BadUserInput(f"{field} is not a {expected} ID", field=field)
    try:
        uuid.UUID(pk)
    except ValueError:
        raise BadUserInput(f"{field} is not a {expected} ID", field=field) from None
    return pk
