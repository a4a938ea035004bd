"""Keyset pagination on any sort key: walking pages of a list in a mixed ascending/descending order visits
every row once, in exactly the order of the whole list."""

from __future__ import annotations

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.errors import BadUserInput
from graphql_api.pagination import paginate
from models.audit import AuditEntry

from .accounts import register

pytestmark = pytest.mark.usefixtures("admin")


async def test_pages_follow_any_sort_key_without_gaps_or_repeats(api: GraphQLClient) -> None:
    for _ in range(3):
        await register(api)  # each sign-up writes audit rows with repeated action names
    query = AuditEntry.filter(action__in=["auth.register", "auth.login"])
    order = ("action", "-at", "id")
    whole = [row.id for row in await query.order_by(*order)]
    assert len(whole) >= 3
    walked: list[int] = []
    after = None
    while True:
        page = await paginate(query, first=2, after=after, cap=50, convert=lambda row: row.id, order=order)
        assert page.total_count == len(whole)
        walked += [item for _, item in page.items]
        if not page.has_next_page:
            break
        after = page.items[-1][0]
    assert walked == whole


async def test_a_cursor_of_another_list_is_refused(api: GraphQLClient) -> None:
    await register(api)
    query = AuditEntry.all()
    page = await paginate(query, first=1, after=None, cap=50, convert=lambda row: row.id, order=("-at", "-id"))
    foreign = page.items[0][0]  # a two-value sort key
    with pytest.raises(BadUserInput):
        await paginate(query, first=1, after=foreign, cap=50, convert=lambda row: row.id, order=("action", "-at", "id"))
