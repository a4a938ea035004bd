"""Perp actions and reads: leverage and margin mode per asset, and an account's margin state (formulas in
``engine/margin.py``, accounting in ``engine/perps.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.market import Instrument
from models.perps import MarginMode, PerpPosition, PerpSetting
from models.venues import AccountStatus, Balance, Environment, VenueAccount

from .. import audit
from ..audit import Action
from ..engine import margin as mg
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE, PerpMark, liquidation_price_of, risk_of
from ..engine.types import Changes
from ..ownership import Actor
from ..rejections import FundsShort, Invalid
from .deps import Deps
from .orders import trading_account

ZERO = Decimal(0)


@dataclass
class PositionState:
    row: PerpPosition
    asset_index: int
    oracle: Decimal
    mark: Decimal
    unrealized_pnl: Decimal
    position_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_used: Decimal
    liquidation_price: Decimal | None


@dataclass
class AccountState:
    account: VenueAccount
    cash: Balance
    positions: list[PositionState]
    funding_paid: Decimal
    unrealized_pnl: Decimal
    cross_initial: Decimal
    cross_maintenance: Decimal
    withdrawable: Decimal

    @property
    def collateral(self) -> Decimal:
        return self.cash.total + self.funding_paid

    @property
    def account_value(self) -> Decimal:
        return self.collateral + self.unrealized_pnl - self.funding_paid


@dataclass
class LeverageSet:
    account_id: str
    symbol: str
    asset_index: int
    leverage: int
    margin_mode: MarginMode


async def perp_account(actor: Actor, account_id: str, field: str = "venueAccountId") -> VenueAccount:
    """The caller's own connected paper account on the perp venue."""
    account = await trading_account(actor, account_id, field)
    if account.venue_id != PERP_VENUE or account.environment != Environment.PAPER:
        raise Invalid("perpetuals trade on a Hyperliquid paper account", code="NOT_A_PERP_ACCOUNT", field=field)
    if account.status != AccountStatus.CONNECTED:
        raise Invalid("the venue account is not connected", code="ACCOUNT_DISCONNECTED", field=field)
    return account


async def instrument_at(asset_index: int) -> Instrument:
    instrument = await Instrument.get_or_none(asset_index=asset_index)
    if instrument is None:
        raise Invalid(f"no instrument has asset index {asset_index}", field="assetIndex")
    return instrument


def withdrawable(cash: Balance, positions: list[PerpPosition], marks: dict[str, PerpMark]) -> Decimal:
    """Cash no isolated position holds, as far as the cross positions' initial margin leaves it free."""
    risk = risk_of(cash, positions, marks)
    return max(ZERO, min(cash.total - cash.reserved, risk.cross_value - risk.cross_initial))


async def account_state(
    deps: Deps, account: VenueAccount, *, conn: BaseDBAsyncClient | None = None, include_flat: bool = False
) -> AccountState:
    marks = await deps.engine.perps.marks(conn)
    quote = account.quote_asset
    cash = await Balance.get(account_id=account.id, asset=quote, using_db=conn)
    rows = list(await PerpPosition.filter(account_id=account.id).using_db(conn).order_by("symbol"))
    indices = dict(await Instrument.all().using_db(conn).values_list("symbol", "asset_index"))
    held = [r for r in rows if r.size != 0]
    states = []
    unrealized = ZERO
    for row in rows if include_flat else held:
        m = marks[row.symbol]
        pnl = mg.unrealized(row.size, row.entry_price, m.mark)
        unrealized += pnl
        initial = mg.initial_margin(row.size, m.mark, row.leverage)
        states.append(
            PositionState(
                row=row,
                asset_index=int(indices[row.symbol]),
                oracle=m.oracle,
                mark=m.mark,
                unrealized_pnl=pnl,
                position_value=abs(row.size) * m.mark,
                initial_margin=initial,
                maintenance_margin=mg.maintenance_margin(row.symbol, row.size, m.mark),
                margin_used=row.isolated_margin if row.margin_mode == MarginMode.ISOLATED else initial,
                liquidation_price=liquidation_price_of(row, cash, held, marks),
            )
        )
    risk = risk_of(cash, held, marks)
    return AccountState(
        account=account,
        cash=cash,
        positions=states,
        funding_paid=sum((r.funding_paid for r in rows), ZERO),
        unrealized_pnl=unrealized,
        cross_initial=risk.cross_initial,
        cross_maintenance=risk.cross_maintenance,
        withdrawable=withdrawable(cash, held, marks),
    )


async def update_leverage(
    deps: Deps, actor: Actor, account_id: str, asset_index: int, leverage: int, mode: MarginMode
) -> LeverageSet:
    """Set the asset's leverage and margin mode for the account, and apply them to an open position.

    The margin mode cannot change while a position is open. With a position open, a cross leverage must
    leave the account's initial margin covered; a lower isolated leverage adds the margin it needs from free
    cash (a higher one keeps the margin already isolated)."""
    async with audit.refusals(actor, Action.PERP_UPDATE_LEVERAGE, target_type="VenueAccount", target_id=account_id):
        account = await perp_account(actor, account_id)
        instrument = await instrument_at(asset_index)
        most = mg.max_leverage(instrument.symbol)
        if not 1 <= leverage <= most:
            raise Invalid(f"leverage must be between 1 and {most} for {instrument.symbol}", field="leverage")
        changes = Changes()
        async with in_transaction() as conn:
            await lock_account(conn, str(account.id))
            position = await PerpPosition.get_or_none(account_id=account.id, symbol=instrument.symbol, using_db=conn)
            if position is not None and position.size != 0:
                await _reprice(deps, conn, account, position, leverage, mode)
                changes.positions[(str(account.id), instrument.symbol)] = str(account.user_id)
            updated = (
                await PerpSetting.filter(account_id=account.id, symbol=instrument.symbol)
                .using_db(conn)
                .update(leverage=leverage, margin_mode=mode)
            )
            if not updated:
                await PerpSetting.create(
                    account_id=account.id, symbol=instrument.symbol, leverage=leverage, margin_mode=mode, using_db=conn
                )
            await audit.by(
                actor,
                Action.PERP_UPDATE_LEVERAGE,
                Outcome.SUCCESS,
                target_type="VenueAccount",
                target_id=account.id,
                detail={"symbol": instrument.symbol, "leverage": leverage, "marginMode": mode.value},
                conn=conn,
            )
    await deps.engine.publish(changes)
    return LeverageSet(str(account.id), instrument.symbol, asset_index, leverage, mode)


async def _reprice(
    deps: Deps, conn: BaseDBAsyncClient, account: VenueAccount, position: PerpPosition, leverage: int, mode: MarginMode
) -> None:
    if MarginMode(position.margin_mode) != mode:
        raise Invalid(
            "the margin mode cannot change while a position is open", code="POSITION_OPEN", field="marginMode"
        )
    cash = await Balance.get(account_id=account.id, asset=account.quote_asset, using_db=conn)
    position.leverage = leverage
    if mode == MarginMode.ISOLATED:
        need = mg.q12(abs(position.size) * position.entry_price / leverage) - position.isolated_margin
        if need > 0:
            free = cash.total - cash.reserved
            if need > free:
                raise FundsShort(
                    f"the lower leverage needs {mg.q8(need)} {cash.asset} more margin; {mg.q8(free)} is free",
                    asset=cash.asset,
                    required=mg.q8(need),
                    available=mg.q8(free),
                    field="leverage",
                )
            position.isolated_margin += need
            cash.reserved += need
            await cash.save(using_db=conn)
    else:
        held = [p for p in await PerpPosition.filter(account_id=account.id).using_db(conn) if p.size != 0]
        held = [position if p.id == position.id else p for p in held]
        risk = risk_of(cash, held, await deps.engine.perps.marks(conn))
        if risk.cross_value < risk.cross_initial:
            raise FundsShort(
                f"at {leverage}x the account needs {mg.q8(risk.cross_initial)} {cash.asset} of margin; it has "
                f"{mg.q8(risk.cross_value)}",
                asset=cash.asset,
                required=mg.q8(risk.cross_initial),
                available=mg.q8(risk.cross_value),
                field="leverage",
            )
    await position.save(using_db=conn)
