"""Venue account actions: connect (paper or live), disconnect, synchronise balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.venues import AccountStatus, Balance, Environment, Venue, VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..crypto import Cipher
from ..engine.adapters import AdapterError, Credentials
from ..engine.matching import lock_account
from ..engine.types import Changes
from ..ownership import Actor
from ..rejections import Invalid, Missing, VenueDown
from .deps import Deps
from .orders import trading_account

DEFAULT_PAPER_BALANCE = Decimal("100000")
MAX_PAPER_BALANCE = Decimal("10000000")
# Accounts per user, disconnected ones included: it bounds myVenueAccounts, and with the instrument list
# also positions, so those lists need no paging.
MAX_VENUE_ACCOUNTS = 50


@dataclass
class ConnectSpec:
    venue_id: str
    environment: Environment
    label: str | None = None
    starting_balance: Decimal | None = None
    api_key: str | None = None
    api_secret: str | None = None
    passphrase: str | None = None


def credentials_cipher(deps: Deps) -> Cipher:
    return Cipher(str(deps.settings.secret_key), "venue-credentials")


async def connect_venue(deps: Deps, actor: Actor, spec: ConnectSpec) -> VenueAccount:
    detail = {"venue": spec.venue_id, "environment": spec.environment.value}
    # Refused before any account exists: the row names the venue asked for.
    async with audit.refusals(
        actor, Action.VENUE_CONNECT, target_type="Venue", target_id=spec.venue_id[:64], detail=detail
    ):
        row = await Venue.get_or_none(id=spec.venue_id)
        if row is None:
            raise Missing("no such venue", field="venueId")
        label = (spec.label or row.name).strip()
        if not 1 <= len(label) <= 100:
            raise Invalid("label must be 1 to 100 characters", field="label")
        if await VenueAccount.filter(user_id=actor.user.id).count() >= MAX_VENUE_ACCOUNTS:
            raise Invalid(
                f"at most {MAX_VENUE_ACCOUNTS} venue accounts per user", code="TOO_MANY_ACCOUNTS", field="venueId"
            )
        if spec.environment == Environment.PAPER:
            return await _connect_paper(actor, row, label, spec)
        return await _connect_live(deps, actor, row, label, spec)


async def _connect_paper(actor: Actor, row: Venue, label: str, spec: ConnectSpec) -> VenueAccount:
    if not row.supports_paper:
        raise Invalid("this venue has no paper trading", field="environment")
    start = spec.starting_balance if spec.starting_balance is not None else DEFAULT_PAPER_BALANCE
    if not Decimal(0) < start <= MAX_PAPER_BALANCE:
        raise Invalid(f"startingBalance must be above 0 and at most {MAX_PAPER_BALANCE}", field="startingBalance")
    return await _open_account(
        actor, row, label, Environment.PAPER, None, starting_balance=start, detail={"startingBalance": str(start)}
    )


async def _open_account(
    actor: Actor,
    venue: Venue,
    label: str,
    environment: Environment,
    balances: dict[str, Decimal] | None,
    detail: dict[str, str] | None = None,
    **columns: Any,
) -> VenueAccount:
    """Create the account with its opening balances (a paper account: its starting balance in its quote
    asset) and its audit row, in one transaction."""
    async with in_transaction() as conn:
        account = await VenueAccount.create(
            user_id=actor.user.id, venue_id=venue.id, environment=environment, label=label, using_db=conn, **columns
        )
        opening = balances if balances is not None else {account.quote_asset: account.starting_balance}
        for asset, amount in opening.items():
            await Balance.create(account_id=account.id, asset=asset, total=amount, using_db=conn)
        await audit.by(
            actor,
            Action.VENUE_CONNECT,
            Outcome.SUCCESS,
            target_type="VenueAccount",
            target_id=account.id,
            detail={"venue": venue.id, "environment": environment.value, **(detail or {})},
            conn=conn,
        )
    return account


def _check_credentials(spec: ConnectSpec) -> None:
    for name, value in (("apiKey", spec.api_key), ("apiSecret", spec.api_secret)):
        if not value or not value.strip():
            raise Invalid(f"{name} is required for a LIVE account", field=name)
        if len(value) > 512:
            raise Invalid(f"{name} is too long", field=name)


async def _connect_live(deps: Deps, actor: Actor, row: Venue, label: str, spec: ConnectSpec) -> VenueAccount:
    _check_credentials(spec)
    credentials = Credentials(spec.api_key or "", spec.api_secret or "", spec.passphrase)
    adapter = deps.adapters.get(row.id)
    if adapter is None:
        raise VenueDown(
            f"no live connection to {row.name} is available from this deployment; use PAPER",
            field="environment",
            venue_id=row.id,
        )
    try:
        await adapter.verify(credentials)
        remote = await adapter.balances(credentials)
    except AdapterError as exc:
        raise VenueDown(str(exc), code="VENUE_REFUSED", venue_id=row.id) from None
    sealed = credentials_cipher(deps).encrypt(
        "\n".join([credentials.api_key, credentials.api_secret, credentials.passphrase or ""])
    )
    return await _open_account(actor, row, label, Environment.LIVE, remote, credentials=sealed, last_sync_at=utcnow())


async def disconnect_venue(deps: Deps, actor: Actor, account_id: str) -> VenueAccount:
    """Cancels the account's working orders, forgets live credentials, keeps the history."""
    async with audit.refusals(actor, Action.VENUE_DISCONNECT, target_type="VenueAccount", target_id=account_id):
        account = await trading_account(actor, account_id, "id")
    changes = Changes()
    async with in_transaction() as conn:
        reason = "venue account disconnected"
        cancelled = await deps.engine.cancel_account_working(conn, str(account.id), reason, changes)
        await (
            VenueAccount.filter(id=account.id)
            .using_db(conn)
            .update(status=AccountStatus.DISCONNECTED, disconnected_at=utcnow(), credentials=None)
        )
        await audit.by(
            actor,
            Action.VENUE_DISCONNECT,
            Outcome.SUCCESS,
            target_type="VenueAccount",
            target_id=account.id,
            detail={"cancelledOrders": len(cancelled)},
            conn=conn,
        )
    await deps.engine.publish(changes)
    return await VenueAccount.get(id=account.id)


async def sync_venue(deps: Deps, actor: Actor, account_id: str) -> VenueAccount:
    """Paper balances are the engine's own and need no fetching; live ones are read from the venue."""
    async with audit.refusals(actor, Action.VENUE_SYNC, target_type="VenueAccount", target_id=account_id):
        account = await trading_account(actor, account_id, "id")
        if account.status == AccountStatus.DISCONNECTED:
            raise Invalid("the account is disconnected", code="ACCOUNT_DISCONNECTED", field="id")
        remote = await _remote_balances(deps, account) if account.environment == Environment.LIVE else {}
    async with in_transaction() as conn:
        await lock_account(conn, str(account.id))
        for asset, amount in remote.items():
            updated = await Balance.filter(account_id=account.id, asset=asset).using_db(conn).update(total=amount)
            if not updated:
                await Balance.create(account_id=account.id, asset=asset, total=amount, using_db=conn)
        await (
            VenueAccount.filter(id=account.id)
            .using_db(conn)
            .update(last_sync_at=utcnow(), status=AccountStatus.CONNECTED)
        )
        await audit.by(
            actor, Action.VENUE_SYNC, Outcome.SUCCESS, target_type="VenueAccount", target_id=account.id, conn=conn
        )
    return await VenueAccount.get(id=account.id)


async def _remote_balances(deps: Deps, account: VenueAccount) -> dict[str, Decimal]:
    """A live account's balances from its venue; a venue that cannot be reached marks the account ERROR."""
    adapter = deps.adapters.get(account.venue_id)
    if adapter is None or account.credentials is None:
        await VenueAccount.filter(id=account.id).update(status=AccountStatus.ERROR)
        raise VenueDown("the live venue cannot be reached", venue_id=account.venue_id)
    key, secret, passphrase = credentials_cipher(deps).decrypt(account.credentials).split("\n")
    try:
        return await adapter.balances(Credentials(key, secret, passphrase or None))
    except AdapterError as exc:
        await VenueAccount.filter(id=account.id).update(status=AccountStatus.ERROR)
        raise VenueDown(str(exc), code="VENUE_REFUSED", venue_id=account.venue_id) from None
