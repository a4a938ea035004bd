"""Referrals: codes (chosen, case-insensitive, unique under racing requests), the code at register, and the
rewards: accrued once per fill of a referred user, worked out here from the fills, and credited to the
ledger exactly once however many claims race."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.funds import EntryKind, LedgerEntry
from models.referrals import ReferralReward

from .accounts import ME, Account, as_user, register
from .perps import perp_account, transactions
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

RATE = Decimal("0.2")  # REFERRAL_REWARD_RATE's default, which the test servers keep
CREATE = """mutation($c: String!) { createReferralCode(code: $c) {
  __typename ... on ReferralCodeCreated { code } ... on UserError { code field } } }"""
CHECK = "query($c: String!) { checkReferralCode(code: $c) { code valid reason } }"
INFO = "{ referralInfo { code referredByCode referredUsers rewardRate } }"
STATS = """{ referralStats { referredUsers tradingUsers volume fees rewardsAccrued rewardsClaimed rewardsClaimable
  rewardRate } }"""
CLAIM = """mutation { claimReward {
  __typename ... on FundsMoved { venueAccountId amount balance } ... on UserError { code field } } }"""


def _code() -> str:
    return "R" + uuid.uuid4().hex[:9]


async def test_a_chosen_code_is_validated_case_insensitive_and_replaces_the_old_one(api: GraphQLClient) -> None:
    person = await register(api)
    chosen = _code()
    async with as_user(api.base_url, person) as client:
        old = (await client.query(ME))["me"]["referralCode"]
        for bad in ("ab", "has space", "x" * 17, "naïve123"):
            refused = (await client.query(CREATE, {"c": bad}))["createReferralCode"]
            assert refused == {"__typename": "InvalidInput", "code": "INVALID_REFERRAL_CODE", "field": "code"}
        created = (await client.query(CREATE, {"c": chosen.lower()}))["createReferralCode"]
        assert created == {"__typename": "ReferralCodeCreated", "code": chosen.upper()}
    checked = (await api.query(CHECK, {"c": f"  {chosen.lower()} "}))["checkReferralCode"]
    assert checked == {"code": chosen.upper(), "valid": True, "reason": None}
    gone = (await api.query(CHECK, {"c": old}))["checkReferralCode"]
    assert (gone["valid"], gone["reason"]) == (False, "referral code does not exist")


async def test_twenty_users_racing_for_one_code_in_any_case_one_gets_it(api: GraphQLClient) -> None:
    people = [await register(api) for _ in range(20)]
    chosen = _code()
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(as_user(api.base_url, p)) for p in people]
        variants = [chosen.lower() if i % 2 else chosen.upper() for i in range(20)]
        results = await asyncio.gather(*(c.query(CREATE, {"c": v}) for c, v in zip(clients, variants, strict=True)))
    outcomes = [r["createReferralCode"] for r in results]
    won = [o for o in outcomes if o["__typename"] == "ReferralCodeCreated"]
    assert won == [{"__typename": "ReferralCodeCreated", "code": chosen.upper()}]
    taken = [o["code"] for o in outcomes if o["__typename"] != "ReferralCodeCreated"]
    assert taken == ["REFERRAL_CODE_TAKEN"] * 19


async def test_register_takes_a_code_and_the_referrer_sees_their_referral(api: GraphQLClient) -> None:
    referrer = await register(api)
    async with as_user(api.base_url, referrer) as client:
        code = (await client.query(INFO))["referralInfo"]["code"]
        newcomer = await register(api, referral_code=code.lower())
        async with as_user(api.base_url, newcomer) as other:
            mine = (await other.query(INFO))["referralInfo"]
        assert (mine["referredByCode"], mine["referredUsers"], Decimal(mine["rewardRate"])) == (code, 0, RATE)
        assert (await client.query(INFO))["referralInfo"]["referredUsers"] == 1
    bad = await api.query(
        "mutation($i: RegisterInput!) { register(input: $i) { __typename ... on UserError { code field } } }",
        {
            "i": {
                "email": f"x{uuid.uuid4().hex[:6]}@example.com",
                "password": "a long pass 123",
                "name": "X",
                "referralCode": "NOPE" + uuid.uuid4().hex[:6],
            }
        },
    )
    assert bad["register"] == {"__typename": "InvalidInput", "code": "INVALID_REFERRAL_CODE", "field": "referralCode"}


def _reward(fee: Decimal) -> Decimal:
    """The documented accrual: rate × fee, rounded down to 8 places, per fill."""
    return (fee * RATE).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)


async def _orders(client: GraphQLClient, accounts: list[str], count: int) -> list[dict[str, Any]]:
    return list(
        await asyncio.gather(
            *(placed(client, accounts[i % len(accounts)], symbol="ETH", quantity="0.01") for i in range(count))
        )
    )


async def test_rewards_accrue_once_per_fill_and_racing_claims_credit_them_once(
    api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as referrer:
        code = (await referrer.query(INFO))["referralInfo"]["code"]
        a, b, outsider = (
            await register(api, referral_code=code),
            await register(api, referral_code=code),
            await register(api),
        )
        async with (
            as_user(api.base_url, a) as ca,
            as_user(api.base_url, b) as cb,
            as_user(api.base_url, outsider) as co,
        ):
            spot_a, perp_a = await paper_account(ca), await perp_account(ca)
            spot_b = [await paper_account(cb), await paper_account(cb)]
            # Twenty fills race, from two referred users on four accounts (spot and perp), with an outsider's.
            batches = await asyncio.gather(
                _orders(ca, [spot_a, perp_a], 10), _orders(cb, spot_b, 10), _orders(co, [await paper_account(co)], 3)
            )
        fills = [f for orders in batches[:2] for o in orders for f in o["fills"]]
        volume = sum((Decimal(f["price"]) * Decimal(f["quantity"]) for f in fills), Decimal(0))
        fees = sum((Decimal(f["fee"]) for f in fills), Decimal(0))
        accrued = sum((_reward(Decimal(f["fee"])) for f in fills), Decimal(0))
        assert accrued > 0

        me = from_global_id(trader.user_id)[1]
        rows = await ReferralReward.filter(referrer_id=me).values_list("fill_id", flat=True)
        assert sorted(rows) == sorted(int(f["id"]) for f in fills)
        stats = (await referrer.query(STATS))["referralStats"]
        assert (stats["referredUsers"], stats["tradingUsers"], stats["rewardsClaimed"]) == (2, 2, "0")
        assert (Decimal(stats["volume"]), Decimal(stats["fees"])) == (volume, fees)
        assert Decimal(stats["rewardsAccrued"]) == Decimal(stats["rewardsClaimable"]) == accrued

        claims = await asyncio.gather(*(referrer.query(CLAIM) for _ in range(20)))
        outcomes = [c["claimReward"] for c in claims]
        credited = [o for o in outcomes if o["__typename"] == "FundsMoved"]
        assert len(credited) == 1 and Decimal(credited[0]["amount"]) == accrued
        assert sorted(o["code"] for o in outcomes if o["__typename"] != "FundsMoved") == ["NO_REWARDS"] * 19

        ledger = await LedgerEntry.filter(user_id=me, kind=EntryKind.REWARD).values_list("amount", flat=True)
        assert ledger == [accrued]
        listed = [t for t in await transactions(referrer) if t["kind"] == "REWARD"]
        assert [Decimal(t["amount"]) for t in listed] == [accrued]
        assert Decimal(credited[0]["balance"]) == Decimal(listed[0]["balanceAfter"])
        after = (await referrer.query(STATS))["referralStats"]
        assert (Decimal(after["rewardsClaimed"]), Decimal(after["rewardsClaimable"])) == (accrued, Decimal(0))
