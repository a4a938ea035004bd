"""The paper venue's synthetic order book, and how an order sweeps it.

The book is a pure function of (feed seed, symbol, feed step, mark price): the `orderBook` query and the
matching engine build the very same levels for the same tick, so what a client sees is what it gets.

Shape: the best ask sits half a spread above the mark (at least one tick, about 1 bp), the best bid half a
spread below; further levels step away by about 2 bps. Each level holds a quote notional that grows with
distance from the mark (BOOK_LEVEL_NOTIONAL at the top, +10% per level, jittered reproducibly), rounded down to lot
size, so large orders walk the book and orders larger than its depth fill partially.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .candles import lots, to_tick

MAX_DEPTH = 50
_HALF_SPREAD = Decimal("0.00005")
_LEVEL_GAP = Decimal("0.0002")


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    symbol: str
    step: int
    mark: Decimal
    lot: Decimal
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first

    def side_for(self, taker_side: str) -> tuple[Level, ...]:
        """The levels a taker of ``taker_side`` trades against: a BUY lifts asks, a SELL hits bids."""
        return self.asks if taker_side == "BUY" else self.bids


def build_book(
    *,
    seed: int,
    symbol: str,
    step: int,
    mark: Decimal,
    tick: Decimal,
    lot: Decimal,
    level_notional: Decimal,
    depth: int = MAX_DEPTH,
) -> Book:
    half = max(tick, to_tick(mark * _HALF_SPREAD, tick, ROUND_CEILING))
    gap = max(tick, to_tick(mark * _LEVEL_GAP, tick, ROUND_CEILING))
    rng = random.Random(f"book:{seed}:{symbol}:{step}")
    asks: list[Level] = []
    bids: list[Level] = []
    for i in range(min(depth, MAX_DEPTH)):
        ask = to_tick(mark + half + gap * i, tick, ROUND_CEILING)
        bid = to_tick(mark - half - gap * i, tick, ROUND_FLOOR)
        for side, price in ((asks, ask), (bids, bid)):
            if price <= 0:
                continue
            # Jitter in [0.5, 1.5), drawn as an integer so no float reaches a quantity.
            jitter = Decimal(rng.randrange(500, 1500)) / Decimal(1000)
            notional = level_notional * (Decimal(1) + Decimal(i) / Decimal(10)) * jitter
            quantity = lots(notional, price, lot)
            side.append(Level(price, quantity))
    return Book(symbol=symbol, step=step, mark=mark, lot=lot, bids=tuple(bids), asks=tuple(asks))


def sweep(levels: Sequence[Level], quantity: Decimal, side: str, limit: Decimal | None) -> list[Level]:
    """The fills (price, quantity) an order of ``quantity`` takes from ``levels``, best first.

    A BUY takes asks priced at or below ``limit``; a SELL takes bids at or above it; no limit takes any
    level. The result may total less than ``quantity`` when the book (within the limit) is thinner.
    """
    fills: list[Level] = []
    remaining = quantity
    for level in levels:
        if remaining <= 0:
            break
        if limit is not None and (level.price > limit if side == "BUY" else level.price < limit):
            break
        take = min(remaining, level.quantity)
        fills.append(Level(level.price, take))
        remaining -= take
    return fills


def available(levels: Sequence[Level], side: str, limit: Decimal | None) -> Decimal:
    """Total quantity an order could take within ``limit`` (for fill-or-kill)."""
    return sum((f.quantity for f in sweep(levels, Decimal("Infinity"), side, limit)), Decimal(0))
