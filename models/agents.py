"""Agents (copy trading): a bot an admin published, the users who copy it, and the copy orders of its fills."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class AgentProfile(StrEnum):
    CONSERVATIVE = "CONSERVATIVE"
    MODERATE = "MODERATE"
    AGGRESSIVE = "AGGRESSIVE"


class SubscriptionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class CopyKind(StrEnum):
    MIRROR = "MIRROR"  # the copy of one fill of the agent
    CLOSE = "CLOSE"  # closing what was copied, at unsubscribe


class CopyStatus(StrEnum):
    PENDING = "PENDING"
    CLAIMED = "CLAIMED"
    PLACED = "PLACED"
    SKIPPED = "SKIPPED"
    REFUSED = "REFUSED"
    CANCELED = "CANCELED"


OPEN_COPIES = (CopyStatus.PENDING, CopyStatus.CLAIMED)


class Agent(Model):
    """A bot published for copy trading: its name, profile and description as subscribers see them."""

    id = fields.UUIDField(primary_key=True)
    bot_id = fields.UUIDField(unique=True)
    name = fields.CharField(max_length=100)
    profile = fields.CharEnumField(AgentProfile, max_length=16)
    description = fields.CharField(max_length=1000, default="")
    published = fields.BooleanField(default=True, db_index=True)
    published_by = fields.UUIDField()
    published_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "agents"


class AgentSubscription(Model):
    """A user copying an agent into one of their venue accounts with an allocation (quote asset).

    holdings is what the copies bought and did not sell yet, per symbol (decimal strings): a copied sell
    never sells more, and unsubscribing with closePositions sells exactly that."""

    id = fields.UUIDField(primary_key=True)
    agent_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField(db_index=True)
    allocation = money()
    status = fields.CharEnumField(SubscriptionStatus, max_length=8, default=SubscriptionStatus.ACTIVE)
    holdings: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "agent_subscriptions"
        indexes = (("agent_id", "status"),)


class CopyOrder(Model):
    """The outbox and the copy log: one row per (agent fill, subscription), written in the fill transaction.

    A dispatcher in any process claims a row with a conditional UPDATE (PENDING, or CLAIMED with a lapsed
    claim) and places the copy with the client order id copy-ROW, so a retry after a crash finds the order
    it already placed instead of placing another. quantity is the proportional quantity in whole lots;
    order_quantity what was sent (a sell is capped by the holdings)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(CopyKind, max_length=8, default=CopyKind.MIRROR)
    fill_id = fields.BigIntField(null=True)
    subscription_id = fields.UUIDField()
    agent_id = fields.UUIDField(db_index=True)
    user_id = fields.UUIDField(db_index=True)
    account_id = fields.UUIDField()
    symbol = fields.CharField(max_length=32)
    side = fields.CharField(max_length=4)
    agent_quantity = money()
    agent_price = money()
    quantity = money()
    order_quantity = money(null=True)
    status = fields.CharEnumField(CopyStatus, max_length=8)
    claimed_by = fields.CharField(max_length=64, null=True)
    claim_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    order_id = fields.UUIDField(null=True)
    filled_quantity = money(default=0)
    code = fields.CharField(max_length=64, null=True)
    message = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "copy_orders"
        unique_together = (("fill_id", "subscription_id"),)
        indexes = (Index(fields=["status", "id"]), Index(fields=["subscription_id", "id"]))
