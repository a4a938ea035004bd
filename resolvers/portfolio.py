"""The portfolio: the Query / Subscription fields of the portfolio domain."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import strawberry

from graphql_api import fanout
from graphql_api.context import Info
from graphql_api.engine.equity import account_values, marks_by_symbol
from graphql_api.events import channel_for, decode
from graphql_api.events.market import PriceTicked
from graphql_api.events.portfolio import PortfolioChanged
from graphql_api.permissions import IsAuthenticated, target_user
from graphql_api.pubsub import BusEvent
from models.market import Instrument
from models.portfolio import EquitySnapshot
from models.positions import Position as PositionRow
from models.venues import Environment, VenueAccount
from schema.portfolio import AllocationEntry, Portfolio, PortfolioUpdate

_HUNDRED = Decimal(100)
# Events within this window are folded into one recomputation (a feed tick publishes every symbol at once).
_COALESCE_SECONDS = 0.05


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


async def portfolio_updates(
    info: Info,
    user_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins: another user.")] = None,
) -> AsyncGenerator[PortfolioUpdate, None]:
    owner = target_user(info, user_id)
    return await fanout.stream(info, fanout.user_scope(info, owner), lambda: PortfolioStream(owner))


class PortfolioStream(fanout.Shared[PortfolioUpdate]):
    """The portfolio now, then again after each change of the owner's trading or of a held asset's mark."""

    window = _COALESCE_SECONDS

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.current: Portfolio | None = None

    async def prepare(self) -> None:
        symbols = [str(s) for s in await Instrument.all().values_list("symbol", flat=True)]
        self.channels = [channel_for(PortfolioChanged, self.owner)] + [channel_for(PriceTicked, s) for s in symbols]

    async def start(self) -> None:
        self.current = await compute_portfolio(self.owner)

    async def snapshot(self) -> list[PortfolioUpdate]:
        assert self.current is not None
        return [PortfolioUpdate(portfolio=self.current, sequence=fanout.SEQUENCE_MARK, snapshot=True)]

    async def update(self, batch: list[BusEvent]) -> list[PortfolioUpdate]:
        assert self.current is not None
        held = {entry.asset for entry in self.current.allocation}
        changes = [decode(e) for e in batch]
        relevant = [
            c
            for c in changes
            if c is None or isinstance(c, PortfolioChanged) or (isinstance(c, PriceTicked) and c.symbol in held)
        ]
        if not relevant:
            return []
        self.current = await compute_portfolio(self.owner)
        resync = any(e.resync for e in batch)
        return [PortfolioUpdate(portfolio=self.current, sequence=fanout.SEQUENCE_MARK, snapshot=resync)]


@strawberry.type
class Query:
    portfolio: Portfolio = strawberry.field(
        resolver=portfolio, permission_classes=[IsAuthenticated], description="Value, cash, PnL and allocation."
    )


@strawberry.type
class Subscription:
    portfolio_updates: AsyncGenerator[PortfolioUpdate, None] = strawberry.subscription(
        resolver=portfolio_updates,
        permission_classes=[IsAuthenticated],
        description="Your portfolio, then again after each change of your trading or of a held asset's price.",
    )
