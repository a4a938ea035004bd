"""Referrals: a user's code, who referred them, the code check, and the referrer's statistics."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from .common import InvalidInput


@strawberry.type(description="Your referral code and who referred you.")
class ReferralInfo:
    code: str = strawberry.field(
        description="Your code (case-insensitive); others give it at register or walletVerify."
    )
    referred_by_code: str | None = strawberry.field(description="The code you signed up with, if any.")
    referred_users: int = strawberry.field(description="Users who signed up with your code.")
    reward_rate: Decimal = strawberry.field(
        description="Your share of each fee your referred users pay (REFERRAL_REWARD_RATE), accrued per fill."
    )


@strawberry.type(description="What your referred users brought, and your rewards.")
class ReferralStats:
    referred_users: int = strawberry.field(description="Users who signed up with your code.")
    trading_users: int = strawberry.field(description="Of them, those with at least one fill.")
    volume: Decimal = strawberry.field(description="Σ price × quantity of their fills.")
    fees: Decimal = strawberry.field(description="Σ fees they paid.")
    rewards_accrued: Decimal = strawberry.field(
        description="Σ per fill of rewardRate × fee, each rounded down to 8 places."
    )
    rewards_claimed: Decimal = strawberry.field(description="What claimReward has credited to you.")
    rewards_claimable: Decimal = strawberry.field(description="rewardsAccrued − rewardsClaimed.")
    reward_rate: Decimal = strawberry.field(description="Your share of each fee (REFERRAL_REWARD_RATE).")


@strawberry.type(description="Whether a referral code would be accepted at sign-up.")
class ReferralCodeCheck:
    code: str = strawberry.field(description="The code as it is kept (upper case, trimmed).")
    valid: bool = strawberry.field(description="An active user's code.")
    reason: str | None = strawberry.field(description="Why not, when not valid.")


@strawberry.type(description="Your referral code is now this one.")
class ReferralCodeCreated:
    code: str = strawberry.field(description="The code (upper case); the one you had before is no longer accepted.")


CreateReferralCodeResult = Annotated[
    ReferralCodeCreated | InvalidInput,
    strawberry.union("CreateReferralCodeResult", description="The code, or why not (taken, malformed)."),
]
