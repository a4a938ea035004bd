"""Referral rewards, accrued by the fill path (``fills.after_fill``).

A fill of a user who was referred accrues to the referrer REFERRAL_REWARD_RATE × the fill's fee, rounded
down to 8 places (the platform never pays more than the stated share). The row is keyed by the fill, so a
fill rewards at most once however often anything is retried; it is written in the fill's transaction, so
a fill rolled back rewards nothing. Rows are also written for fills without a fee: they carry the referred
user's volume for the referrer's statistics.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from models.identity import User
from models.referrals import ReferralReward

from .fills import FillFacts

_PLACES = Decimal("1e-8")


def reward_for(fee: Decimal, rate: Decimal) -> Decimal:
    return (fee * rate).quantize(_PLACES, rounding=ROUND_DOWN)


async def accrue(conn: BaseDBAsyncClient, fill: FillFacts, rate: Decimal) -> None:
    found = await User.filter(id=fill.user_id).using_db(conn).values_list("referred_by_id", flat=True)
    referrer = found[0] if found else None
    if referrer is None:
        return
    await ReferralReward.create(
        fill_id=fill.fill_id,
        referrer_id=referrer,
        referred_id=fill.user_id,
        volume=fill.notional,
        fee=fill.fee,
        amount=reward_for(fill.fee, rate),
        using_db=conn,
    )
