"""`node(id:)`: refetch any Node by global ID, under the same visibility rules as the typed queries."""

from __future__ import annotations

from graphql_api.context import Info
from graphql_api.pagination import from_global_id, parse_id
from graphql_api.permissions import ensure_owner, require_principal
from models.identity import Session as SessionRow
from models.identity import User
from models.venues import VenueAccount
from schema.common import GlobalID, Node
from schema.identity import Session
from schema.identity import User as UserType
from schema.trading import VenueAccount as VenueAccountType

from . import orders, portfolio


async def node(info: Info, id: GlobalID) -> Node | None:
    kind, _ = from_global_id(id)
    if kind == "User":
        user = await User.get_or_none(id=parse_id(id, "User"))
        if user is None:
            return None
        ensure_owner(info, user.id)
        return UserType.from_model(user)
    if kind == "Session":
        session = await SessionRow.get_or_none(id=parse_id(id, "Session"))
        if session is None:
            return None
        ensure_owner(info, session.user_id)
        return Session.from_model(session, require_principal(info.context).session_id)
    if kind == "VenueAccount":
        account = await VenueAccount.get_or_none(id=parse_id(id, "VenueAccount"))
        if account is None:
            return None
        ensure_owner(info, account.user_id)
        return VenueAccountType.from_model(account)
    if kind == "Order":
        return await orders.order(info, id)
    if kind == "Position":
        return await portfolio.position_node(info, parse_id(id, "Position"))
    return None
