"""Equity history: every paper account's value (cash plus positions at mark), recorded periodically by
the feed leader. Performance history and risk metrics are computed from these rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from models.market import LastPrice
from models.portfolio import EquitySnapshot
from models.positions import Position
from models.venues import AccountStatus, Balance, Environment, VenueAccount

BENCHMARK = "BTC"


async def marks_by_symbol() -> dict[str, Decimal]:
    return dict(await LastPrice.all().values_list("instrument__symbol", "price"))


async def account_values(account_ids: list[str], marks: dict[str, Decimal]) -> dict[str, tuple[Decimal, Decimal]]:
    """(equity, cash) per account: quote cash plus every position at its mark. Two queries in all."""
    quote = dict(await VenueAccount.filter(id__in=account_ids).values_list("id", "quote_asset"))
    cash: dict[str, Decimal] = defaultdict(Decimal)
    for account_id, asset, total in await Balance.filter(account_id__in=account_ids).values_list(
        "account_id", "asset", "total"
    ):
        if quote.get(account_id) == asset:
            cash[str(account_id)] += total
    held: dict[str, Decimal] = defaultdict(Decimal)
    for account_id, symbol, quantity in await Position.filter(account_id__in=account_ids, quantity__gt=0).values_list(
        "account_id", "symbol", "quantity"
    ):
        held[str(account_id)] += quantity * marks.get(symbol, Decimal(0))
    return {str(a): (cash[str(a)] + held[str(a)], cash[str(a)]) for a in account_ids}


async def snapshot_equity(now: datetime) -> int:
    ids = [
        str(i)
        for i in await VenueAccount.filter(environment=Environment.PAPER, status=AccountStatus.CONNECTED).values_list(
            "id", flat=True
        )
    ]
    if not ids:
        return 0
    marks = await marks_by_symbol()
    values = await account_values(ids, marks)
    benchmark = marks.get(BENCHMARK)
    await EquitySnapshot.bulk_create(
        [
            EquitySnapshot(account_id=a, ts=now, equity=equity, cash=cash, benchmark_price=benchmark)
            for a, (equity, cash) in values.items()
        ]
    )
    return len(ids)
