"""Funds: a double-entry ledger of every movement of a paper perp account's cash."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class EntryKind(StrEnum):
    OPENING = "OPENING"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"
    REALIZED_PNL = "REALIZED_PNL"
    FEE = "FEE"
    FUNDING = "FUNDING"
    LIQUIDATION = "LIQUIDATION"
    INSURANCE = "INSURANCE"
    REWARD = "REWARD"


class LedgerEntry(Model):
    """One leg of a ledger transaction. The legs of a transaction sum to zero, and an account balance is the
    sum of its legs. User legs name the venue account, system legs name a system ledger account."""

    id = fields.BigIntField(primary_key=True)
    txn_id = fields.UUIDField(db_index=True)
    ledger_account = fields.CharField(max_length=64)
    account_id = fields.UUIDField(null=True)
    user_id = fields.UUIDField(null=True)
    kind = fields.CharEnumField(EntryKind, max_length=16)
    amount = money()
    balance_after = money(null=True)
    asset = fields.CharField(max_length=16, default="USDC")
    detail: Any = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_entries"
        indexes = [Index(fields=["ledger_account", "id"]), Index(fields=["user_id", "created_at", "id"])]
