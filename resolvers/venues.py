"""Venues and venue accounts: the catalog, connecting paper and live accounts, balances, test orders."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.auth import utcnow
from graphql_api.context import Info
from graphql_api.crypto import Cipher
from graphql_api.engine.adapters import AdapterError, Credentials
from graphql_api.engine.matching import Changes, lock_account
from graphql_api.pagination import parse_id
from graphql_api.permissions import ensure_owner, require_principal
from models.audit import Outcome
from models.market import Instrument as InstrumentRow
from models.venues import AccountStatus, Balance, Environment, Venue, VenueAccount
from schema.common import GlobalID, InvalidInput, NotFound, invalid
from schema.market import Instrument
from schema.trading import Balance as BalanceType
from schema.trading import (
    ConnectVenueInput,
    ConnectVenueResult,
    VenueAccountChanged,
    VenueAccountResult,
    VenueUnavailable,
)
from schema.trading import Venue as VenueType
from schema.trading import VenueAccount as VenueAccountType

DEFAULT_PAPER_BALANCE = Decimal("100000")
MAX_PAPER_BALANCE = Decimal("10000000")
_INPUT = strawberry.argument(description="The venue and how to connect.")
VenueId = Annotated[strawberry.ID, strawberry.argument(description="Venue key, e.g. binance.")]


def credentials_cipher(info: Info) -> Cipher:
    return Cipher(str(info.context.settings.secret_key), "venue-credentials")


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


async def owned_account(info: Info, global_id: str, field: str = "venueAccountId") -> VenueAccount | NotFound:
    """The venue account behind ``global_id`` if the caller may use it (own, or any for an admin)."""
    row = await VenueAccount.get_or_none(id=parse_id(global_id, "VenueAccount", field))
    if row is None:
        return NotFound(message="no such venue account", code="NOT_FOUND", field=field)
    ensure_owner(info, row.user_id)
    return row


async def my_venue_accounts(info: Info) -> list[VenueAccountType]:
    principal = require_principal(info.context)
    rows = await VenueAccount.filter(user_id=principal.user.id).order_by("created_at")
    return [VenueAccountType.from_model(r) for r in rows]


async def balances(
    info: Info, venue_account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")]
) -> list[BalanceType]:
    account = await owned_account(info, venue_account_id)
    if isinstance(account, NotFound):
        return []
    rows = await Balance.filter(account_id=account.id).order_by("asset")
    return [
        BalanceType(asset=b.asset, total=b.total, reserved=b.reserved, available=b.total - b.reserved) for b in rows
    ]


async def connect_venue(info: Info, input: Annotated[ConnectVenueInput, _INPUT]) -> ConnectVenueResult:
    ctx = info.context
    user = require_principal(ctx).user
    row = await Venue.get_or_none(id=str(input.venue_id))
    if row is None:
        return NotFound(message="no such venue", code="NOT_FOUND", field="venueId")
    label = (input.label or row.name).strip()
    if not 1 <= len(label) <= 100:
        return invalid("label must be 1 to 100 characters", "label")
    environment = Environment(input.environment.name)

    if environment == Environment.PAPER:
        if not row.supports_paper:
            return invalid("this venue has no paper trading", "environment")
        start = input.starting_balance if input.starting_balance is not None else DEFAULT_PAPER_BALANCE
        if not Decimal(0) < start <= MAX_PAPER_BALANCE:
            return invalid(f"startingBalance must be above 0 and at most {MAX_PAPER_BALANCE}", "startingBalance")
        async with in_transaction() as conn:
            account = await VenueAccount.create(
                user_id=user.id,
                venue_id=row.id,
                environment=environment,
                label=label,
                starting_balance=start,
                using_db=conn,
            )
            await Balance.create(account_id=account.id, asset=account.quote_asset, total=start, using_db=conn)
            await audit.record(
                "venue.connect",
                Outcome.SUCCESS,
                actor=user,
                target_type="VenueAccount",
                target_id=account.id,
                ip=ctx.client.ip,
                detail={"venue": row.id, "environment": "PAPER", "startingBalance": str(start)},
                conn=conn,
            )
        return VenueAccountChanged(account=VenueAccountType.from_model(account))

    problem = _credentials_problem(input)
    if problem:
        return problem
    credentials = Credentials(input.api_key or "", input.api_secret or "", input.passphrase)
    adapter = ctx.adapters.get(row.id)
    if adapter is None:
        await audit.record(
            "venue.connect",
            Outcome.FAILURE,
            actor=user,
            ip=ctx.client.ip,
            detail={"venue": row.id, "environment": "LIVE", "reason": "no adapter"},
        )
        return VenueUnavailable(
            message=f"no live connection to {row.name} is available from this deployment; use PAPER",
            code="VENUE_UNAVAILABLE",
            field="environment",
            venue_id=strawberry.ID(row.id),
        )
    try:
        await adapter.verify(credentials)
        remote = await adapter.balances(credentials)
    except AdapterError as exc:
        await audit.record(
            "venue.connect",
            Outcome.FAILURE,
            actor=user,
            ip=ctx.client.ip,
            detail={"venue": row.id, "environment": "LIVE", "reason": str(exc)},
        )
        return VenueUnavailable(message=str(exc), code="VENUE_REFUSED", field=None, venue_id=strawberry.ID(row.id))
    sealed = credentials_cipher(info).encrypt(
        "\n".join([credentials.api_key, credentials.api_secret, credentials.passphrase or ""])
    )
    async with in_transaction() as conn:
        account = await VenueAccount.create(
            user_id=user.id,
            venue_id=row.id,
            environment=environment,
            label=label,
            credentials=sealed,
            last_sync_at=utcnow(),
            using_db=conn,
        )
        for asset, amount in remote.items():
            await Balance.create(account_id=account.id, asset=asset, total=amount, using_db=conn)
        await audit.record(
            "venue.connect",
            Outcome.SUCCESS,
            actor=user,
            target_type="VenueAccount",
            target_id=account.id,
            ip=ctx.client.ip,
            detail={"venue": row.id, "environment": "LIVE"},
            conn=conn,
        )
    return VenueAccountChanged(account=VenueAccountType.from_model(account))


def _credentials_problem(input: ConnectVenueInput) -> InvalidInput | None:
    for name, value in (("apiKey", input.api_key), ("apiSecret", input.api_secret)):
        if not value or not value.strip():
            return invalid(f"{name} is required for a LIVE account", name)
        if len(value) > 512:
            return invalid(f"{name} is too long", name)
    return None


async def disconnect_venue(info: Info, id: GlobalID) -> VenueAccountResult:
    """Cancels the account's working orders, forgets live credentials, keeps the history."""
    ctx = info.context
    user = require_principal(ctx).user
    account = await owned_account(info, id, "id")
    if isinstance(account, NotFound):
        return account
    changes = Changes()
    async with in_transaction() as conn:
        reason = "venue account disconnected"
        cancelled = await ctx.engine.cancel_account_working(conn, str(account.id), reason, changes)
        await (
            VenueAccount.filter(id=account.id)
            .using_db(conn)
            .update(status=AccountStatus.DISCONNECTED, disconnected_at=utcnow(), credentials=None)
        )
        await audit.record(
            "venue.disconnect",
            Outcome.SUCCESS,
            actor=user,
            target_type="VenueAccount",
            target_id=account.id,
            ip=ctx.client.ip,
            detail={"cancelledOrders": len(cancelled)},
            conn=conn,
        )
    await ctx.engine.publish(changes)
    return VenueAccountChanged(account=VenueAccountType.from_model(await VenueAccount.get(id=account.id)))


async def sync_venue(info: Info, id: GlobalID) -> VenueAccountResult:
    """Paper balances are the engine's own and need no fetching; live ones are read from the venue."""
    ctx = info.context
    user = require_principal(ctx).user
    account = await owned_account(info, id, "id")
    if isinstance(account, NotFound):
        return account
    if account.status == AccountStatus.DISCONNECTED:
        return invalid("the account is disconnected", "id", code="ACCOUNT_DISCONNECTED")
    remote: dict[str, Decimal] | None = None
    if account.environment == Environment.LIVE:
        adapter = ctx.adapters.get(account.venue_id)
        if adapter is None or account.credentials is None:
            await VenueAccount.filter(id=account.id).update(status=AccountStatus.ERROR)
            return VenueUnavailable(
                message="the live venue cannot be reached",
                code="VENUE_UNAVAILABLE",
                field=None,
                venue_id=strawberry.ID(account.venue_id),
            )
        key, secret, passphrase = credentials_cipher(info).decrypt(account.credentials).split("\n")
        try:
            remote = await adapter.balances(Credentials(key, secret, passphrase or None))
        except AdapterError as exc:
            await VenueAccount.filter(id=account.id).update(status=AccountStatus.ERROR)
            return VenueUnavailable(
                message=str(exc), code="VENUE_REFUSED", field=None, venue_id=strawberry.ID(account.venue_id)
            )
    async with in_transaction() as conn:
        await lock_account(conn, str(account.id))
        for asset, amount in (remote or {}).items():
            updated = await Balance.filter(account_id=account.id, asset=asset).using_db(conn).update(total=amount)
            if not updated:
                await Balance.create(account_id=account.id, asset=asset, total=amount, using_db=conn)
        await (
            VenueAccount.filter(id=account.id)
            .using_db(conn)
            .update(last_sync_at=utcnow(), status=AccountStatus.CONNECTED)
        )
        await audit.record(
            "venue.sync",
            Outcome.SUCCESS,
            actor=user,
            target_type="VenueAccount",
            target_id=account.id,
            ip=ctx.client.ip,
            conn=conn,
        )
    return VenueAccountChanged(account=VenueAccountType.from_model(await VenueAccount.get(id=account.id)))
