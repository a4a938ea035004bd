"""Trading state: orders, their fills, positions, the kill switch, equity history and alerts."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


def _money(**options: Any) -> Any:
    """Every amount, price and quantity: exact decimal with 12 places."""
    return fields.DecimalField(max_digits=30, decimal_places=12, **options)


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
    quantity = _money()
    price = _money(null=True)
    stop_price = _money(null=True)
    filled_quantity = _money(default=Decimal(0))
    # Exact sum of price x quantity over the fills: the average price derives from it without drift.
    filled_notional = _money(default=Decimal(0))
    average_price = _money(null=True)
    fees = _money(default=Decimal(0))
    status = fields.CharEnumField(OrderStatus, max_length=20)
    client_order_id = fields.CharField(max_length=64, null=True)
    reserved_cash = _money(default=Decimal(0))
    reserved_quantity = _money(default=Decimal(0))
    reason = fields.CharField(max_length=200, null=True)
    triggered_at = fields.DatetimeField(null=True)
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
    price = _money()
    quantity = _money()
    fee = _money()
    liquidity = fields.CharEnumField(Liquidity, max_length=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "fills"


class Position(Model):
    """Net holding of one instrument in one account, derived from its fills."""

    id = fields.UUIDField(primary_key=True)
    account: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.VenueAccount", related_name="positions", on_delete=fields.CASCADE
    )
    account_id: Any
    user_id = fields.UUIDField(db_index=True)
    symbol = fields.CharField(max_length=32)
    quantity = _money(default=Decimal(0))
    reserved_quantity = _money(default=Decimal(0))
    average_entry_price = _money(default=Decimal(0))
    # Exact cost of the quantity held (buys add price x quantity, sells remove average x quantity).
    cost_basis = _money(default=Decimal(0))
    realized_pnl = _money(default=Decimal(0))
    fees = _money(default=Decimal(0))
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "positions"
        unique_together = (("account", "symbol"),)


class KillScope(StrEnum):
    GLOBAL = "GLOBAL"
    ACCOUNT = "ACCOUNT"


class KillSwitch(Model):
    """The state of one kill switch: the GLOBAL one (seeded) or the ACCOUNT switch of one user."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharEnumField(KillScope, max_length=8)
    user_id = fields.UUIDField(null=True, unique=True)
    active = fields.BooleanField(default=False)
    reason = fields.CharField(max_length=500, default="")
    changed_by = fields.UUIDField(null=True)
    changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "kill_switches"


class KillSwitchEvent(Model):
    """History: each activation and deactivation, with what it did."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharEnumField(KillScope, max_length=8)
    user_id = fields.UUIDField(null=True, db_index=True)
    active = fields.BooleanField()
    reason = fields.CharField(max_length=500, default="")
    actor_id = fields.UUIDField(null=True)
    cancelled_orders = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kill_switch_events"


class EquitySnapshot(Model):
    """Account value at a moment (cash plus positions at mark), for performance and risk."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField()
    ts = fields.DatetimeField()
    equity = _money()
    cash = _money()
    # BTC mark at the same instant: the benchmark for beta, sampled on exactly the same timestamps.
    benchmark_price = _money(null=True)

    class Meta:
        table = "equity_snapshots"
        indexes = (("account_id", "ts"),)


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Alert(Model):
    """A notification for one user (or for every admin when user_id is null)."""

    id = fields.UUIDField(primary_key=True)
    user_id = fields.UUIDField(null=True, db_index=True)
    type = fields.CharField(max_length=32)
    category = fields.CharField(max_length=32)
    severity = fields.CharEnumField(Severity, max_length=8)
    title = fields.CharField(max_length=200)
    message = fields.TextField()
    source = fields.CharField(max_length=64, default="")
    read_at = fields.DatetimeField(null=True)
    acknowledged_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alerts"
