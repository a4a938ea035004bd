"""Vaults (PAMM / LP): a pooled paper account traded by a manager (a bot or a person), owned in shares."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from .fields import money


class FeePeriod(StrEnum):
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class VaultEntryKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    FEE = "FEE"


class Vault(Model):
    """A vault: its own paper venue account (owned by the manager, who or whose bot trades it), its fee
    terms, and the shares outstanding, which always equal the sum of its positions shares."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    description = fields.CharField(max_length=1000, default="")
    manager_user_id = fields.UUIDField(db_index=True)
    manager_bot_id = fields.UUIDField(null=True)
    account_id = fields.UUIDField(unique=True)
    performance_fee_rate = money()
    fee_period = fields.CharEnumField(FeePeriod, max_length=16)
    minimum_deposit = money()
    shares_outstanding = money(default=Decimal(0))
    last_crystallized_at = fields.DatetimeField(null=True)
    next_crystallization_at = fields.DatetimeField(db_index=True)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "vaults"


class VaultPosition(Model):
    """The holding of one user in one vault: shares, the cost of the shares held, and the high-water mark (NAV per
    share) above which a performance fee is due on them."""

    id = fields.BigIntField(primary_key=True)
    vault_id = fields.UUIDField()
    user_id = fields.UUIDField(db_index=True)
    payout_account_id = fields.UUIDField(null=True)
    shares = money(default=Decimal(0))
    cost_basis = money(default=Decimal(0))
    high_water_mark = money(default=Decimal(0))
    deposited = money(default=Decimal(0))
    withdrawn = money(default=Decimal(0))
    fees_paid = money(default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "vault_positions"
        unique_together = (("vault_id", "user_id"),)


class VaultEntry(Model):
    """One change of a position: a deposit (shares issued), a withdrawal (shares burned) or a fee (shares moved
    from a depositor to the manager), with the NAV per share it was made at."""

    id = fields.BigIntField(primary_key=True)
    vault_id = fields.UUIDField()
    user_id = fields.UUIDField()
    kind = fields.CharEnumField(VaultEntryKind, max_length=16)
    shares = money()
    amount = money()
    nav_per_share = money()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "vault_entries"
        indexes = (("vault_id", "created_at"),)
