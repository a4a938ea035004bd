"""Funds actions: deposit (paper credit, limited per day), withdraw, send USDC between users, and the reads
of the ledger (transactions, totals, income). Every movement is a ledger posting (``engine/ledger.py``)
made under the account lock, so a balance is always the sum of its ledger rows and concurrent
withdrawals can never take more than the account had free."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from eth_utils import is_hex_address, to_checksum_address
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.funds import EntryKind, LedgerEntry
from models.identity import User, UserStatus
from models.perps import PerpPosition
from models.venues import Balance, Environment, VenueAccount

from .. import audit
from ..audit import Action
from ..engine.ledger import SYSTEM_DEPOSITS, SYSTEM_REWARDS, SYSTEM_WITHDRAWALS, Postings
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE
from ..ownership import Actor
from ..periods import day_start, next_start, period_start
from ..rejections import FundsShort, Invalid, Missing
from . import referrals
from .deps import Deps
from .perps import perp_account, withdrawable

ZERO = Decimal(0)
USDC_STEP = Decimal("0.000001")
MAX_AMOUNT = Decimal("1000000000")
PERP_LABEL = "Hyperliquid paper"


class DepositVerifier(Protocol):
    """What a live venue adapter offers to verify an on-chain USDC deposit (the amount it carried)."""

    async def verify_deposit(self, tx_hash: str, address: str | None) -> Decimal: ...


@dataclass
class Moved:
    """A completed movement: the account's cash after it, and its ledger rows of the caller."""

    account_id: str
    balance: Decimal
    entries: list[LedgerEntry] = field(default_factory=list)


def _amount(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise Invalid("amount must be positive", field="amount")
    if value > MAX_AMOUNT:
        raise Invalid(f"amount may be at most {MAX_AMOUNT}", field="amount")
    if value % USDC_STEP:
        raise Invalid("amount has at most 6 decimal places (USDC)", field="amount")
    return value


async def _open_perp_account(user_id: object, conn: Any = None) -> VenueAccount:
    account = await VenueAccount.create(
        user_id=user_id,
        venue_id=PERP_VENUE,
        environment=Environment.PAPER,
        label=PERP_LABEL,
        starting_balance=ZERO,
        using_db=conn,
    )
    await Balance.create(account_id=account.id, asset=account.quote_asset, total=ZERO, using_db=conn)
    return account


async def _default_account(user_id: object) -> VenueAccount | None:
    return (
        await VenueAccount.filter(user_id=user_id, venue_id=PERP_VENUE, environment=Environment.PAPER)
        .order_by("created_at", "id")
        .first()
    )


async def source_account(actor: Actor, account_id: str | None, *, create: bool) -> VenueAccount:
    """The named perp account of the caller, or their first Hyperliquid paper account (``create``: opened
    when they have none)."""
    if account_id is not None:
        return await perp_account(actor, account_id)
    account = await _default_account(actor.user.id)
    if account is not None:
        return await perp_account(actor, str(account.id))
    if not create:
        raise Missing("you have no Hyperliquid paper account", field="venueAccountId")
    return await _open_perp_account(actor.user.id)


async def _post(
    conn: Any,
    actor: Actor,
    action: Action,
    account: VenueAccount,
    cash: Balance,
    kind: EntryKind,
    amount: Decimal,
    counter: str,
    **detail: Any,
) -> Moved:
    """Post one movement of the caller's cash against a system account, save the cash and write the
    success audit row, in the caller's transaction (under its account lock)."""
    postings = Postings(conn)
    await postings.move(cash, actor.user.id, kind, amount, counter, **detail)
    mine = [r for r in postings.rows if r.ledger_account.startswith("va:")]
    await postings.flush()
    await cash.save(using_db=conn)
    await audit.by(
        actor,
        action,
        Outcome.SUCCESS,
        target_type="VenueAccount",
        target_id=account.id,
        detail={"amount": str(abs(amount)), **detail},
        conn=conn,
    )
    return Moved(str(account.id), cash.total, mine)


async def deposit(
    deps: Deps, actor: Actor, amount: Decimal, account_id: str | None = None, tx_hash: str | None = None
) -> Moved:
    """Credit a paper account (its Hyperliquid paper account by default, opened on the first deposit).
    Paper deposits of one user add up to at most PAPER_DEPOSIT_DAILY_LIMIT per UTC day; a deposit that
    names an on-chain transaction is verified by the venue's adapter, and refused when none is configured."""
    async with audit.refusals(actor, Action.FUNDS_DEPOSIT, target_type="VenueAccount", target_id=account_id or ""):
        amount = _amount(amount)
        if tx_hash is not None:
            adapter = deps.adapters.get(PERP_VENUE)
            if adapter is None or not hasattr(adapter, "verify_deposit"):
                raise Invalid(
                    "no on-chain deposit verifier is configured on this deployment; paper deposits need no txHash",
                    code="ONCHAIN_UNAVAILABLE",
                    field="txHash",
                )
            raise Invalid("live deposits credit live accounts, which this deployment does not hold", field="txHash")
        account = await source_account(actor, account_id, create=True)
        limit = deps.settings.paper_deposit_daily_limit
        async with in_transaction() as conn:
            # The user row serialises one user's deposits, so the daily sum is checked against every other.
            await User.filter(id=actor.user.id).using_db(conn).select_for_update().get()
            await lock_account(conn, str(account.id))
            since = day_start(datetime.now(UTC))
            amounts = (
                await LedgerEntry.filter(user_id=actor.user.id, kind=EntryKind.DEPOSIT, created_at__gte=since)
                .using_db(conn)
                .values_list("amount", flat=True)
            )
            today = sum((Decimal(a) for a in amounts), ZERO)
            if today + amount > limit:
                left = max(ZERO, limit - today)
                raise Invalid(
                    f"paper deposits are limited to {limit} USDC per day; {left} is left today",
                    code="DEPOSIT_LIMIT",
                    field="amount",
                )
            cash = await Balance.get(account_id=account.id, asset=account.quote_asset, using_db=conn)
            return await _post(
                conn, actor, Action.FUNDS_DEPOSIT, account, cash, EntryKind.DEPOSIT, amount, SYSTEM_DEPOSITS, paper=True
            )


async def withdraw(
    deps: Deps, actor: Actor, amount: Decimal, account_id: str | None = None, destination: str | None = None
) -> Moved:
    """Take cash out of the account: at most what is withdrawable (free of isolated margin and of the cross
    positions' initial margin), checked under the account lock."""
    async with audit.refusals(actor, Action.FUNDS_WITHDRAW, target_type="VenueAccount", target_id=account_id or ""):
        amount = _amount(amount)
        if destination is not None and not is_hex_address(destination.strip().lower()):
            raise Invalid("destination must be an EVM address", field="destination")
        account = await source_account(actor, account_id, create=False)
        async with in_transaction() as conn:
            await lock_account(conn, str(account.id))
            cash = await Balance.get(account_id=account.id, asset=account.quote_asset, using_db=conn)
            held = [p for p in await PerpPosition.filter(account_id=account.id).using_db(conn) if p.size != 0]
            free = withdrawable(cash, held, await deps.engine.perps.marks(conn))
            if amount > free:
                raise FundsShort(
                    f"{amount} {cash.asset} is more than the {free} withdrawable",
                    asset=cash.asset,
                    required=amount,
                    available=free,
                    field="amount",
                )
            detail = {"destination": to_checksum_address(destination.strip().lower())} if destination else {}
            kind = EntryKind.WITHDRAWAL
            return await _post(
                conn, actor, Action.FUNDS_WITHDRAW, account, cash, kind, -amount, SYSTEM_WITHDRAWALS, **detail
            )


async def _recipient(to: str, field: str = "to") -> User:
    raw = to.strip()
    user: User | None
    if raw.lower().startswith("0x"):
        if not is_hex_address(raw.lower()):
            raise Invalid("to is neither a user ID nor an EVM address", field=field)
        user = await User.get_or_none(wallet_address=to_checksum_address(raw.lower()))
    else:
        from ..pagination import from_global_id

        pk = raw
        try:
            kind, pk = from_global_id(raw)
            if kind != "User":
                pk = raw
        except Exception:  # not a global ID: a bare user id, checked below
            pk = raw
        try:
            uuid.UUID(pk)
        except ValueError:
            raise Invalid("to is neither a user ID nor an EVM address", field=field) from None
        user = await User.get_or_none(id=pk)
    if user is None or user.status != UserStatus.ACTIVE:
        raise Missing("no such recipient", field=field)
    return user


async def claim_reward(actor: Actor, account_id: str | None = None) -> Moved:
    """Credit the caller's unclaimed referral rewards to a Hyperliquid paper account of theirs (the first,
    opened if none) as one REWARD posting. Exactly once: the rewards are taken by a conditional UPDATE in
    the posting's transaction (``referrals.take_unclaimed``), so racing claims credit them once between them."""
    async with audit.refusals(actor, Action.FUNDS_CLAIM_REWARD, target_type="VenueAccount", target_id=account_id or ""):
        account = await source_account(actor, account_id, create=True)
        async with in_transaction() as conn:
            await lock_account(conn, str(account.id))
            claim = uuid.uuid4()
            amount = await referrals.take_unclaimed(conn, actor.user.id, claim)
            if amount <= 0:
                raise Invalid("you have no unclaimed referral rewards", code="NO_REWARDS")
            cash = await Balance.get(account_id=account.id, asset=account.quote_asset, using_db=conn)
            action, kind = Action.FUNDS_CLAIM_REWARD, EntryKind.REWARD
            return await _post(conn, actor, action, account, cash, kind, amount, SYSTEM_REWARDS, claim=str(claim))


async def send_usdc(deps: Deps, actor: Actor, to: str, amount: Decimal, account_id: str | None = None) -> Moved:
    """Move USDC from the caller's perp account to another user's (their first Hyperliquid paper account,
    opened if they have none), atomically: both legs in one transaction under both account locks, taken
    in a fixed order so two opposite transfers cannot deadlock."""
    async with audit.refusals(actor, Action.FUNDS_SEND_USDC, target_type="VenueAccount", target_id=account_id or ""):
        amount = _amount(amount)
        recipient = await _recipient(to)
        if recipient.id == actor.user.id:
            raise Invalid("you cannot send USDC to yourself", code="SELF_TRANSFER", field="to")
        source = await source_account(actor, account_id, create=False)
        target = await _default_account(recipient.id)
        if target is None:
            async with in_transaction() as conn:
                await User.filter(id=recipient.id).using_db(conn).select_for_update().get()
                target = await _default_account(recipient.id) or await _open_perp_account(recipient.id, conn)
        async with in_transaction() as conn:
            for locked in sorted((str(source.id), str(target.id))):
                await lock_account(conn, locked)
            cash = await Balance.get(account_id=source.id, asset=source.quote_asset, using_db=conn)
            other = await Balance.get(account_id=target.id, asset=target.quote_asset, using_db=conn)
            held = [p for p in await PerpPosition.filter(account_id=source.id).using_db(conn) if p.size != 0]
            free = withdrawable(cash, held, await deps.engine.perps.marks(conn))
            if amount > free:
                raise FundsShort(
                    f"{amount} {cash.asset} is more than the {free} withdrawable",
                    asset=cash.asset,
                    required=amount,
                    available=free,
                    field="amount",
                )
            postings = Postings(conn)
            await postings.transfer(
                cash, actor.user.id, other, recipient.id, amount, fromUser=str(actor.user.id), toUser=str(recipient.id)
            )
            mine = [r for r in postings.rows if r.ledger_account == f"va:{source.id}"]
            await postings.flush()
            await cash.save(using_db=conn)
            await other.save(using_db=conn)
            await audit.by(
                actor,
                Action.FUNDS_SEND_USDC,
                Outcome.SUCCESS,
                target_type="User",
                target_id=recipient.id,
                detail={"amount": str(amount), "from": str(source.id), "to": str(target.id)},
                conn=conn,
            )
    return Moved(str(source.id), cash.total, mine)


# -- reads ------------------------------------------------------------------------------------------------


class Period(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass
class IncomeBucket:
    start: datetime
    end: datetime
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    rewards: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding + self.rewards

    def add(self, kind: EntryKind, amount: Decimal) -> None:
        if kind in (EntryKind.REALIZED_PNL, EntryKind.LIQUIDATION, EntryKind.INSURANCE):
            self.realized_pnl += amount
        elif kind == EntryKind.FEE:
            self.fees -= amount
        elif kind == EntryKind.FUNDING:
            self.funding += amount
        elif kind == EntryKind.REWARD:
            self.rewards += amount


@dataclass
class Income:
    start: datetime
    end: datetime
    bucket: Period
    total: IncomeBucket
    buckets: list[IncomeBucket]


INCOME_KINDS = [EntryKind.REALIZED_PNL, EntryKind.LIQUIDATION, EntryKind.INSURANCE, EntryKind.FEE, EntryKind.FUNDING]
INCOME_KINDS.append(EntryKind.REWARD)
MAX_BUCKETS = 400


async def income(user_id: str, start: datetime, end: datetime, bucket: Period) -> Income:
    """Realized PnL (with liquidations), fees, funding and rewards of the user's accounts in [start, end),
    per calendar ``bucket`` (UTC; weeks start on Monday)."""
    if end <= start:
        raise Invalid("to must be after from", field="to")
    edges = []
    cursor = period_start(start, bucket)
    while cursor < end:
        edges.append(cursor)
        cursor = next_start(cursor, bucket)
        if len(edges) > MAX_BUCKETS:
            raise Invalid(f"at most {MAX_BUCKETS} buckets: choose a larger bucket or a shorter range", field="to")
    buckets = [IncomeBucket(max(s, start), min(next_start(s, bucket), end)) for s in edges]
    total = IncomeBucket(start, end)
    rows = await LedgerEntry.filter(
        user_id=user_id, kind__in=INCOME_KINDS, created_at__gte=start, created_at__lt=end
    ).values_list("kind", "amount", "created_at")
    for kind, amount, at in rows:
        kind = EntryKind(kind)
        total.add(kind, amount)
        for b in buckets:
            if b.start <= at < b.end:
                b.add(kind, amount)
                break
    return Income(start, end, bucket, total, buckets)


async def deposit_totals(user_id: str, account_id: str | None) -> dict[EntryKind, tuple[Decimal, int]]:
    query = LedgerEntry.filter(user_id=user_id, kind__in=[EntryKind.DEPOSIT, EntryKind.WITHDRAWAL])
    if account_id is not None:
        query = query.filter(account_id=account_id)
    found: dict[EntryKind, tuple[Decimal, int]] = {EntryKind.DEPOSIT: (ZERO, 0), EntryKind.WITHDRAWAL: (ZERO, 0)}
    for kind, amount in await query.values_list("kind", "amount"):
        total, count = found[EntryKind(kind)]
        found[EntryKind(kind)] = (total + amount, count + 1)
    return found
