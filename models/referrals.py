"""Referrals: the reward a referrer accrues on each fill of a user they referred, and its claim."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class ReferralReward(Model):
    """The referrer share of the fee of one fill: one row per fill, so a fill can reward only once. A claim
    stamps the rows it paid with its ledger transaction."""

    id = fields.BigIntField(primary_key=True)
    fill_id = fields.BigIntField(unique=True)
    referrer_id = fields.UUIDField()
    referred_id = fields.UUIDField()
    volume = money()
    fee = money()
    amount = money()
    claim_txn = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "referral_rewards"
        indexes = [Index(fields=["referrer_id", "claim_txn"]), Index(fields=["referrer_id", "referred_id"])]
