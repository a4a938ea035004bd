"""Positions and the portfolio: live marks, PnL, closing, performance history, risk, and their streams."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import strawberry
from tortoise.transactions import in_transaction

from graphql_api.context import Context, Info
from graphql_api.engine import risk
from graphql_api.engine.equity import account_values, marks_by_symbol
from graphql_api.engine.matching import Changes, OrderRequest, lock_account
from graphql_api.errors import BadUserInput
from graphql_api.pagination import parse_id, to_global_id
from graphql_api.permissions import ensure_owner, target_user
from graphql_api.pubsub import batches, channel
from models.market import Instrument
from models.trading import WORKING, EquitySnapshot, OrderType, Side, TimeInForce
from models.trading import Order as OrderRow
from models.trading import Position as PositionRow
from models.venues import Environment, VenueAccount
from schema.common import GlobalID, NotFound, invalid
from schema.trading import (
    AllocationEntry,
    CloseAllResult,
    ClosePositionResult,
    EquityPoint,
    OrderPlaced,
    Period,
    PlaceOrderResult,
    Portfolio,
    PortfolioUpdate,
    Position,
    PositionFilter,
    PositionsClosed,
    PositionUpdate,
    RiskMetrics,
)

from .orders import submit
from .venues import owned_account

_PERIODS = {
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(days=7),
    "MONTH": timedelta(days=30),
}
_SECONDS_PER_YEAR = 365 * 24 * 3600
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


async def position_node(info: Info, pk: str) -> Position | None:
    row = await PositionRow.get_or_none(id=pk)
    if row is None:
        return None
    ensure_owner(info, row.user_id)
    return position_view(row, (await marks_by_symbol())[row.symbol])


async def close_position(info: Info, id: GlobalID) -> ClosePositionResult:
    """Cancel the position's working sell orders, then sell all of it at market."""
    row = await PositionRow.get_or_none(id=parse_id(id, "Position"))
    if row is None:
        return NotFound(message="no such position", code="NOT_FOUND", field="id")
    ensure_owner(info, row.user_id)
    placed = await _close(info.context, [row])
    if not placed:
        return invalid("the position is already flat", "id", code="POSITION_FLAT")
    return placed[0]


async def close_all_positions(
    info: Info, venue_account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")]
) -> CloseAllResult:
    account = await owned_account(info, venue_account_id)
    if isinstance(account, NotFound):
        return account
    rows = await _positions(str(account.user_id), str(account.id), None, False)
    placed = await _close(info.context, rows)
    return PositionsClosed(orders=[p.order for p in placed if isinstance(p, OrderPlaced)])


async def _close(ctx: Context, rows: Iterable[PositionRow]) -> list[PlaceOrderResult]:
    results: list[PlaceOrderResult] = []
    for row in rows:
        changes = Changes()
        async with in_transaction() as conn:
            await lock_account(conn, str(row.account_id))
            sells = await OrderRow.filter(
                account_id=row.account_id, symbol=row.symbol, side=Side.SELL, status__in=list(WORKING)
            ).using_db(conn)
            await ctx.engine.cancel_working(conn, sells, "cancelled to close the position", changes)
        await ctx.engine.publish(changes)
        await row.refresh_from_db()
        if row.quantity <= 0:
            continue
        request = OrderRequest(
            account_id=str(row.account_id),
            user_id=str(row.user_id),
            symbol=row.symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            quantity=row.quantity,
            price=None,
            stop_price=None,
            client_order_id=None,
        )
        results.append(await submit(ctx, request, action="position.close"))
    return results


async def _paper_accounts(owner: str) -> list[str]:
    return [
        str(a)
        for a in await VenueAccount.filter(user_id=owner, environment=Environment.PAPER).values_list("id", flat=True)
    ]


async def compute_portfolio(owner: str) -> Portfolio:
    """Valued at the latest marks. A fixed number of queries, however many accounts and positions."""
    now = datetime.now(UTC)
    accounts = await _paper_accounts(owner)
    marks = await marks_by_symbol()
    values = await account_values(accounts, marks)
    cash = sum((c for _, c in values.values()), Decimal(0))
    total = sum((e for e, _ in values.values()), Decimal(0))
    held = await PositionRow.filter(account_id__in=accounts)
    by_asset: dict[str, Decimal] = {}
    unrealized = realized = Decimal(0)
    for row in held:
        realized += row.realized_pnl
        if row.quantity > 0:
            mark = marks[row.symbol]
            by_asset[row.symbol] = by_asset.get(row.symbol, Decimal(0)) + row.quantity * mark
            unrealized += row.quantity * (mark - row.average_entry_price)
    quote = "USDC"
    allocation = [AllocationEntry(asset=quote, value=cash, percent=_percent(cash, total))] if accounts else []
    allocation += [AllocationEntry(asset=a, value=v, percent=_percent(v, total)) for a, v in by_asset.items()]
    allocation.sort(key=lambda entry: entry.value, reverse=True)
    start = await _value_at(accounts, now.replace(hour=0, minute=0, second=0, microsecond=0))
    daily = total - start if start is not None else Decimal(0)
    return Portfolio(
        total_value=total,
        cash=cash,
        positions_value=total - cash,
        unrealized_pnl=unrealized,
        realized_pnl=realized,
        daily_pnl=daily,
        daily_pnl_percent=_percent(daily, start) if start else Decimal(0),
        allocation=allocation,
        as_of=now,
        account_ids=accounts,
    )


def _percent(part: Decimal, whole: Decimal | None) -> Decimal:
    return (part / whole * _HUNDRED).quantize(Decimal("0.0001")) if whole else Decimal(0)


async def _value_at(accounts: list[str], moment: datetime) -> Decimal | None:
    """Total equity at ``moment``: each account's last snapshot at or before it, else its first after it
    (an account opened during the day starts from its first recorded value)."""
    if not accounts:
        return None
    before = (
        await EquitySnapshot.filter(account_id__in=accounts, ts__lte=moment, ts__gt=moment - timedelta(days=1))
        .order_by("-ts")
        .values_list("account_id", "equity")
    )
    seen: dict[str, Decimal] = {}
    for account_id, equity in before:
        seen.setdefault(str(account_id), equity)
    missing = [a for a in accounts if a not in seen]
    if missing:
        after = (
            await EquitySnapshot.filter(account_id__in=missing, ts__gt=moment)
            .order_by("ts")
            .values_list("account_id", "equity")
        )
        for account_id, equity in after:
            seen.setdefault(str(account_id), equity)
    return sum(seen.values(), Decimal(0)) if seen else None


async def portfolio(
    info: Info,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user.")] = None,
) -> Portfolio:
    return await compute_portfolio(target_user(info, user_id))


async def _history(account_ids: list[str], period: Period) -> list[tuple[datetime, Decimal, Decimal | None]]:
    """Summed equity per snapshot instant: (ts, equity, BTC price)."""
    query = EquitySnapshot.filter(account_id__in=account_ids)
    window = _PERIODS.get(period.name)
    if window is not None:
        query = query.filter(ts__gte=datetime.now(UTC) - window)
    sums: dict[datetime, list[Decimal | None]] = {}
    for ts, equity, bench in await query.order_by("ts").values_list("ts", "equity", "benchmark_price"):
        slot = sums.setdefault(ts, [Decimal(0), bench])
        slot[0] = (slot[0] or Decimal(0)) + equity
    return [(ts, values[0] or Decimal(0), values[1]) for ts, values in sums.items()]


async def performance_history(info: Info, account_ids: list[str], period: Period) -> list[EquityPoint]:
    return [EquityPoint(timestamp=ts, equity=equity) for ts, equity, _ in await _history(account_ids, period)]


async def risk_metrics(info: Info, account_ids: list[str], period: Period) -> RiskMetrics:
    history = await _history(account_ids, period)
    periods_per_year = max(1, _SECONDS_PER_YEAR // info.context.settings.equity_snapshot_interval)
    if not history:
        return RiskMetrics(
            observations=0,
            value_at_risk_95=Decimal(0),
            sharpe_ratio=None,
            beta=None,
            max_drawdown=Decimal(0),
            volatility=None,
        )
    equity = [(ts, value) for ts, value, _ in history]
    benchmark = [(ts, price) for ts, _, price in history if price is not None]
    result = risk.compute_risk(equity, benchmark, periods_per_year)
    return RiskMetrics(
        observations=result.returns,
        value_at_risk_95=result.var95 if result.var95 is not None else Decimal(0),
        sharpe_ratio=result.sharpe,
        beta=result.beta,
        max_drawdown=result.max_drawdown,
        volatility=result.volatility,
    )


async def position_updates(
    info: Info,
    venue_account_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this account's positions.")
    ] = None,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user.")] = None,
) -> AsyncGenerator[PositionUpdate, None]:
    owner = target_user(info, user_id)
    account = parse_id(venue_account_id, "VenueAccount", "venueAccountId") if venue_account_id else None
    if account is not None and not await VenueAccount.filter(id=account, user_id=owner).exists():
        raise BadUserInput("venueAccountId does not name one of the subscriber's accounts", field="venueAccountId")
    return _position_stream(info.context, owner, account)


async def _position_stream(ctx: Context, owner: str, account: str | None) -> AsyncGenerator[PositionUpdate, None]:
    """Open positions first; then a position again whenever a fill changes it or its mark moves."""
    symbols = [str(s) for s in await Instrument.all().values_list("symbol", flat=True)]
    names = [channel("positions", owner)] + [channel("price", s) for s in symbols]
    sequence = 0
    async with ctx.bus.subscribe(names) as events:
        marks = await marks_by_symbol()
        rows = await _positions(owner, account, None, False)
        for row in rows:
            sequence += 1
            yield PositionUpdate(position=position_view(row, marks[row.symbol]), sequence=sequence, snapshot=True)
        held = {row.symbol for row in rows}
        async for batch in batches(events, _COALESCE_SECONDS):
            resync = any(e.resync for e in batch)
            filled = {
                (e.payload["accountId"], e.payload["symbol"]) for e in batch if e.payload and "accountId" in e.payload
            }
            moved = {e.payload["symbol"] for e in batch if e.payload and "accountId" not in e.payload}
            if not (resync or filled or moved & held):
                continue  # only prices of instruments the owner does not hold moved: nothing to read
            marks = await marks_by_symbol()
            rows = await _positions(owner, account, None, True)
            held = {row.symbol for row in rows if row.quantity > 0}
            for row in rows:
                # Open positions move with their mark; a flat one is news only on the fill that closed it.
                if resync or (str(row.account_id), row.symbol) in filled or (row.quantity > 0 and row.symbol in moved):
                    sequence += 1
                    yield PositionUpdate(
                        position=position_view(row, marks[row.symbol]), sequence=sequence, snapshot=resync
                    )


async def portfolio_updates(
    info: Info,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user.")] = None,
) -> AsyncGenerator[PortfolioUpdate, None]:
    return _portfolio_stream(info.context, target_user(info, user_id))


async def _portfolio_stream(ctx: Context, owner: str) -> AsyncGenerator[PortfolioUpdate, None]:
    """The portfolio now, then again after each change of the owner's trading or of a held asset's mark."""
    symbols = [str(s) for s in await Instrument.all().values_list("symbol", flat=True)]
    names = [channel("portfolio", owner)] + [channel("price", s) for s in symbols]
    sequence = 1
    async with ctx.bus.subscribe(names) as events:
        current = await compute_portfolio(owner)
        yield PortfolioUpdate(portfolio=current, sequence=sequence, snapshot=True)
        async for batch in batches(events, _COALESCE_SECONDS):
            held = {entry.asset for entry in current.allocation}
            relevant = [
                e
                for e in batch
                if e.resync or e.payload is None or e.payload.get("symbol", "") in held or "userId" in e.payload
            ]
            if not relevant:
                continue
            current = await compute_portfolio(owner)
            sequence += 1
            yield PortfolioUpdate(portfolio=current, sequence=sequence, snapshot=any(e.resync for e in batch))
