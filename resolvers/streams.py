"""What every trading subscription shares: whose events a subscriber may receive."""

from __future__ import annotations

import strawberry

from graphql_api.context import Info
from graphql_api.errors import BadUserInput
from graphql_api.ownership import load_owned
from graphql_api.pagination import parse_id
from graphql_api.permissions import target_user
from models.venues import VenueAccount

from .results import actor


async def subscriber_scope(
    info: Info, user_id: strawberry.ID | None, venue_account_id: strawberry.ID | None
) -> tuple[str, str | None]:
    """(owner, account) of a stream: the caller's own data, or (admins) another user's; an account filter
    must name an account the subscriber may see, through the same ownership rule as every read."""
    owner = target_user(info, user_id)
    if venue_account_id is None:
        return owner, None
    pk = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    row = await load_owned(VenueAccount, pk, actor(info))
    if row is None or (user_id is not None and str(row.user_id) != owner):
        raise BadUserInput("venueAccountId does not name one of the subscriber's accounts", field="venueAccountId")
    return str(row.user_id), pk
