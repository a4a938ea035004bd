"""Each paper venue's small, deterministic basis over the feed, so that cross-venue spreads exist.

The feed has one price per instrument; real venues quote slightly apart. A paper venue ``v`` prices
instrument ``s`` in minute ``m`` at ``feed × (1 + b)``, with ``b`` in basis points =
offset(v) + wobble(v, s, m): a fixed offset per venue (binance, the reference, has none) plus a wobble
drawn uniformly from −WOBBLE..+WOBBLE bp by hashing (v, s, m). Pure: the aggregated book, the
arbitrage scan, routed orders and an arbitrage backtest all read the same numbers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from .candles import floor_time

REFERENCE = "binance"
WOBBLE = 3
# Fixed offsets in basis points; a venue not listed has none beyond its wobble.
OFFSETS: dict[str, int] = {REFERENCE: 0, "coinbase": 4, "kraken": -3, "kucoin": 2, "okx": -2, "bybit": 1}
_BP = Decimal("0.0001")


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
