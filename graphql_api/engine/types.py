"""What the engine is asked to do and what a transaction changed: plain data shared by the engine, its
pre-trade checks and the domain actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from models.orders import OrderType, Side, TimeInForce


@dataclass
class OrderRequest:
    account_id: str
    user_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    client_order_id: str | None
    # A perp account's order (the Hyperliquid paper venue), and whether it may only reduce the position.
    perp: bool = False
    reduce_only: bool = False
    bot_id: str | None = None  # the bot placing it, if any


@dataclass
class Changes:
    """What a transaction changed, published after it commits."""

    orders: dict[str, str] = field(default_factory=dict)  # order id -> user id
    positions: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, symbol) -> user id

    def merge(self, other: Changes) -> None:
        self.orders.update(other.orders)
        self.positions.update(other.positions)

    @property
    def users(self) -> set[str]:
        return set(self.orders.values()) | set(self.positions.values())
