"""Orders and their fills."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # a stop waiting for its trigger
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


WORKING = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class Order(Model):
    """An order on a venue account. The reserved columns hold what it blocks until it fills or is cancelled."""

    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="orders", on_delete=fields.CASCADE
    )
    account_id: Any
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(Side, max_length=4)
    type = fields.CharEnumField(OrderType, max_length=16)
    time_in_force = fields.CharEnumField(TimeInForce, max_length=4)
    quantity = money()
    price = money(null=True)
    stop_price = money(null=True)
    filled_quantity = money(default=Decimal(0))
    # Exact sum of price x quantity over the fills: the average price derives from it without drift.
    filled_notional = money(default=Decimal(0))
    average_price = money(null=True)
    fees = money(default=Decimal(0))
    status = fields.CharEnumField(OrderStatus, max_length=20)
    client_order_id = fields.CharField(max_length=64, null=True)
    reserved_cash = money(default=Decimal(0))
    reserved_quantity = money(default=Decimal(0))
    reason = fields.CharField(max_length=200, null=True)
    triggered_at = fields.DatetimeField(null=True)
    bot_id = fields.UUIDField(null=True, db_index=True)  # the bot that placed it, if any
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders"
        unique_together = (("account", "client_order_id"),)
        indexes = (("account_id", "status"), ("user_id", "created_at"), ("symbol", "status"))


class Fill(Model):
    """One execution of an order: price, quantity and fee (in the quote asset)."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "trading.Order", related_name="fills", on_delete=fields.CASCADE
    )
    order_id: Any
    account_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    side = fields.CharEnumField(Side, max_length=4)
    price = money()
    quantity = money()
    fee = money()
    liquidity = fields.CharEnumField(Liquidity, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "fills"
        # An order's fills are read by order (the fills DataLoader, the order page): without this index
        # PostgreSQL scans every fill for each page.
        indexes = (Index(fields=["order_id", "id"]),)
