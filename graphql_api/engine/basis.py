"""Each paper venue's small, deterministic basis over the feed, so that cross-venue spreads exist.

The feed has one price per instrument; real venues quote slightly apart. A paper venue ``v`` prices
instrument ``s`` in minute ``m`` at ``feed × (1 + b)``, with ``b`` in basis points =
offset(v) + wobble(v, s, m): a fixed offset per venue (binance, the reference, has none) plus a wobble
drawn uniformly from −WOBBLE..+WOBBLE bp by hashing (v, s, m). Pure: the aggregated book, the
arbitrage scan, routed orders and an arbitrage backtest all read the same numbers.

On the live paper venue (``venue_mark``) only the spot venues listed in OFFSETS quote with a basis: their
book is built around ``feed × (1 + b)`` rounded to the tick, so an order on a coinbase paper account fills
at coinbase's levels. The reference (binance), the Hyperliquid perp venue and the tokenized venues quote the
feed itself. |b| never exceeds MAX_BASIS.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from .candles import floor_time

REFERENCE = "binance"
WOBBLE = 3
# Fixed offsets in basis points; a venue not listed has none beyond its wobble.
OFFSETS: dict[str, int] = {REFERENCE: 0, "coinbase": 4, "kraken": -3, "kucoin": 2, "okx": -2, "bybit": 1}
_BP = Decimal("0.0001")
MAX_BASIS = (max(abs(o) for o in OFFSETS.values()) + WOBBLE) * _BP


def basis(venue: str, symbol: str, at: datetime) -> Decimal:
    """The venue's basis as a fraction of the feed price (binance: exactly zero)."""
    if venue == REFERENCE:
        return Decimal(0)
    minute = floor_time(at, 60).isoformat()
    digest = hashlib.blake2b(f"basis:{venue}:{symbol}:{minute}".encode(), digest_size=4).digest()
    wobble = int.from_bytes(digest, "big") % (2 * WOBBLE + 1) - WOBBLE
    return (OFFSETS.get(venue, 0) + wobble) * _BP


def venue_price(venue: str, symbol: str, at: datetime, price: Decimal) -> Decimal:
    """The feed ``price`` as ``venue`` quotes it at ``at`` (not rounded: callers put it on their grid)."""
    return price * (1 + basis(venue, symbol, at))


def quotes_with_basis(venue: str) -> bool:
    """Whether the live paper venue ``venue`` quotes apart from the feed (see the module's text)."""
    return venue in OFFSETS and venue != REFERENCE


def venue_mark(venue: str, symbol: str, at: datetime, mark: Decimal, tick: Decimal) -> Decimal:
    """The price ``venue``'s paper book is built around: the feed ``mark`` with the venue's basis, on the tick
    grid (half-even), never below one tick; the feed mark itself for venues without a basis."""
    if not quotes_with_basis(venue):
        return mark
    on_grid = (venue_price(venue, symbol, at, mark) / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick
    return max(tick, on_grid)
