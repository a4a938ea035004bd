"""Venues and venue accounts: the Query / Mutation fields of the venues domain (actions in
graphql_api/services/venues.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import load_owned
from graphql_api.pagination import parse_id
from graphql_api.permissions import IsAuthenticated, IsTrader, require_principal
from graphql_api.ratelimit import MARKET_DATA, TRADING, RateLimit
from graphql_api.services import orders as order_actions
from graphql_api.services import venues as actions
from models.market import Instrument as InstrumentRow
from models.venues import Balance, Environment, Venue, VenueAccount
from schema.common import GlobalID
from schema.market import Instrument
from schema.orders import PlaceOrderResult
from schema.venues import Balance as BalanceType
from schema.venues import (
    ConnectVenueInput,
    ConnectVenueResult,
    VenueAccountChanged,
    VenueAccountResult,
)
from schema.venues import Venue as VenueType
from schema.venues import VenueAccount as VenueAccountType

from .node import node_type
from .orders import AccountArg, placed
from .results import actor, audited, result

_INPUT = strawberry.argument(description="The venue and how to connect.")
VenueId = Annotated[strawberry.ID, strawberry.argument(description="Venue key, e.g. binance.")]


def changed(row: VenueAccount) -> VenueAccountChanged:
    return VenueAccountChanged(account=VenueAccountType.from_model(row))


async def venues(info: Info) -> list[VenueType]:
    return [VenueType.from_model(v) for v in await Venue.all().order_by("type", "name")]


async def venue(info: Info, id: VenueId) -> VenueType | None:
    row = await Venue.get_or_none(id=str(id))
    return VenueType.from_model(row) if row else None


async def venue_instruments(info: Info, venue_id: VenueId) -> list[Instrument]:
    row = await Venue.get_or_none(id=str(venue_id))
    if row is None:
        return []
    rows = await InstrumentRow.filter(symbol__in=list(row.symbols)).order_by("asset_index")
    return [Instrument.from_model(r) for r in rows]


@node_type("VenueAccount", VenueAccountType)
async def venue_account_node(info: Info, pk: str) -> VenueAccountType | None:
    row = await load_owned(VenueAccount, pk, actor(info))
    return VenueAccountType.from_model(row) if row else None


async def my_venue_accounts(info: Info) -> list[VenueAccountType]:
    principal = require_principal(info.context)
    rows = await VenueAccount.filter(user_id=principal.user.id).order_by("created_at")
    return [VenueAccountType.from_model(r) for r in rows]


async def balances(
    info: Info, venue_account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")]
) -> list[BalanceType]:
    pk = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    account = await load_owned(VenueAccount, pk, actor(info))
    if account is None:
        return []
    rows = await Balance.filter(account_id=account.id).order_by("asset")
    return [
        BalanceType(asset=b.asset, total=b.total, reserved=b.reserved, available=b.total - b.reserved) for b in rows
    ]


async def connect_venue(info: Info, input: Annotated[ConnectVenueInput, _INPUT]) -> ConnectVenueResult:
    spec = actions.ConnectSpec(
        venue_id=str(input.venue_id),
        environment=Environment(input.environment.name),
        label=input.label,
        starting_balance=input.starting_balance,
        api_key=input.api_key,
        api_secret=input.api_secret,
        passphrase=input.passphrase,
    )
    return await result(actions.connect_venue(info.context, actor(info), spec), changed)


async def disconnect_venue(info: Info, id: GlobalID) -> VenueAccountResult:
    account = parse_id(id, "VenueAccount")
    return await result(actions.disconnect_venue(info.context, actor(info), account), changed)


async def sync_venue(info: Info, id: GlobalID) -> VenueAccountResult:
    account = parse_id(id, "VenueAccount")
    return await result(actions.sync_venue(info.context, actor(info), account), changed)


async def send_test_order(
    info: Info,
    venue_account_id: AccountArg,
    symbol: Annotated[str, strawberry.argument(description="Instrument to test with.")] = "BTC",
) -> PlaceOrderResult:
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId")
    probe = order_actions.send_test_order(info.context, actor(info), account, symbol)
    return await result(probe, placed)


@strawberry.type
class Query:
    venues: list[VenueType] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=venues,
        description="The venue catalog: crypto exchanges and tokenized-securities venues.",
    )
    venue: VenueType | None = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)], resolver=venue, description="One venue by key."
    )
    venue_instruments: list[Instrument] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)], resolver=venue_instruments, description="Instruments tradable on a venue."
    )
    my_venue_accounts: list[VenueAccountType] = strawberry.field(
        resolver=my_venue_accounts, permission_classes=[IsAuthenticated], description="The caller's venue accounts."
    )
    balances: list[BalanceType] = strawberry.field(
        resolver=balances, permission_classes=[IsAuthenticated], description="Cash balances of a venue account."
    )


@strawberry.type
class Mutation:
    connect_venue: ConnectVenueResult = strawberry.mutation(
        resolver=audited(Action.VENUE_CONNECT)(connect_venue),
        permission_classes=[IsTrader],
        description="Connect a venue account: PAPER with a starting balance, or LIVE with credentials.",
    )
    disconnect_venue: VenueAccountResult = strawberry.mutation(
        resolver=audited(Action.VENUE_DISCONNECT)(disconnect_venue),
        permission_classes=[IsTrader],
        description="Disconnect: cancels working orders and forgets credentials; history stays.",
    )
    sync_venue: VenueAccountResult = strawberry.mutation(
        resolver=audited(Action.VENUE_SYNC)(sync_venue),
        permission_classes=[IsTrader],
        description="Synchronise balances with the venue.",
    )
    send_test_order: PlaceOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.VENUE_TEST_ORDER)(send_test_order),
        permission_classes=[IsTrader],
        description="Paper only: an order that cannot fill, to check the path end to end.",
    )
