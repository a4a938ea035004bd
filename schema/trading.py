"""Trading types: venues and accounts, orders and fills, positions, portfolio, the kill switch."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from graphql_api.pagination import to_global_id
from models import trading as t
from models import venues as v

from .common import InvalidInput, Node, NotFound, UserError


@strawberry.enum(description="What a venue trades.")
class VenueType(Enum):
    CRYPTO = strawberry.enum_value("CRYPTO", description="Crypto-asset exchange (centralised or on-chain).")
    TOKENIZED = strawberry.enum_value("TOKENIZED", description="Venue for tokenized securities and funds.")


@strawberry.enum(description="Where a venue account trades.")
class Environment(Enum):
    PAPER = strawberry.enum_value("PAPER", description="The built-in paper venue: real matching, no real money.")
    LIVE = strawberry.enum_value("LIVE", description="The real venue, through its adapter.")


@strawberry.enum(description="Connection state of a venue account.")
class AccountStatus(Enum):
    CONNECTED = strawberry.enum_value("CONNECTED", description="Usable.")
    DISCONNECTED = strawberry.enum_value("DISCONNECTED", description="Disconnected by the user; read-only history.")
    ERROR = strawberry.enum_value("ERROR", description="The last sync failed.")


@strawberry.enum(description="Buy or sell.")
class Side(Enum):
    BUY = strawberry.enum_value("BUY", description="Buy the base asset with the quote asset.")
    SELL = strawberry.enum_value("SELL", description="Sell the base asset for the quote asset.")


@strawberry.enum(description="How an order executes.")
class OrderType(Enum):
    MARKET = strawberry.enum_value("MARKET", description="Fill now against the book at any price.")
    LIMIT = strawberry.enum_value("LIMIT", description="Fill at `price` or better; the rest rests on the book.")
    STOP = strawberry.enum_value("STOP", description="Becomes a market order when the mark crosses `stopPrice`.")
    STOP_LIMIT = strawberry.enum_value(
        "STOP_LIMIT", description="Becomes a limit order at `price` when the mark crosses `stopPrice`."
    )


@strawberry.enum(description="How long an order stays working.")
class TimeInForce(Enum):
    GTC = strawberry.enum_value("GTC", description="Good till cancelled: what does not fill rests.")
    IOC = strawberry.enum_value("IOC", description="Immediate or cancel: fill what is possible now, cancel the rest.")
    FOK = strawberry.enum_value("FOK", description="Fill or kill: fill all of it now, or none of it.")


@strawberry.enum(description="Lifecycle of an order.")
class OrderStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="A stop order waiting for its trigger.")
    OPEN = strawberry.enum_value("OPEN", description="Working on the book, nothing filled yet.")
    PARTIALLY_FILLED = strawberry.enum_value("PARTIALLY_FILLED", description="Working, partly filled.")
    FILLED = strawberry.enum_value("FILLED", description="Completely filled.")
    CANCELED = strawberry.enum_value("CANCELED", description="Ended before filling completely (see filledQuantity).")
    REJECTED = strawberry.enum_value("REJECTED", description="Refused by the venue.")


@strawberry.enum(description="Whether a fill added or removed liquidity.")
class Liquidity(Enum):
    MAKER = strawberry.enum_value("MAKER", description="The order was resting on the book.")
    TAKER = strawberry.enum_value("TAKER", description="The order took liquidity from the book.")


@strawberry.enum(description="What a kill switch covers.")
class KillSwitchScope(Enum):
    GLOBAL = strawberry.enum_value("GLOBAL", description="All trading on the platform (admins only).")
    ACCOUNT = strawberry.enum_value("ACCOUNT", description="All trading of the calling user.")


@strawberry.type(description="A trading venue of the catalog.")
class Venue:
    id: strawberry.ID = strawberry.field(description="Stable venue key, e.g. binance.")
    name: str = strawberry.field(description="Display name.")
    type: VenueType = strawberry.field(description="Crypto or tokenized securities.")
    category: str = strawberry.field(description="CEX, DEX, DLT_EXCHANGE, TRANSFER_AGENT or FUND.")
    protocols: list[str] = strawberry.field(description="Connectivity: FIX, API, WEBSOCKET.")
    drop_copy: bool = strawberry.field(description="Offers a drop-copy feed of executions.")
    t0_settlement: bool = strawberry.field(description="Settles on trade date (T+0).")
    logo_url: str = strawberry.field(description="Path of the venue logo.")
    website: str = strawberry.field(description="Venue website.")
    description: str = strawberry.field(description="One-line summary.")
    symbols: list[str] = strawberry.field(description="Instrument symbols tradable there (on the paper venue too).")
    supports_paper: bool = strawberry.field(description="Paper accounts can be opened on it.")

    @classmethod
    def from_model(cls, row: v.Venue) -> Venue:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            type=VenueType(row.type),
            category=row.category,
            protocols=list(row.protocols),
            drop_copy=row.drop_copy,
            t0_settlement=row.t0_settlement,
            logo_url=row.logo_url,
            website=row.website,
            description=row.description,
            symbols=list(row.symbols),
            supports_paper=row.supports_paper,
        )


@strawberry.type(description="Cash of one asset in a venue account.")
class Balance:
    asset: str = strawberry.field(description="Asset, e.g. USDC.")
    total: Decimal = strawberry.field(description="Everything held.")
    reserved: Decimal = strawberry.field(description="Held back by working orders.")
    available: Decimal = strawberry.field(description="total - reserved: what new orders may use.")


@strawberry.type(description="A user's account on a venue.")
class VenueAccount(Node):
    venue_id: strawberry.ID = strawberry.field(description="The venue's key.")
    environment: Environment = strawberry.field(description="PAPER or LIVE.")
    label: str = strawberry.field(description="The user's name for it.")
    status: AccountStatus = strawberry.field(description="Connection state.")
    quote_asset: str = strawberry.field(description="The asset prices and cash are in.")
    has_credentials: bool = strawberry.field(description="Live credentials are stored (they are never returned).")
    created_at: datetime = strawberry.field(description="When it was connected.")
    last_sync_at: datetime | None = strawberry.field(description="When balances were last synchronised.")
    owner_id: strawberry.ID = strawberry.field(description="Global ID of the owning user.")

    @classmethod
    def from_model(cls, row: v.VenueAccount) -> VenueAccount:
        return cls(
            id=strawberry.ID(to_global_id("VenueAccount", row.id)),
            venue_id=strawberry.ID(row.venue_id),
            environment=Environment(row.environment),
            label=row.label,
            status=AccountStatus(row.status),
            quote_asset=row.quote_asset,
            has_credentials=row.credentials is not None,
            created_at=row.created_at,
            last_sync_at=row.last_sync_at,
            owner_id=strawberry.ID(to_global_id("User", row.user_id)),
        )


@strawberry.type(description="One execution of an order.")
class Fill:
    id: strawberry.ID = strawberry.field(description="Fill identifier.")
    price: Decimal = strawberry.field(description="Execution price.")
    quantity: Decimal = strawberry.field(description="Executed quantity (base asset).")
    fee: Decimal = strawberry.field(description="Fee charged, in the quote asset.")
    liquidity: Liquidity = strawberry.field(description="Maker or taker.")
    created_at: datetime = strawberry.field(description="When it executed.")

    @classmethod
    def from_model(cls, row: t.Fill) -> Fill:
        return cls(
            id=strawberry.ID(str(row.id)),
            price=row.price,
            quantity=row.quantity,
            fee=row.fee,
            liquidity=Liquidity(row.liquidity),
            created_at=row.created_at,
        )


@strawberry.type(description="An order on a venue account.")
class Order(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Market, limit, stop or stop-limit.")
    time_in_force: TimeInForce = strawberry.field(description="GTC, IOC or FOK.")
    quantity: Decimal = strawberry.field(description="Ordered quantity (base asset).")
    price: Decimal | None = strawberry.field(description="Limit price (LIMIT, STOP_LIMIT).")
    stop_price: Decimal | None = strawberry.field(description="Trigger price (STOP, STOP_LIMIT).")
    filled_quantity: Decimal = strawberry.field(description="Quantity filled so far (never above quantity).")
    remaining_quantity: Decimal = strawberry.field(description="quantity - filledQuantity.")
    average_price: Decimal | None = strawberry.field(description="Volume-weighted average fill price.")
    fees: Decimal = strawberry.field(description="Fees paid so far, in the quote asset.")
    status: OrderStatus = strawberry.field(description="Where it is in its lifecycle.")
    client_order_id: str | None = strawberry.field(description="The caller's idempotency key.")
    reason: str | None = strawberry.field(description="Why it was cancelled or rejected.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    order_pk: strawberry.Private[str]

    @strawberry.field(description="Its executions, oldest first.")
    async def fills(self, info: strawberry.Info) -> list[Fill]:
        rows = await info.context.loaders.fills_by_order.load(self.order_pk)
        return [Fill.from_model(r) for r in rows]

    @classmethod
    def from_model(cls, row: t.Order) -> Order:
        return cls(
            id=strawberry.ID(to_global_id("Order", row.id)),
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            symbol=row.symbol,
            side=Side(row.side),
            type=OrderType(row.type),
            time_in_force=TimeInForce(row.time_in_force),
            quantity=row.quantity,
            price=row.price,
            stop_price=row.stop_price,
            filled_quantity=row.filled_quantity,
            remaining_quantity=row.quantity - row.filled_quantity,
            average_price=row.average_price,
            fees=row.fees,
            status=OrderStatus(row.status),
            client_order_id=row.client_order_id,
            reason=row.reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            order_pk=str(row.id),
        )


@strawberry.type(description="A holding in one instrument, with its live mark and profit and loss.")
class Position(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the venue account.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    quantity: Decimal = strawberry.field(description="Net quantity held: the sum of signed fills.")
    available_quantity: Decimal = strawberry.field(description="Quantity not reserved by working sell orders.")
    average_entry_price: Decimal = strawberry.field(description="Average price paid for what is held.")
    mark_price: Decimal = strawberry.field(description="Latest feed price.")
    market_value: Decimal = strawberry.field(description="quantity × markPrice.")
    cost_basis: Decimal = strawberry.field(description="quantity × averageEntryPrice.")
    unrealized_pnl: Decimal = strawberry.field(description="(markPrice − averageEntryPrice) × quantity.")
    unrealized_pnl_percent: Decimal = strawberry.field(description="unrealizedPnl / costBasis × 100 (0 when flat).")
    realized_pnl: Decimal = strawberry.field(description="Profit or loss locked in by sells, before fees.")
    fees: Decimal = strawberry.field(description="Fees paid on this instrument's fills.")
    updated_at: datetime = strawberry.field(description="When a fill last changed it.")


@strawberry.type(description="Share of the portfolio held in one asset.")
class AllocationEntry:
    asset: str = strawberry.field(description="Asset symbol, or the quote asset for cash.")
    value: Decimal = strawberry.field(description="Value in the quote asset.")
    percent: Decimal = strawberry.field(description="Share of total value, in percent.")


@strawberry.type(description="Portfolio value at one moment.")
class EquityPoint:
    timestamp: datetime = strawberry.field(description="When it was measured (UTC).")
    equity: Decimal = strawberry.field(description="Cash plus positions at mark.")


@strawberry.type(
    description="Risk figures from the equity history of the chosen period (returns between consecutive "
    "equity snapshots). Formulas are given on each field."
)
class RiskMetrics:
    observations: int = strawberry.field(description="Number of returns used.")
    value_at_risk_95: Decimal = strawberry.field(
        description="Historical one-period VaR at 95%: max(0, −q05) × current value, where q05 is the 5th "
        "percentile of returns with linear interpolation between closest ranks."
    )
    sharpe_ratio: Decimal | None = strawberry.field(
        description="mean(returns) / sample stdev(returns) × sqrt(periods per year); risk-free rate 0; null with "
        "fewer than 2 returns or no variation."
    )
    beta: Decimal | None = strawberry.field(
        description="Sample covariance(returns, BTC returns) / sample variance(BTC returns), BTC taken at or "
        "just before each snapshot; null without enough data."
    )
    max_drawdown: Decimal = strawberry.field(
        description="Largest fall from a running peak of equity, as a fraction of that peak (0 to 1)."
    )
    volatility: Decimal | None = strawberry.field(description="Sample stdev of returns × sqrt(periods per year).")


@strawberry.enum(description="A window of history.")
class Period(Enum):
    HOUR = strawberry.enum_value("1H", description="The last hour.")
    DAY = strawberry.enum_value("1D", description="The last 24 hours.")
    WEEK = strawberry.enum_value("1W", description="The last 7 days.")
    MONTH = strawberry.enum_value("1M", description="The last 30 days.")
    ALL = strawberry.enum_value("ALL", description="Everything recorded.")


@strawberry.type(description="The signed-in user's holdings across paper accounts, valued at the latest feed prices.")
class Portfolio:
    total_value: Decimal = strawberry.field(description="Cash plus positions at mark.")
    cash: Decimal = strawberry.field(description="Total quote-asset cash (including reserved).")
    positions_value: Decimal = strawberry.field(description="Positions at mark.")
    unrealized_pnl: Decimal = strawberry.field(description="Sum of positions' unrealized PnL.")
    realized_pnl: Decimal = strawberry.field(description="Sum of positions' realized PnL.")
    daily_pnl: Decimal = strawberry.field(description="totalValue − value at the start of the UTC day.")
    daily_pnl_percent: Decimal = strawberry.field(description="dailyPnl / value at the start of the UTC day × 100.")
    allocation: list[AllocationEntry] = strawberry.field(description="Value per asset, largest first.")
    as_of: datetime = strawberry.field(description="When it was computed.")
    account_ids: strawberry.Private[list[str]]

    @strawberry.field(description="Equity over a period, oldest first.")
    async def performance_history(
        self,
        info: strawberry.Info,
        period: Annotated[Period, strawberry.argument(description="Which window.")] = Period.DAY,
    ) -> list[EquityPoint]:
        from resolvers.portfolio import performance_history

        return await performance_history(info, self.account_ids, period)

    @strawberry.field(description="Risk metrics over a period.")
    async def risk_metrics(
        self,
        info: strawberry.Info,
        period: Annotated[Period, strawberry.argument(description="Which window.")] = Period.DAY,
    ) -> RiskMetrics:
        from resolvers.portfolio import risk_metrics

        return await risk_metrics(info, self.account_ids, period)


@strawberry.type(description="State of one kill switch.")
class KillSwitchState:
    scope: KillSwitchScope = strawberry.field(description="GLOBAL or ACCOUNT.")
    active: bool = strawberry.field(description="Trading is stopped.")
    reason: str = strawberry.field(description="Why it was last changed.")
    changed_at: datetime | None = strawberry.field(description="When it was last changed.")


@strawberry.type(description="What the caller is subject to: the global switch and their own.")
class KillSwitchStatus:
    global_switch: KillSwitchState = strawberry.field(description="The platform-wide switch.")
    account_switch: KillSwitchState = strawberry.field(description="The caller's own switch.")
    trading_blocked: bool = strawberry.field(description="Either is active: new orders are refused.")


@strawberry.type(description="One activation or deactivation.")
class KillSwitchEvent:
    scope: KillSwitchScope = strawberry.field(description="Which switch.")
    active: bool = strawberry.field(description="Activated (true) or deactivated (false).")
    reason: str = strawberry.field(description="Given reason.")
    actor_id: strawberry.ID | None = strawberry.field(description="Global ID of who did it.")
    cancelled_orders: int = strawberry.field(description="Working orders it cancelled.")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="An order was accepted (it may already be filled).")
class OrderPlaced:
    order: Order = strawberry.field(description="The order.")
    replayed: bool = strawberry.field(
        description="True when this clientOrderId was seen before: the original order is returned, nothing new "
        "was created."
    )


@strawberry.type(description="A kill switch blocks new orders (risk-reducing orders are still allowed).")
class KillSwitchActive(UserError):
    scope: KillSwitchScope = strawberry.field(description="Which switch is active.")


@strawberry.type(description="The account cannot pay for the order, or does not hold what it sells.")
class InsufficientFunds(UserError):
    asset: str = strawberry.field(description="The missing asset.")
    required: Decimal = strawberry.field(description="What the order needs.")
    available: Decimal = strawberry.field(description="What is available.")


@strawberry.type(description="A compliance rule refused the order.")
class ComplianceRejected(UserError):
    rule: str = strawberry.field(description="The rule that refused it.")


@strawberry.type(description="The order was cancelled.")
class OrderCancelled:
    order: Order = strawberry.field(description="The order as cancelled.")


@strawberry.type(description="Working orders were cancelled.")
class OrdersCancelled:
    orders: list[Order] = strawberry.field(description="The cancelled orders.")


@strawberry.type(description="A closing order was placed for each position.")
class PositionsClosed:
    orders: list[Order] = strawberry.field(description="The closing market orders.")


@strawberry.type(description="The venue account after the change.")
class VenueAccountChanged:
    account: VenueAccount = strawberry.field(description="The account.")


@strawberry.type(description="No live adapter can reach this venue from here.")
class VenueUnavailable(UserError):
    venue_id: strawberry.ID = strawberry.field(description="The venue.")


@strawberry.type(description="The kill switch after the change.")
class KillSwitchChanged:
    state: KillSwitchState = strawberry.field(description="The switch.")
    cancelled_orders: int = strawberry.field(description="Working orders cancelled by the activation.")


@strawberry.input(description="An order to place.")
class PlaceOrderInput:
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of a connected paper account.")
    symbol: str = strawberry.field(description="Instrument symbol (case-insensitive).")
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Order type.")
    quantity: Decimal = strawberry.field(description="Quantity, positive, a multiple of the lot size.")
    price: Decimal | None = strawberry.field(default=None, description="Limit price (LIMIT, STOP_LIMIT).")
    stop_price: Decimal | None = strawberry.field(default=None, description="Trigger price (STOP, STOP_LIMIT).")
    time_in_force: TimeInForce = strawberry.field(
        default=TimeInForce.GTC, description="Defaults to GTC; MARKET and STOP orders never rest (GTC acts as IOC)."
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description="Idempotency key (1–64 of A-Z a-z 0-9 _ - . :): a retry with the same key returns the "
        "original order; the same key with other parameters is an error.",
    )


@strawberry.input(description="Which orders to list.")
class OrderFilter:
    status: list[OrderStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    symbol: str | None = strawberry.field(default=None, description="Only this symbol.")
    side: Side | None = strawberry.field(default=None, description="Only this side.")
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Placed at or after.")
    to: datetime | None = strawberry.field(default=None, description="Placed before.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Admins: another user's orders.")


@strawberry.input(description="Which positions to list.")
class PositionFilter:
    venue_account_id: strawberry.ID | None = strawberry.field(default=None, description="Only this account.")
    symbol: str | None = strawberry.field(default=None, description="Only this symbol.")
    include_closed: bool = strawberry.field(default=False, description="Also positions now flat.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Admins: another user's positions.")


@strawberry.input(description="Connect an account on a venue.")
class ConnectVenueInput:
    venue_id: strawberry.ID = strawberry.field(description="Venue key from `venues`.")
    environment: Environment = strawberry.field(description="PAPER (built-in engine) or LIVE.")
    label: str | None = strawberry.field(default=None, description="Your name for it (up to 100 characters).")
    starting_balance: Decimal | None = strawberry.field(
        default=None, description="PAPER: starting cash in the quote asset (default 100000, at most 10000000)."
    )
    api_key: str | None = strawberry.field(default=None, description="LIVE: API key (stored encrypted).")
    api_secret: str | None = strawberry.field(default=None, description="LIVE: API secret (stored encrypted).")
    passphrase: str | None = strawberry.field(default=None, description="LIVE: passphrase, where the venue uses one.")


@strawberry.input(description="Stop trading.")
class ActivateKillSwitchInput:
    reason: str = strawberry.field(description="Why (1–500 characters), recorded in history and the audit log.")
    scope: KillSwitchScope = strawberry.field(
        default=KillSwitchScope.ACCOUNT, description="ACCOUNT (your trading) or GLOBAL (admins)."
    )


@strawberry.input(description="Resume trading.")
class DeactivateKillSwitchInput:
    reason: str = strawberry.field(description="Why (1–500 characters).")
    scope: KillSwitchScope = strawberry.field(default=KillSwitchScope.ACCOUNT, description="Which switch.")


PlaceOrderResult = Annotated[
    OrderPlaced | KillSwitchActive | ComplianceRejected | InsufficientFunds | InvalidInput,
    strawberry.union("PlaceOrderResult", description="The placed order, or why it was refused."),
]
CancelOrderResult = Annotated[
    OrderCancelled | NotFound | InvalidInput,
    strawberry.union("CancelOrderResult", description="The cancelled order, or why not."),
]
CancelAllResult = Annotated[
    OrdersCancelled | NotFound,
    strawberry.union("CancelAllResult", description="The cancelled orders, or the account was not found."),
]
ClosePositionResult = Annotated[
    OrderPlaced | KillSwitchActive | ComplianceRejected | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union("ClosePositionResult", description="The closing order, or why not."),
]
CloseAllResult = Annotated[
    PositionsClosed | NotFound,
    strawberry.union("CloseAllResult", description="The closing orders, or the account was not found."),
]
ConnectVenueResult = Annotated[
    VenueAccountChanged | VenueUnavailable | NotFound | InvalidInput,
    strawberry.union("ConnectVenueResult", description="The connected account, or why not."),
]
VenueAccountResult = Annotated[
    VenueAccountChanged | VenueUnavailable | NotFound | InvalidInput,
    strawberry.union("VenueAccountResult", description="The account after the change, or why not."),
]
KillSwitchResult = Annotated[
    KillSwitchChanged | InvalidInput,
    strawberry.union("KillSwitchResult", description="The switch after the change, or why not."),
]


@strawberry.type(description="One delivery on orderUpdates.")
class OrderUpdate:
    order: Order = strawberry.field(description="The order as it is now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="Part of the opening snapshot of working orders (or a resync).")


@strawberry.type(description="One delivery on positionUpdates.")
class PositionUpdate:
    position: Position = strawberry.field(description="The position with its latest mark.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="Part of the opening snapshot of positions (or a resync).")


@strawberry.type(description="One delivery on portfolioUpdates.")
class PortfolioUpdate:
    portfolio: Portfolio = strawberry.field(description="The portfolio now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")


@strawberry.type(description="One delivery on killSwitchChanged.")
class KillSwitchUpdate:
    status: KillSwitchStatus = strawberry.field(description="The switches that apply to the subscriber.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")
