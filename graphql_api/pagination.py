"""Keyset pagination over tortoise querysets, newest first, behind Relay connections.

A cursor encodes the (created_at, id) of an item; the next page is everything strictly before it in
that order. Unlike offsets, pages stay stable while rows are inserted, and every page costs one
indexed range query (plus one count).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from schema.common import Connection, Edge, PageInfo

from .errors import BadUserInput
from .settings import DEFAULT_PAGE_SIZE

T = TypeVar("T")
M = TypeVar("M")


def encode_cursor(created_at: datetime, pk: object) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), pk
    except (ValueError, UnicodeDecodeError):
        raise BadUserInput("after is not a cursor from this list", field="after") from None


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
) -> Connection[T]:
    size = page_size(first, cap)
    total = await queryset.count()
    page = queryset.order_by("-created_at", "-id")
    if after:
        stamp, pk = decode_cursor(after)
        page = page.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, id__lt=pk))
    rows: Sequence[Any] = await page.limit(size + 1)
    more = len(rows) > size
    rows = rows[:size]
    edges = [Edge(cursor=encode_cursor(r.created_at, r.id), node=convert(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


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
