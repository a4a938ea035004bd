"""Venues the platform knows, and the accounts users connect on them (paper or live)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class VenueType(StrEnum):
    CRYPTO = "CRYPTO"
    TOKENIZED = "TOKENIZED"


class Environment(StrEnum):
    PAPER = "PAPER"
    LIVE = "LIVE"


class AccountStatus(StrEnum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class Venue(Model):
    """A trading venue of the catalog (seeded by migration)."""

    id = fields.CharField(max_length=32, primary_key=True)
    name = fields.CharField(max_length=64)
    type = fields.CharEnumField(VenueType, max_length=16)
    category = fields.CharField(max_length=32)
    protocols: Any = fields.JSONField(default=list)
    drop_copy = fields.BooleanField(default=False)
    t0_settlement = fields.BooleanField(default=False)
    logo_url = fields.CharField(max_length=255, default="")
    website = fields.CharField(max_length=255, default="")
    description = fields.CharField(max_length=500, default="")
    symbols: Any = fields.JSONField(default=list)
    supports_paper = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "venues"


class VenueAccount(Model):
    """A user account on a venue. Paper accounts trade on the built-in engine."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.User", related_name="venue_accounts", on_delete=fields.CASCADE
    )
    user_id: Any
    venue: fields.ForeignKeyRelation[Venue] = fields.ForeignKeyField(
        "trading.Venue", related_name="accounts", on_delete=fields.RESTRICT
    )
    venue_id: str
    environment = fields.CharEnumField(Environment, max_length=8)
    label = fields.CharField(max_length=100, default="")
    status = fields.CharEnumField(AccountStatus, max_length=16, default=AccountStatus.CONNECTED)
    quote_asset = fields.CharField(max_length=16, default="USDC")
    # Live credentials, encrypted (graphql_api.crypto); never returned by the API.
    credentials = fields.TextField(null=True)
    starting_balance = fields.DecimalField(max_digits=30, decimal_places=12, default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)
    last_sync_at = fields.DatetimeField(null=True)
    disconnected_at = fields.DatetimeField(null=True)

    class Meta:
        table = "venue_accounts"


class Balance(Model):
    """Cash of one asset in a venue account: total, and the part reserved by working orders."""

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[VenueAccount] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="balances", on_delete=fields.CASCADE
    )
    account_id: Any
    asset = fields.CharField(max_length=16)
    total = fields.DecimalField(max_digits=30, decimal_places=12, default=Decimal(0))
    reserved = fields.DecimalField(max_digits=30, decimal_places=12, default=Decimal(0))
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "balances"
        unique_together = (("account", "asset"),)
