"""Vault actions (PAMM / LP): create (admins), deposit, withdraw, crystallise the performance fee, and the reads.

A vault owns one paper venue account, owned by its manager (a bot's owner, whose bot trades it, or the admin
who made it, who trades it by hand). Depositors own it in shares. Share accounting, exact in Decimal:

- equity = the vault account's quote cash + every position at its mark (``engine/equity.py``'s rule);
  NAV per share = equity / shares outstanding (reported to 12 places, rounded down).
- A deposit of ``a`` issues ``a × shares / equity`` shares rounded DOWN to 8 places (the first deposit, or
  one into a vault with no shares: ``a`` shares, 1 share = 1 quote unit). Rounding favours the vault.
- A withdrawal of ``s`` shares pays ``(s − fee shares) × NAV per share`` rounded DOWN to the cent; the shares
  are burned. The residue of every rounding stays in the vault, for the holders that remain.
- The performance fee is paid to the manager in SHARES (moved from the depositor's position to the
  manager's, so equity and shares outstanding do not change): on crystallisation (at the end of each fee
  period, or ``crystallize`` on demand) for every position whose NAV per share is above its high-water mark,
  and on a withdrawal for the withdrawn shares. Fee shares = rate × (NAV per share − HWM) × shares / NAV
  per share, rounded DOWN to 8 places (in the depositor's favour). After a crystallisation the position's HWM
  is the NAV per share; a deposit sets it to the share-weighted average of the HWM of the shares held and
  the NAV per share paid. The manager's own shares pay no fee.
- So Σ position shares = shares outstanding exactly, and Σ shares × NAV per share = equity (to the cent).

Every cash movement is a ledger transfer (``engine/ledger.py``) between the depositor's account and the
vault's, in one transaction under both account locks (taken in a fixed order), then the vault row's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.bots import Bot, BotStatus, LogLevel
from models.market import LastPrice
from models.perps import PerpPosition
from models.portfolio import EquitySnapshot
from models.positions import Position
from models.vaults import FeePeriod, Vault, VaultEntry, VaultEntryKind, VaultPosition
from models.venues import AccountStatus, Balance, Environment, Venue, VenueAccount

from .. import audit
from ..audit import Action
from ..engine.equity import account_values, marks_by_symbol
from ..engine.ledger import Postings
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE
from ..ownership import Actor
from ..periods import day_start
from ..rejections import Conflict, FundsShort, Invalid, Missing, NotAllowed
from . import bots as bot_actions
from .deps import Deps
from .perps import withdrawable

ZERO = Decimal(0)
SHARE_STEP = Decimal("0.00000001")
NAV_STEP = Decimal("0.000000000001")
CENT = Decimal("0.01")
AMOUNT_STEP = Decimal("0.000001")
MAX_AMOUNT = Decimal("1000000000")
MAX_FEE_RATE = Decimal("0.5")
DEFAULT_VENUE = "binance"
_PERIOD_MONTHS = {FeePeriod.MONTHLY: 1, FeePeriod.QUARTERLY: 3, FeePeriod.YEARLY: 12}


def period_end(at: datetime, period: FeePeriod) -> datetime:
    """The first instant after the fee period holding ``at`` (calendar months, quarters, years in UTC)."""
    months = _PERIOD_MONTHS[period]
    index = at.year * 12 + at.month - 1
    start = index - index % months if period != FeePeriod.YEARLY else at.year * 12
    end = start + months
    return day_start(at).replace(year=end // 12, month=end % 12 + 1, day=1)


def floor_shares(value: Decimal) -> Decimal:
    return value.quantize(SHARE_STEP, rounding=ROUND_DOWN)


def floor_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def nav_per_share(equity: Decimal, shares: Decimal) -> Decimal:
    """Reported NAV per share: 1 for a vault with no shares."""
    if shares <= 0:
        return Decimal(1)
    return (equity / shares).quantize(NAV_STEP, rounding=ROUND_DOWN)


@dataclass
class VaultSpec:
    name: str
    description: str
    manager_bot_id: str | None
    performance_fee_rate: Decimal
    fee_period: FeePeriod
    minimum_deposit: Decimal
    venue_id: str | None = None


@dataclass
class Moved:
    """A deposit or withdrawal done: the position after it and what moved."""

    vault: Vault
    position: VaultPosition
    shares: Decimal
    amount: Decimal
    fee_shares: Decimal
    nav_per_share: Decimal


async def vault_equity(account_id: object, conn: BaseDBAsyncClient | None = None) -> tuple[Decimal, Decimal, Decimal]:
    """(equity, cash, free cash) of the vault account now: quote cash plus every position at its mark."""
    account = await VenueAccount.get(id=account_id, using_db=conn)
    cash = await Balance.get_or_none(account_id=account_id, asset=account.quote_asset, using_db=conn)
    total = cash.total if cash is not None else ZERO
    free = total - cash.reserved if cash is not None else ZERO
    held = ZERO
    rows = await Position.filter(account_id=account_id, quantity__gt=0).using_db(conn).values_list("symbol", "quantity")
    if rows:
        marks = dict(
            await LastPrice.filter(instrument__symbol__in=[s for s, _ in rows])
            .using_db(conn)
            .values_list("instrument__symbol", "price")
        )
        held = sum((quantity * marks.get(symbol, ZERO) for symbol, quantity in rows), ZERO)
    return total + held, total, free


def _amount(value: Decimal, field: str = "amount") -> Decimal:
    if not value.is_finite() or value <= 0:
        raise Invalid(f"{field} must be positive", field=field)
    if value > MAX_AMOUNT:
        raise Invalid(f"{field} may be at most {MAX_AMOUNT}", field=field)
    if value % AMOUNT_STEP:
        raise Invalid(f"{field} has at most 6 decimal places", field=field)
    return value


# -- create ------------------------------------------------------------------------------------------------


async def _check(spec: VaultSpec) -> tuple[str, str]:
    name = spec.name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("name must be 1 to 100 characters", field="input.name")
    description = spec.description.strip()
    if len(description) > 1000:
        raise Invalid("description is at most 1000 characters", field="input.description")
    rate = spec.performance_fee_rate
    if not rate.is_finite() or not ZERO <= rate <= MAX_FEE_RATE:
        raise Invalid(f"performanceFeeRate is a fraction from 0 to {MAX_FEE_RATE}", field="input.performanceFeeRate")
    if rate % Decimal("0.0001"):
        raise Invalid("performanceFeeRate has at most 4 decimal places", field="input.performanceFeeRate")
    minimum = spec.minimum_deposit
    if not minimum.is_finite() or minimum < 0 or minimum > MAX_AMOUNT or minimum % AMOUNT_STEP:
        raise Invalid(
            f"minimumDeposit must be from 0 to {MAX_AMOUNT} with at most 6 decimals", field="input.minimumDeposit"
        )
    if await Vault.filter(name=name).exists():
        raise Conflict("a vault of that name exists", field="input.name")
    return name, description


async def create_vault(deps: Deps, actor: Actor, spec: VaultSpec) -> Vault:
    """Create a vault with its own paper account (cash 0). With a manager bot: the account is its owner's,
    on its venue, and the (stopped) bot is moved onto it; without one the creating admin manages it."""
    async with audit.refusals(actor, Action.VAULT_CREATE, target_type="Vault", detail={"name": spec.name[:100]}):
        if not actor.is_admin:
            raise NotAllowed("only admins create vaults")
        name, description = await _check(spec)
        manager_id: object = actor.user.id
        venue_id = spec.venue_id or DEFAULT_VENUE
        bot: Bot | None = None
        if spec.manager_bot_id is not None:
            bot = await Bot.get_or_none(id=spec.manager_bot_id)
            if bot is None:
                raise Missing("no such bot", field="input.managerBotId")
            bot_account = await VenueAccount.get(id=bot.account_id)
            if spec.venue_id is not None and spec.venue_id != bot_account.venue_id:
                raise Invalid("a bot-managed vault trades on the bot's venue", field="input.venueId")
            venue_id = bot_account.venue_id
            manager_id = bot.user_id
        venue = await Venue.get_or_none(id=venue_id)
        if venue is None or not venue.supports_paper or venue.id == PERP_VENUE:
            raise Invalid("venueId must be a spot venue with paper trading", field="input.venueId")
        async with in_transaction() as conn:
            if bot is not None:
                bot = await Bot.filter(id=bot.id).using_db(conn).select_for_update().get()
                if bot.status not in (BotStatus.STOPPED, BotStatus.ERROR):
                    raise Conflict("stop the bot before it takes a vault over", field="input.managerBotId")
                if await Vault.filter(manager_bot_id=bot.id).using_db(conn).exists():
                    raise Conflict("that bot already manages a vault", field="input.managerBotId")
            account = await VenueAccount.create(
                user_id=manager_id,
                venue_id=venue.id,
                environment=Environment.PAPER,
                label=f"Vault: {name}"[:100],
                starting_balance=ZERO,
                using_db=conn,
            )
            await Balance.create(account_id=account.id, asset=account.quote_asset, total=ZERO, using_db=conn)
            now = datetime.now(UTC)
            vault = await Vault.create(
                name=name,
                description=description,
                manager_user_id=manager_id,
                manager_bot_id=bot.id if bot is not None else None,
                account_id=account.id,
                performance_fee_rate=spec.performance_fee_rate,
                fee_period=spec.fee_period,
                minimum_deposit=spec.minimum_deposit,
                next_crystallization_at=period_end(now, spec.fee_period),
                created_by=actor.user.id,
                using_db=conn,
            )
            if bot is not None:
                bot.account_id = account.id
                await bot.save(using_db=conn, update_fields=["account_id", "updated_at"])
                line = await bot_actions.log(
                    bot.id, LogLevel.INFO, f"now manages vault {name}", conn, account=str(account.id)
                )
            await audit.by(
                actor,
                Action.VAULT_CREATE,
                Outcome.SUCCESS,
                target_type="Vault",
                target_id=vault.id,
                detail={
                    "name": name,
                    "account": str(account.id),
                    "manager": str(manager_id),
                    "bot": str(bot.id) if bot is not None else None,
                    "performanceFeeRate": str(spec.performance_fee_rate),
                    "feePeriod": spec.fee_period.value,
                    "minimumDeposit": str(spec.minimum_deposit),
                },
                conn=conn,
            )
        if bot is not None:
            await bot_actions.announce(deps, bot, line)
        return vault


# -- deposit / withdraw ------------------------------------------------------------------------------------


async def _source(actor: Actor, account_id: str, vault: Vault) -> VenueAccount:
    account = await VenueAccount.get_or_none(id=account_id)
    if account is None or str(account.user_id) != actor.user_id:
        raise Missing("no such venue account", field="venueAccountId")
    if account.environment != Environment.PAPER:
        raise Invalid("vaults take deposits from PAPER accounts", field="venueAccountId")
    if account.status != AccountStatus.CONNECTED:
        raise Invalid("the venue account is not connected", code="ACCOUNT_DISCONNECTED", field="venueAccountId")
    if await Vault.filter(account_id=account.id).exists():
        raise Invalid("a vault account cannot deposit into a vault", field="venueAccountId")
    vault_account = await VenueAccount.get(id=vault.account_id)
    if account.quote_asset != vault_account.quote_asset:
        raise Invalid(f"the vault takes {vault_account.quote_asset}", field="venueAccountId")
    return account


async def _free_cash(deps: Deps, conn: BaseDBAsyncClient, account: VenueAccount, cash: Balance) -> Decimal:
    if account.venue_id == PERP_VENUE:
        held = [p for p in await PerpPosition.filter(account_id=account.id).using_db(conn) if p.size != 0]
        return withdrawable(cash, held, await deps.engine.perps.marks(conn))
    return cash.total - cash.reserved


async def _position(conn: BaseDBAsyncClient, vault_id: object, user_id: object) -> VaultPosition:
    row = await VaultPosition.filter(vault_id=vault_id, user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        row = await VaultPosition.create(vault_id=vault_id, user_id=user_id, using_db=conn)
    return row


async def _lock_vault(conn: BaseDBAsyncClient, vault_id: object) -> Vault:
    return await Vault.filter(id=vault_id).using_db(conn).select_for_update().get()


async def _find(vault_id: str) -> Vault:
    vault = await Vault.get_or_none(id=vault_id)
    if vault is None:
        raise Missing("no such vault", field="vaultId")
    return vault


async def deposit(deps: Deps, actor: Actor, vault_id: str, account_id: str, amount: Decimal) -> Moved:
    """Move ``amount`` from the caller's paper account into the vault and issue shares at the NAV per share."""
    async with audit.refusals(actor, Action.VAULT_DEPOSIT, target_type="Vault", target_id=vault_id):
        vault = await _find(vault_id)
        amount = _amount(amount)
        if amount < vault.minimum_deposit:
            raise Invalid(f"the minimum deposit is {vault.minimum_deposit}", code="BELOW_MINIMUM", field="amount")
        source = await _source(actor, account_id, vault)
        async with in_transaction() as conn:
            for locked in sorted((str(source.id), str(vault.account_id))):
                await lock_account(conn, locked)
            vault = await _lock_vault(conn, vault.id)
            cash = await Balance.get(account_id=source.id, asset=source.quote_asset, using_db=conn)
            free = await _free_cash(deps, conn, source, cash)
            if amount > free:
                raise FundsShort(
                    f"{amount} {cash.asset} is more than the {free} free in the account",
                    asset=cash.asset,
                    required=amount,
                    available=free,
                    field="amount",
                )
            equity, _, _ = await vault_equity(vault.account_id, conn)
            outstanding = vault.shares_outstanding
            if outstanding > 0 and equity <= 0:
                raise Invalid("the vault has no equity left; it takes no deposits", code="VAULT_EMPTY", field="vaultId")
            shares = floor_shares(amount if outstanding <= 0 else amount * outstanding / equity)
            if shares <= 0:
                raise Invalid("the amount buys no share (8 decimal places)", field="amount")
            price = nav_per_share(equity, outstanding)
            target = await Balance.get(account_id=vault.account_id, asset=cash.asset, using_db=conn)
            postings = Postings(conn)
            detail = {"vault": str(vault.id), "fromUser": actor.user_id, "toUser": str(vault.manager_user_id)}
            await postings.transfer(cash, actor.user.id, target, vault.manager_user_id, amount, **detail)
            await postings.flush()
            await cash.save(using_db=conn)
            await target.save(using_db=conn)
            position = await _position(conn, vault.id, actor.user.id)
            held = position.shares
            position.high_water_mark = (
                price if held <= 0 else (held * position.high_water_mark + shares * price) / (held + shares)
            ).quantize(NAV_STEP)
            position.shares = held + shares
            position.cost_basis += amount
            position.deposited += amount
            position.payout_account_id = source.id
            await position.save(using_db=conn)
            vault.shares_outstanding = outstanding + shares
            await vault.save(using_db=conn, update_fields=["shares_outstanding"])
            await VaultEntry.create(
                vault_id=vault.id,
                user_id=actor.user.id,
                kind=VaultEntryKind.DEPOSIT,
                shares=shares,
                amount=amount,
                nav_per_share=price,
                using_db=conn,
            )
            await audit.by(
                actor,
                Action.VAULT_DEPOSIT,
                Outcome.SUCCESS,
                target_type="Vault",
                target_id=vault.id,
                detail={
                    "amount": str(amount),
                    "shares": str(shares),
                    "navPerShare": str(price),
                    "from": str(source.id),
                },
                conn=conn,
            )
        return Moved(vault, position, shares, amount, ZERO, price)


def _fee_shares(vault: Vault, position: VaultPosition, shares: Decimal, price: Decimal) -> Decimal:
    """The performance fee, in shares, due on ``shares`` of ``position`` at ``price`` (NAV per share)."""
    if position.user_id == vault.manager_user_id or price <= position.high_water_mark or price <= 0:
        return ZERO
    gain = (price - position.high_water_mark) * shares * vault.performance_fee_rate
    return floor_shares(gain / price)


async def _pay_fee(
    conn: BaseDBAsyncClient, vault: Vault, position: VaultPosition, fee: Decimal, price: Decimal
) -> None:
    """Move ``fee`` shares from ``position`` to the manager's (saved by the caller: ``position``)."""
    if fee <= 0:
        return
    position.shares -= fee
    position.fees_paid += fee * price
    manager = await _position(conn, vault.id, vault.manager_user_id)
    manager.shares += fee
    await manager.save(using_db=conn)
    await VaultEntry.create(
        vault_id=vault.id,
        user_id=position.user_id,
        kind=VaultEntryKind.FEE,
        shares=-fee,
        amount=fee * price,
        nav_per_share=price,
        using_db=conn,
    )


async def withdraw(deps: Deps, actor: Actor, vault_id: str, shares: Decimal, account_id: str | None = None) -> Moved:
    """Burn ``shares`` of the caller's position and pay them out at the NAV per share, less the performance
    fee on their gain above the high-water mark, into the account of their last deposit (or ``account_id``).
    Refused when the vault's free cash cannot pay it: the manager must reduce positions first."""
    async with audit.refusals(actor, Action.VAULT_WITHDRAW, target_type="Vault", target_id=vault_id):
        vault = await _find(vault_id)
        if not shares.is_finite() or shares <= 0:
            raise Invalid("shares must be positive", field="shares")
        if shares % SHARE_STEP:
            raise Invalid("shares have at most 8 decimal places", field="shares")
        mine = await VaultPosition.get_or_none(vault_id=vault.id, user_id=actor.user.id)
        if mine is None or mine.shares <= 0:
            raise Missing("you hold no shares of this vault", field="vaultId")
        target_id = account_id or (str(mine.payout_account_id) if mine.payout_account_id else None)
        if target_id is None:
            raise Invalid("name the account to pay into", field="venueAccountId")
        target = await _source(actor, target_id, vault)
        async with in_transaction() as conn:
            for locked in sorted((str(target.id), str(vault.account_id))):
                await lock_account(conn, locked)
            vault = await _lock_vault(conn, vault.id)
            position = await _position(conn, vault.id, actor.user.id)
            if shares > position.shares:
                raise Invalid(f"you hold {position.shares} shares", code="INSUFFICIENT_SHARES", field="shares")
            equity, _, free = await vault_equity(vault.account_id, conn)
            outstanding = vault.shares_outstanding
            price = nav_per_share(equity, outstanding)
            fee = _fee_shares(vault, position, shares, price)
            burned = shares - fee
            payout = floor_cents(burned * equity / outstanding)
            if payout > free:
                raise FundsShort(
                    f"the vault has {free} free cash and this withdrawal needs {payout}: the manager must reduce "
                    "positions first",
                    asset=target.quote_asset,
                    required=payout,
                    available=free,
                    code="VAULT_CASH_SHORT",
                    field="shares",
                )
            held = position.shares
            await _pay_fee(conn, vault, position, fee, price)
            position.cost_basis = ZERO if shares == held else position.cost_basis * (held - shares) / held
            position.cost_basis = position.cost_basis.quantize(NAV_STEP)
            position.shares -= burned
            position.withdrawn += payout
            await position.save(using_db=conn)
            vault.shares_outstanding = outstanding - burned
            await vault.save(using_db=conn, update_fields=["shares_outstanding"])
            if payout > 0:
                source = await Balance.get(account_id=vault.account_id, asset=target.quote_asset, using_db=conn)
                cash = await Balance.get(account_id=target.id, asset=target.quote_asset, using_db=conn)
                postings = Postings(conn)
                detail = {"vault": str(vault.id), "fromUser": str(vault.manager_user_id), "toUser": actor.user_id}
                await postings.transfer(source, vault.manager_user_id, cash, actor.user.id, payout, **detail)
                await postings.flush()
                await source.save(using_db=conn)
                await cash.save(using_db=conn)
            await VaultEntry.create(
                vault_id=vault.id,
                user_id=actor.user.id,
                kind=VaultEntryKind.WITHDRAWAL,
                shares=-burned,
                amount=payout,
                nav_per_share=price,
                using_db=conn,
            )
            await audit.by(
                actor,
                Action.VAULT_WITHDRAW,
                Outcome.SUCCESS,
                target_type="Vault",
                target_id=vault.id,
                detail={
                    "shares": str(shares),
                    "feeShares": str(fee),
                    "payout": str(payout),
                    "navPerShare": str(price),
                    "to": str(target.id),
                },
                conn=conn,
            )
        return Moved(vault, position, burned, payout, fee, price)


# -- fees ----------------------------------------------------------------------------------------------------


@dataclass
class Crystallized:
    vault: Vault
    nav_per_share: Decimal
    fee_shares: Decimal
    positions_charged: int


async def _crystallize(conn: BaseDBAsyncClient, vault: Vault, now: datetime) -> Crystallized:
    """Charge every position above its HWM at the NAV per share now, under the vault account and row locks."""
    equity, _, _ = await vault_equity(vault.account_id, conn)
    price = nav_per_share(equity, vault.shares_outstanding)
    total = ZERO
    charged = 0
    if vault.shares_outstanding > 0:
        rows = (
            await VaultPosition.filter(vault_id=vault.id, shares__gt=0)
            .exclude(user_id=vault.manager_user_id)
            .using_db(conn)
            .order_by("id")
            .select_for_update()
        )
        for position in rows:
            fee = _fee_shares(vault, position, position.shares, price)
            if price > position.high_water_mark:
                position.high_water_mark = price
            if fee > 0:
                await _pay_fee(conn, vault, position, fee, price)
                total += fee
                charged += 1
            await position.save(using_db=conn)
    vault.last_crystallized_at = now
    vault.next_crystallization_at = period_end(now, vault.fee_period)
    await vault.save(using_db=conn, update_fields=["last_crystallized_at", "next_crystallization_at"])
    return Crystallized(vault, price, total, charged)


async def crystallize(deps: Deps, actor: Actor, vault_id: str) -> Crystallized:
    """Crystallise the performance fee now (admins; the period end does it on its own)."""
    async with audit.refusals(actor, Action.VAULT_CRYSTALLIZE, target_type="Vault", target_id=vault_id):
        if not actor.is_admin:
            raise NotAllowed("only admins crystallise vault fees")
        vault = await _find(vault_id)
        async with in_transaction() as conn:
            await lock_account(conn, str(vault.account_id))
            vault = await _lock_vault(conn, vault.id)
            done = await _crystallize(conn, vault, datetime.now(UTC))
            await audit.by(
                actor,
                Action.VAULT_CRYSTALLIZE,
                Outcome.SUCCESS,
                target_type="Vault",
                target_id=vault.id,
                detail={
                    "navPerShare": str(done.nav_per_share),
                    "feeShares": str(done.fee_shares),
                    "positions": done.positions_charged,
                },
                conn=conn,
            )
        return done


async def crystallize_due(now: datetime) -> int:
    """Crystallise every vault whose fee period ended (run by the feed leader; audited as the system)."""
    due = await Vault.filter(next_crystallization_at__lte=now).values_list("id", "account_id")
    for vault_id, account_id in due:
        async with in_transaction() as conn:
            await lock_account(conn, str(account_id))
            vault = await _lock_vault(conn, vault_id)
            if vault.next_crystallization_at > now:
                continue
            done = await _crystallize(conn, vault, now)
            await audit.record(
                Action.VAULT_CRYSTALLIZE,
                Outcome.SUCCESS,
                actor_label="system",
                target_type="Vault",
                target_id=vault.id,
                detail={"navPerShare": str(done.nav_per_share), "feeShares": str(done.fee_shares), "period": True},
                conn=conn,
            )
    return len(due)


# -- reads ---------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """A vault's figures now (``high_water_mark``: the reader's, if they hold it)."""

    equity: Decimal
    cash: Decimal
    free_cash: Decimal
    shares_outstanding: Decimal
    nav_per_share: Decimal
    depositors: int
    venue: str
    high_water_mark: Decimal | None = None

    def value_of(self, shares: Decimal) -> Decimal:
        """What ``shares`` are worth, rounded down to the cent (what withdrawing them pays before any fee)."""
        if self.shares_outstanding <= 0:
            return ZERO
        return floor_cents(shares * self.equity / self.shares_outstanding)


async def figures_of(vaults: list[Vault], reader_id: object) -> dict[object, Figures]:
    """Every vault's figures, in a fixed number of queries whatever their count."""
    ids = [str(v.account_id) for v in vaults]
    values = await account_values(ids, await marks_by_symbol()) if ids else {}
    accounts = {
        str(a): (q, venue)
        for a, q, venue in await VenueAccount.filter(id__in=ids).values_list("id", "quote_asset", "venue_id")
    }
    quotes = {a: q for a, (q, _) in accounts.items()}
    reserved: dict[str, Decimal] = {}
    for account_id, asset, amount in await Balance.filter(account_id__in=ids).values_list(
        "account_id", "asset", "reserved"
    ):
        if quotes.get(str(account_id)) == asset:
            reserved[str(account_id)] = amount
    counts: dict[object, int] = {}
    for vault_id in await VaultPosition.filter(vault_id__in=[v.id for v in vaults], shares__gt=0).values_list(
        "vault_id", flat=True
    ):
        counts[vault_id] = counts.get(vault_id, 0) + 1
    marks = dict(
        await VaultPosition.filter(vault_id__in=[v.id for v in vaults], user_id=reader_id, shares__gt=0).values_list(
            "vault_id", "high_water_mark"
        )
    )
    found: dict[object, Figures] = {}
    for vault in vaults:
        equity, cash = values[str(vault.account_id)]
        shares = vault.shares_outstanding
        free = cash - reserved.get(str(vault.account_id), ZERO)
        price = nav_per_share(equity, shares)
        venue = accounts[str(vault.account_id)][1]
        found[vault.id] = Figures(
            equity, cash, free, shares, price, counts.get(vault.id, 0), venue, marks.get(vault.id)
        )
    return found


async def equity_history(account_id: str, limit: int) -> list[tuple[datetime, Decimal]]:
    """The vault account's last ``limit`` equity snapshots, oldest first."""
    rows = await EquitySnapshot.filter(account_id=account_id).order_by("-ts").limit(limit).values_list("ts", "equity")
    return [(at, equity) for at, equity in reversed(rows)]


@dataclass
class Holding:
    vault: Vault
    position: VaultPosition
    figures: Figures

    @property
    def value(self) -> Decimal:
        return self.figures.value_of(self.position.shares)

    @property
    def pnl(self) -> Decimal:
        return self.value - self.position.cost_basis

    @property
    def income(self) -> Decimal:
        """Value now plus what was paid out, less what was paid in."""
        return self.value + self.position.withdrawn - self.position.deposited


async def holdings(user_id: object) -> list[Holding]:
    """The user's positions (every vault they ever held), valued now."""
    rows = await VaultPosition.filter(user_id=user_id).order_by("id")
    vaults = {v.id: v for v in await Vault.filter(id__in=[r.vault_id for r in rows])}
    figures = await figures_of(list(vaults.values()), user_id)
    return [Holding(vaults[row.vault_id], row, figures[row.vault_id]) for row in rows]
