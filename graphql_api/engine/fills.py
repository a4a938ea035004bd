"""What a fill feeds besides cash and positions: the leaderboard standings, the referral reward of its
fee, and the copy orders of an agent's fill (``copying.enqueue``). Called in the fill's own transaction by
every path that fills (spot and perp orders, and the liquidation engine, whose forced close at the mark is a
fill without a fee), so none can fall behind the fills or keep a trace of one rolled back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient


@dataclass(frozen=True)
class FillFacts:
    """One execution as the leaderboard and referrals see it."""

    user_id: str
    at: datetime
    notional: Decimal  # price × quantity
    fee: Decimal
    # For a fill that reduced a position: its realized PnL, and the entry value (entry price × quantity)
    # of what it closed. None / 0 for a fill that opened or added.
    realized: Decimal | None = None
    closed_cost: Decimal = Decimal(0)
    fill_id: int | None = None  # the Fill row; None for a liquidation
    # What copy trading mirrors: the bot that placed the order (spot orders only), and the execution.
    bot_id: str | None = None
    symbol: str = ""
    side: str = ""
    price: Decimal = Decimal(0)
    quantity: Decimal = Decimal(0)


async def after_fill(conn: BaseDBAsyncClient, fill: FillFacts, referral_rate: Decimal) -> None:
    from . import copying, referrals, standings

    await standings.record(conn, fill)
    if fill.fill_id is not None:
        await referrals.accrue(conn, fill, referral_rate)
    if fill.bot_id is not None and fill.fill_id is not None:
        await copying.enqueue(conn, fill)
