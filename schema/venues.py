"""Venues and venue accounts: the catalog, accounts, balances, connecting."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.cachecontrol import CacheControl
from graphql_api.pagination import to_global_id
from models import venues as v

from .common import InvalidInput, Node, NotFound, UserError, enum_from

if TYPE_CHECKING:
    from models.venues import AccountStatus, Environment, VenueType
else:
    VenueType = enum_from(
        v.VenueType,
        "What a venue trades.",
        {
            "CRYPTO": "Crypto-asset exchange (centralised or on-chain).",
            "TOKENIZED": "Venue for tokenized securities and funds.",
        },
    )

    Environment = enum_from(
        v.Environment,
        "Where a venue account trades.",
        {
            "PAPER": "The built-in paper venue: real matching, no real money.",
            "LIVE": "The real venue, through its adapter.",
        },
    )

    AccountStatus = enum_from(
        v.AccountStatus,
        "Connection state of a venue account.",
        {
            "CONNECTED": "Usable.",
            "DISCONNECTED": "Disconnected by the user; read-only history.",
            "ERROR": "The last sync failed.",
        },
    )


@strawberry.type(description="A trading venue of the catalog.", directives=[CacheControl(max_age=300)])
class Venue:
    id: strawberry.ID = strawberry.field(description="Stable venue key, e.g. binance.")
    name: str = strawberry.field(description="Display name.")
    type: VenueType = strawberry.field(description="Crypto or tokenized securities.")
    category: str = strawberry.field(description="CEX, DEX, DLT_EXCHANGE, TRANSFER_AGENT or FUND.")
    protocols: list[str] = strawberry.field(description="Connectivity: FIX, API, WEBSOCKET.")
    drop_copy: bool = strawberry.field(description="Offers a drop-copy feed of executions.")
    t0_settlement: bool = strawberry.field(description="Settles on trade date (T+0).")
    logo_url: str = strawberry.field(description="Path of the venue logo.")
    website: str = strawberry.field(description="Venue website.")
    description: str = strawberry.field(description="One-line summary.")
    symbols: list[str] = strawberry.field(description="Instrument symbols tradable there (on the paper venue too).")
    supports_paper: bool = strawberry.field(description="Paper accounts can be opened on it.")

    @classmethod
    def from_model(cls, row: v.Venue) -> Venue:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            type=VenueType(row.type),
            category=row.category,
            protocols=list(row.protocols),
            drop_copy=row.drop_copy,
            t0_settlement=row.t0_settlement,
            logo_url=row.logo_url,
            website=row.website,
            description=row.description,
            symbols=list(row.symbols),
            supports_paper=row.supports_paper,
        )


@strawberry.type(description="Cash of one asset in a venue account.")
class Balance:
    asset: str = strawberry.field(description="Asset, e.g. USDC.")
    total: Decimal = strawberry.field(description="Everything held.")
    reserved: Decimal = strawberry.field(description="Held back by working orders.")
    available: Decimal = strawberry.field(description="total - reserved: what new orders may use.")


@strawberry.type(description="A user's account on a venue.")
class VenueAccount(Node):
    venue_id: strawberry.ID = strawberry.field(description="The venue's key.")
    environment: Environment = strawberry.field(description="PAPER or LIVE.")
    label: str = strawberry.field(description="The user's name for it.")
    status: AccountStatus = strawberry.field(description="Connection state.")
    quote_asset: str = strawberry.field(description="The asset prices and cash are in.")
    has_credentials: bool = strawberry.field(description="Live credentials are stored (they are never returned).")
    created_at: datetime = strawberry.field(description="When it was connected.")
    last_sync_at: datetime | None = strawberry.field(description="When balances were last synchronised.")
    owner_id: strawberry.ID = strawberry.field(description="Global ID of the owning user.")

    @classmethod
    def from_model(cls, row: v.VenueAccount) -> VenueAccount:
        return cls(
            id=strawberry.ID(to_global_id("VenueAccount", row.id)),
            venue_id=strawberry.ID(row.venue_id),
            environment=Environment(row.environment),
            label=row.label,
            status=AccountStatus(row.status),
            quote_asset=row.quote_asset,
            has_credentials=row.credentials is not None,
            created_at=row.created_at,
            last_sync_at=row.last_sync_at,
            owner_id=strawberry.ID(to_global_id("User", row.user_id)),
        )


@strawberry.type(description="The venue account after the change.")
class VenueAccountChanged:
    account: VenueAccount = strawberry.field(description="The account.")


@strawberry.type(description="No live adapter can reach this venue from here.")
class VenueUnavailable(UserError):
    venue_id: strawberry.ID = strawberry.field(description="The venue.")


@strawberry.input(description="Connect an account on a venue.")
class ConnectVenueInput:
    venue_id: strawberry.ID = strawberry.field(description="Venue key from `venues`.")
    environment: Environment = strawberry.field(description="PAPER (built-in engine) or LIVE.")
    label: str | None = strawberry.field(default=None, description="Your name for it (up to 100 characters).")
    starting_balance: Decimal | None = strawberry.field(
        default=None, description="PAPER: starting cash in the quote asset (default 100000, at most 10000000)."
    )
    api_key: str | None = strawberry.field(default=None, description="LIVE: API key (stored encrypted).")
    api_secret: str | None = strawberry.field(default=None, description="LIVE: API secret (stored encrypted).")
    passphrase: str | None = strawberry.field(default=None, description="LIVE: passphrase, where the venue uses one.")


ConnectVenueResult = Annotated[
    VenueAccountChanged | VenueUnavailable | NotFound | InvalidInput,
    strawberry.union("ConnectVenueResult", description="The connected account, or why not."),
]


VenueAccountResult = Annotated[
    VenueAccountChanged | VenueUnavailable | NotFound | InvalidInput,
    strawberry.union("VenueAccountResult", description="The account after the change, or why not."),
]
