"""Market data reads shared by every domain that needs candles: the series ``candles`` serves, stored (live)
candles over the seeded history, GraphQL-free."""

from __future__ import annotations

from datetime import datetime

from models.market import Candle as CandleRow
from models.market import Instrument

from ..engine.candles import INTERVALS, Bar, History, ceil_time, floor_time

BAR_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume")


def history_of(row: Instrument, seed: int) -> History:
    """The instrument's generated history, reproducible from the feed's seed."""
    return History(
        seed=seed,
        symbol=row.symbol,
        initial_price=row.initial_price,
        tick=row.tick_size,
        lot=row.lot_size,
        volatility=row.volatility,
        created_at=row.created_at,
    )


def _merge(generated: list[Bar], stored: list[Bar], limit: int, *, latest: bool) -> list[Bar]:
    """Generated and stored bars in one ascending series; a stored bar wins over a generated one."""
    by_time = {bar.open_time: bar for bar in generated}
    by_time.update((bar.open_time, bar) for bar in stored)
    ordered = [by_time[t] for t in sorted(by_time)]
    return ordered[-limit:] if latest else ordered[:limit]


async def series(
    row: Instrument, history: History, code: str, start: datetime, end: datetime, limit: int, *, latest: bool
) -> list[Bar]:
    """Up to ``limit`` bars of ``code`` opening in [start, end], ascending: the earliest, or the latest.

    Stored (live) bars come from one query; history fills the open times before the anchor. Asked for the
    latest, history is generated only for what the live bars leave of ``limit``.
    """
    seconds = INTERVALS[code]
    start = max(ceil_time(start, seconds), history.first(seconds))
    end = floor_time(end, seconds)
    if start > end:
        return []
    query = CandleRow.filter(instrument_id=row.id, interval=code, open_time__gte=start, open_time__lte=end)
    values = await query.order_by("-open_time" if latest else "open_time").limit(limit).values_list(*BAR_COLUMNS)
    stored = [Bar(*v) for v in values]
    wanted = limit
    if latest:
        anchor = history.anchor(seconds)
        wanted -= sum(1 for bar in stored if bar.open_time >= anchor)
    generated = history.bars(code, start, end, wanted, latest=latest)
    return _merge(generated, stored, limit, latest=latest)
