"""Positions: the Query / Mutation / Subscription fields of the positions domain (actions in
graphql_api/services/positions.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry

from graphql_api import fanout
from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.engine.equity import marks_by_symbol
from graphql_api.events import channel_for, decode
from graphql_api.events.market import PriceTicked
from graphql_api.events.positions import PositionChanged
from graphql_api.ownership import load_owned
from graphql_api.pagination import parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader, target_user
from graphql_api.pubsub import BusEvent
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import positions as actions
from models.market import Instrument
from models.positions import Position as PositionRow
from schema.common import GlobalID
from schema.orders import Order
from schema.positions import (
    CloseAllResult,
    ClosePositionResult,
    Position,
    PositionFilter,
    PositionsClosed,
    PositionUpdate,
)

from .node import node_type
from .orders import placed
from .results import actor, audited, result
from .streams import subscriber_scope

_HUNDRED = Decimal(100)
# Events within this window are folded into one recomputation (a feed tick publishes every symbol at once).
_COALESCE_SECONDS = 0.05


def position_view(row: PositionRow, mark: Decimal) -> Position:
    value = row.quantity * mark
    basis = row.quantity * row.average_entry_price
    unrealized = value - basis
    return Position(
        id=strawberry.ID(to_global_id("Position", row.id)),
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
        symbol=row.symbol,
        quantity=row.quantity,
        available_quantity=row.quantity - row.reserved_quantity,
        average_entry_price=row.average_entry_price,
        mark_price=mark,
        market_value=value,
        cost_basis=basis,
        unrealized_pnl=unrealized,
        unrealized_pnl_percent=(unrealized / basis * _HUNDRED).quantize(Decimal("0.0001")) if basis else Decimal(0),
        realized_pnl=row.realized_pnl,
        fees=row.fees,
        updated_at=row.updated_at,
    )


async def _positions(owner: str, account: str | None, symbol: str | None, include_closed: bool) -> list[PositionRow]:
    query = PositionRow.filter(user_id=owner)
    if account:
        query = query.filter(account_id=account)
    if symbol:
        query = query.filter(symbol=symbol)
    if not include_closed:
        query = query.filter(quantity__gt=0)
    return list(await query.order_by("symbol", "created_at"))


async def positions(
    info: Info,
    filter: Annotated[PositionFilter | None, strawberry.argument(description="Which positions.")] = None,
) -> list[Position]:
    f = filter or PositionFilter()
    owner = target_user(info, f.user_id)
    account = parse_id(f.venue_account_id, "VenueAccount", "filter.venueAccountId") if f.venue_account_id else None
    rows = await _positions(owner, account, f.symbol.strip().upper() if f.symbol else None, f.include_closed)
    marks = await marks_by_symbol()
    return [position_view(r, marks[r.symbol]) for r in rows]


@node_type("Position", Position)
async def position_node(info: Info, pk: str) -> Position | None:
    row = await load_owned(PositionRow, pk, actor(info))
    if row is None:
        return None
    return position_view(row, (await marks_by_symbol())[row.symbol])


async def close_position(info: Info, id: GlobalID) -> ClosePositionResult:
    closing = actions.close_position(info.context, actor(info), parse_id(id, "Position"))
    return await result(closing, placed)


async def close_all_positions(
    info: Info, venue_account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")]
) -> CloseAllResult:
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    closing = actions.close_all_positions(info.context, actor(info), account)
    return await result(closing, lambda rows: PositionsClosed(orders=[Order.from_model(o) for o in rows]))


async def position_updates(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this account's positions.")
    ] = None,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user.")] = None,
) -> AsyncGenerator[PositionUpdate, None]:
    owner, account = await subscriber_scope(info, user_id, venue_account_id)
    return await fanout.stream(info, fanout.user_scope(info, owner), lambda: PositionStream(owner, account))


class PositionStream(fanout.Shared[PositionUpdate]):
    """Open positions first; then a position again whenever a fill changes it or its mark moves."""

    window = _COALESCE_SECONDS

    def __init__(self, owner: str, account: str | None) -> None:
        self.owner, self.account = owner, account
        self.rows: list[PositionRow] = []
        self.marks: dict[str, Decimal] = {}

    async def prepare(self) -> None:
        symbols = [str(s) for s in await Instrument.all().values_list("symbol", flat=True)]
        self.channels = [channel_for(PositionChanged, self.owner)] + [channel_for(PriceTicked, s) for s in symbols]

    async def start(self) -> None:
        self.marks = await marks_by_symbol()
        self.rows = await _positions(self.owner, self.account, None, False)

    def _update(self, row: PositionRow, *, snapshot: bool) -> PositionUpdate:
        view = position_view(row, self.marks[row.symbol])
        return PositionUpdate(position=view, sequence=fanout.SEQUENCE_MARK, snapshot=snapshot)

    async def snapshot(self) -> list[PositionUpdate]:
        return [self._update(row, snapshot=True) for row in self.rows if row.quantity > 0]

    async def update(self, batch: list[BusEvent]) -> list[PositionUpdate]:
        changes = [decode(e) for e in batch]
        resync = any(change is None for change in changes)
        filled = {(c.account_id, c.symbol) for c in changes if isinstance(c, PositionChanged)}
        moved = {c.symbol for c in changes if isinstance(c, PriceTicked)}
        held = {row.symbol for row in self.rows if row.quantity > 0}
        if not (resync or filled or moved & held):
            return []  # only prices of instruments the owner does not hold moved: nothing to read
        self.marks = await marks_by_symbol()
        self.rows = await _positions(self.owner, self.account, None, True)
        # Open positions move with their mark; a flat one is news only on the fill that closed it.
        return [
            self._update(row, snapshot=resync)
            for row in self.rows
            if resync or (str(row.account_id), row.symbol) in filled or (row.quantity > 0 and row.symbol in moved)
        ]


@strawberry.type
class Query:
    positions: list[Position] = strawberry.field(
        resolver=positions,
        permission_classes=[IsAuthenticated],
        description="Positions with live marks and PnL (open ones unless includeClosed).",
    )


@strawberry.type
class Mutation:
    close_position: ClosePositionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.POSITION_CLOSE)(close_position),
        permission_classes=[IsTrader],
        description="Sell a whole position at market (cancelling its working sells first).",
    )
    close_all_positions: CloseAllResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.POSITION_CLOSE_ALL)(close_all_positions),
        permission_classes=[IsTrader],
        description="Close every open position of an account.",
    )


@strawberry.type
class Subscription:
    position_updates: AsyncGenerator[PositionUpdate, None] = strawberry.subscription(
        resolver=position_updates,
        permission_classes=[IsAuthenticated],
        description="Your open positions, then each one again when a fill changes it or its mark moves.",
    )
