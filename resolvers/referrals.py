"""Referrals: the Query / Mutation fields (actions in graphql_api/services/referrals.py; rewards accrue in
graphql_api/engine/referrals.py and are claimed by the funds domain's claimReward)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.permissions import IsAuthenticated, target_user
from graphql_api.services import referrals as actions
from models.identity import User
from schema.referrals import (
    CreateReferralCodeResult,
    ReferralCodeCheck,
    ReferralCodeCreated,
    ReferralInfo,
    ReferralStats,
)

from .results import actor, audited, result

UserArg = Annotated[
    strawberry.ID | None, strawberry.argument(description="Global ID of the user (admins only); default you.")
]
CodeArg = Annotated[str, strawberry.argument(description="A referral code, 4 to 16 letters or digits, any case.")]


async def referral_info(info: Info, user_id: UserArg = None) -> ReferralInfo:
    found = await actions.info(target_user(info, user_id))
    return ReferralInfo(
        code=found.code,
        referred_by_code=found.referred_by_code,
        referred_users=found.referred_users,
        reward_rate=info.context.settings.referral_reward_rate,
    )


async def referral_stats(info: Info, user_id: UserArg = None) -> ReferralStats:
    found = await actions.stats(target_user(info, user_id))
    return ReferralStats(
        referred_users=found.referred_users,
        trading_users=found.trading_users,
        volume=found.volume,
        fees=found.fees,
        rewards_accrued=found.accrued,
        rewards_claimed=found.claimed,
        rewards_claimable=found.claimable,
        reward_rate=info.context.settings.referral_reward_rate,
    )


async def check_referral_code(info: Info, code: CodeArg) -> ReferralCodeCheck:
    found = await actions.check(code)
    return ReferralCodeCheck(code=found.code, valid=found.valid, reason=found.reason)


async def create_referral_code(info: Info, code: CodeArg) -> CreateReferralCodeResult:
    def view(user: User) -> ReferralCodeCreated:
        return ReferralCodeCreated(code=user.referral_code)

    return await result(actions.create_code(actor(info), code), view)


@strawberry.type
class Query:
    referral_info: ReferralInfo = strawberry.field(
        resolver=referral_info,
        permission_classes=[IsAuthenticated],
        description="Your referral code, the code you signed up with, and how many signed up with yours.",
    )
    referral_stats: ReferralStats = strawberry.field(
        resolver=referral_stats,
        permission_classes=[IsAuthenticated],
        description="Your referred users' volume and fees, and the rewards accrued, claimed and claimable.",
    )
    check_referral_code: ReferralCodeCheck = strawberry.field(
        resolver=check_referral_code,
        description="Whether a code would be accepted at register or walletVerify (open to anyone; it never "
        "says whose code it is).",
    )


@strawberry.type
class Mutation:
    create_referral_code: CreateReferralCodeResult = strawberry.mutation(
        resolver=audited(Action.REFERRAL_CREATE_CODE)(create_referral_code),
        permission_classes=[IsAuthenticated],
        description="Choose your referral code (unique whatever the case); it replaces the one you had.",
    )
