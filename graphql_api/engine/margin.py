"""Perpetual margin arithmetic, after Hyperliquid's published formulas (pure functions, Decimal only).

Notation: size s is signed (long > 0, short < 0), side = sign(s), entry E, mark P, leverage L, and the
instrument's maximum leverage Lmax.

- Position value = |s| × P. Unrealized PnL = s × (P − E) (a long gains when the mark rises).
- Initial margin = |s| × P / L. A new order is accepted only if, after it, the margin it draws on covers
  the initial margin of what it holds (cross: cross account value ≥ Σ cross initial margins; isolated: the
  free cash covers the margin the fill isolates plus its fee).
- Maintenance margin = |s| × P × m, with m = 1 / (2 × Lmax): half the initial margin at maximum leverage.
- A position is liquidated when the margin available to it falls below its maintenance margin:
  isolated, when isolated margin + unrealized PnL < maintenance margin; cross, when the cross account
  value (cash not isolated + Σ cross unrealized PnL) < Σ cross maintenance margins.
- Liquidation price (Hyperliquid): liq = P − side × margin_available / |s| / (1 − m × side), with
  margin_available = (isolated margin or cross account value) − maintenance margin, evaluated at the mark P.
  It is the mark at which the condition above becomes an equality, holding other positions' marks fixed;
  no price (null) when a long's collateral covers a fall to zero.
- Mark price = median(best bid, best ask, oracle), where the oracle is the feed price: Hyperliquid's
  book-based mark with the oracle standing in for the last trade (the paper venue has no CEX component).
- Funding, hourly: premium = (max(impact bid − oracle, 0) − max(oracle − impact ask, 0)) / oracle, the
  impact prices being what a market order of IMPACT_NOTIONAL would average on each side of the book,
  averaged over the premium samples of the hour (one per tick). 8-hour rate F = premium +
  clamp(0.0001 − premium, −0.0005, 0.0005); the hourly rate is F / 8, capped at ±4 %. Each position pays
  s × oracle × rate at the hour (a positive rate: longs pay, shorts receive).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from .book import Level

ZERO = Decimal(0)
ONE = Decimal(1)
# Hyperliquid's maximum leverage per asset; other instruments allow DEFAULT_MAX_LEVERAGE.
MAX_LEVERAGE: dict[str, int] = {"BTC": 40, "ETH": 25, "SOL": 20, "XRP": 20, "DOGE": 10, "AVAX": 10, "BNB": 10}
DEFAULT_MAX_LEVERAGE = 10
DEFAULT_LEVERAGE = 20
INTEREST_8H = Decimal("0.0001")
PREMIUM_CLAMP = Decimal("0.0005")
HOURLY_CAP = Decimal("0.04")
IMPACT_NOTIONAL = Decimal("6000")
_PLACES = Decimal("1e-12")
_AMOUNT = Decimal("1e-8")


def q12(value: Decimal) -> Decimal:
    return value.quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def q8(value: Decimal) -> Decimal:
    return value.quantize(_AMOUNT, rounding=ROUND_HALF_EVEN)


def max_leverage(symbol: str) -> int:
    return MAX_LEVERAGE.get(symbol, DEFAULT_MAX_LEVERAGE)


def default_leverage(symbol: str) -> int:
    return min(DEFAULT_LEVERAGE, max_leverage(symbol))


def maintenance_rate(symbol: str) -> Decimal:
    return ONE / (2 * max_leverage(symbol))


def side_of(size: Decimal) -> int:
    return 1 if size > 0 else -1 if size < 0 else 0


def unrealized(size: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    return size * (mark - entry)


def initial_margin(size: Decimal, mark: Decimal, leverage: int) -> Decimal:
    return abs(size) * mark / leverage


def maintenance_margin(symbol: str, size: Decimal, mark: Decimal) -> Decimal:
    return abs(size) * mark * maintenance_rate(symbol)


def liquidation_price(symbol: str, size: Decimal, entry: Decimal, available: Decimal) -> Decimal | None:
    """The mark at which ``available`` (isolated margin, or the cross account value other positions leave)
    plus this position's unrealized PnL equals its maintenance margin; None if no positive price does."""
    if size == 0:
        return None
    m = maintenance_rate(symbol)
    # available + s (P − E) = |s| P m  ⇔  P = (s E − available) / (s − |s| m)
    price = (size * entry - available) / (size - abs(size) * m)
    return q12(price) if price > 0 else None


def mark_price(best_bid: Decimal, best_ask: Decimal, oracle: Decimal) -> Decimal:
    return sorted((best_bid, best_ask, oracle))[1]


def impact_price(levels: Sequence[Level], notional: Decimal) -> Decimal | None:
    """The average price of a market order of ``notional`` against ``levels`` (None if the book is thinner)."""
    left, cost, quantity = notional, ZERO, ZERO
    for level in levels:
        value = level.price * level.quantity
        if value >= left:
            part = left / level.price
            return (cost + left) / (quantity + part)
        cost += value
        quantity += level.quantity
        left -= value
    return None


def premium(bids: Sequence[Level], asks: Sequence[Level], oracle: Decimal) -> Decimal:
    bid = impact_price(bids, IMPACT_NOTIONAL)
    ask = impact_price(asks, IMPACT_NOTIONAL)
    if bid is None or ask is None:
        return ZERO
    return q12((max(bid - oracle, ZERO) - max(oracle - ask, ZERO)) / oracle)


def hourly_rate(average_premium: Decimal) -> Decimal:
    clamp = min(max(INTEREST_8H - average_premium, -PREMIUM_CLAMP), PREMIUM_CLAMP)
    rate = (average_premium + clamp) / 8
    return q12(min(max(rate, -HOURLY_CAP), HOURLY_CAP))


def funding_payment(size: Decimal, oracle: Decimal, rate: Decimal) -> Decimal:
    """What the position pays (positive) or receives (negative) at the hour."""
    return q8(size * oracle * rate)
