"""Indicators and signals: reading candle series, computing signals, and recording a signal each time its
action changes (on the feed leader only, once per candle close; see ``SignalRecorder``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from models.indicators import SignalRecord
from models.market import Instrument

from ..engine.candles import INTERVALS, Bar, floor_time
from ..engine.signals import SIGNAL_BARS, Decision, NotEnoughCandles, decide
from ..engine.ticks import Marks
from ..events import publish
from ..events.indicators import SignalChanged
from ..pubsub import Bus
from .market import history_of, series

log = logging.getLogger(__name__)


async def load_bars(
    row: Instrument, seed: int, code: str, start: datetime | None, end: datetime, limit: int
) -> list[Bar]:
    """Up to ``limit`` candles of ``code`` opening in [start, end], ascending, as ``candles`` returns them:
    stored (live) candles win over the generated history. Without ``start``, the latest ``limit``."""
    history = history_of(row, seed)
    first = history.first(INTERVALS[code]) if start is None else start
    return await series(row, history, code, first, end, limit, latest=start is None)


async def closed_bars(row: Instrument, seed: int, code: str, now: datetime, limit: int) -> list[Bar]:
    """The latest ``limit`` candles of ``code`` that had closed at ``now``."""
    last_closed = floor_time(now, INTERVALS[code]) - timedelta(seconds=INTERVALS[code])
    return await load_bars(row, seed, code, None, last_closed, limit)


async def current_signal(row: Instrument, seed: int, code: str, now: datetime) -> tuple[Decision, Bar]:
    """The signal on the closed candles at ``now`` and the candle it was read at."""
    bars = await closed_bars(row, seed, code, now, SIGNAL_BARS)
    if not bars:
        raise NotEnoughCandles("no closed candles")
    return decide(bars, row.tick_size), bars[-1]


async def record_signal(bus: Bus, row: Instrument, seed: int, code: str, now: datetime) -> SignalRecord | None:
    """Store and publish the signal at ``now`` when its action differs from the last stored one.

    Runs on the feed leader only (one writer per instrument and interval across the cluster); a candle
    already evaluated (a new leader catching up) is not evaluated again.
    """
    try:
        decision, bar = await current_signal(row, seed, code, now)
    except NotEnoughCandles:
        return None
    last = await SignalRecord.filter(instrument_id=row.id, interval=code).order_by("-id").first()
    if last is not None and (last.action == decision.action.value or last.candle_time >= bar.open_time):
        return None
    record = await SignalRecord.create(
        instrument_id=row.id,
        interval=code,
        action=decision.action.value,
        previous_action=last.action if last is not None else None,
        strength=decision.strength,
        confidence=decision.confidence,
        entry=decision.entry,
        stop_loss=decision.stop_loss,
        take_profit=decision.take_profit,
        readings={name: str(value) for name, value in decision.readings.items()},
        candle_time=bar.open_time,
    )
    await publish(bus, SignalChanged(symbol=row.symbol, interval=code, action=record.action, record_id=record.id))
    return record


class SignalRecorder:
    """A tick consumer: when a candle of an interval closes, each instrument's signal on that interval is
    evaluated and stored if its action changed. The first tick after taking the lead finds every interval
    due (catching up on what closed while no leader ran). One interval is evaluated per tick, so the
    feed's tick is held up by one interval's work at most (about 20 ms per instrument)."""

    def __init__(self, bus: Bus, seed: int) -> None:
        self._bus = bus
        self._seed = seed
        self._open: dict[str, datetime] = {}
        self._due: list[str] = []

    async def __call__(self, marks: Marks) -> None:
        now = datetime.now(UTC)
        for code, seconds in INTERVALS.items():
            opened = floor_time(now, seconds)
            if self._open.get(code) != opened:
                self._open[code] = opened
                if code not in self._due:
                    self._due.append(code)
        if not self._due:
            return
        code = self._due.pop(0)
        for row in await Instrument.filter(symbol__in=list(marks)).order_by("asset_index"):
            await record_signal(self._bus, row, self._seed, code, now)


def decimal_readings(record: SignalRecord) -> dict[str, Decimal]:
    return {name: Decimal(value) for name, value in dict(record.readings).items()}
