"""Market data types: instruments, prices, candles, tickers, the order book and market statistics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from graphql_api.cachecontrol import CacheControl
from graphql_api.pagination import to_global_id
from models import market as m

from .common import Node


def _keyed(kind: str, *parts: object) -> strawberry.ID:
    """A stable client-cache identity for an object keyed by its parts (not a Node: not for node(id:))."""
    return strawberry.ID(to_global_id(kind, ":".join(str(p) for p in parts)))


# The catalog changes with a deployment, not with the market: shared caches may keep it a few minutes.
@strawberry.type(description="A tradable instrument listed on the platform.", directives=[CacheControl(max_age=300)])
class Instrument(Node):
    symbol: str = strawberry.field(description="Ticker symbol, e.g. BTC; the key every market query takes.")
    name: str = strawberry.field(description="Human-readable name, e.g. Bitcoin.")
    asset_index: int = strawberry.field(
        description="Hyperliquid perpetual asset index (BTC 0, ETH 1, SOL 2, XRP 3, DOGE 4, AVAX 5, ...)."
    )
    base: str = strawberry.field(description="Base asset, the thing bought or sold.")
    quote: str = strawberry.field(description="Quote asset prices are expressed in, e.g. USDC.")
    tick_size: Decimal = strawberry.field(description="Smallest price increment; every price is a multiple.")
    lot_size: Decimal = strawberry.field(description="Smallest quantity increment; every quantity is a multiple.")

    @classmethod
    def from_model(cls, row: m.Instrument) -> Instrument:
        return cls(
            id=strawberry.ID(to_global_id("Instrument", row.symbol)),
            symbol=row.symbol,
            name=row.name,
            asset_index=row.asset_index,
            base=row.base,
            quote=row.quote,
            tick_size=row.tick_size,
            lot_size=row.lot_size,
        )


@strawberry.type(description="The latest price of an instrument from the market feed.")
class Price:
    symbol: str = strawberry.field(description="Instrument symbol.")
    price: Decimal = strawberry.field(description="Last traded (mark) price, in the quote asset.")
    timestamp: datetime = strawberry.field(description="When the feed produced this price (UTC).")

    @strawberry.field(description="Stable identity of the instrument's latest price, for client caches.")
    def id(self) -> strawberry.ID:
        return _keyed("Price", self.symbol)


@strawberry.type(description="One delivery on a price-tick subscription.")
class PriceTick:
    symbol: str = strawberry.field(description="Instrument symbol.")
    price: Decimal = strawberry.field(description="Price at this tick, in the quote asset.")
    timestamp: datetime = strawberry.field(description="When the feed produced this tick (UTC).")
    sequence: int = strawberry.field(
        description="Position of this delivery in this subscription, from 1, without gaps. "
        "A reconnecting client starts a new stream and gets a fresh snapshot."
    )
    snapshot: bool = strawberry.field(
        description="True for the current-state deliveries that open the stream (and that follow a bus "
        "reconnect); false for live ticks."
    )


@strawberry.enum(description="The length of a candle. Candles of every length start on a grid aligned to 00:00 UTC.")
class CandleInterval(Enum):
    ONE_MINUTE = strawberry.enum_value("1m", description="One minute.")
    FIVE_MINUTES = strawberry.enum_value("5m", description="Five minutes.")
    FIFTEEN_MINUTES = strawberry.enum_value("15m", description="Fifteen minutes.")
    ONE_HOUR = strawberry.enum_value("1h", description="One hour.")
    FOUR_HOURS = strawberry.enum_value("4h", description="Four hours, from 00:00, 04:00, ... UTC.")
    ONE_DAY = strawberry.enum_value("1d", description="One day, from 00:00 UTC.")


@strawberry.type(
    description="Open, high, low, close and volume of one instrument over one interval. Candles from the "
    "feed's start on are built from its ticks; earlier ones are a generated history, the same on every "
    "request and every server, that ends at the price the feed started from.",
    directives=[CacheControl(max_age=5)],  # the open candle moves with every tick
)
class Candle:
    symbol: str = strawberry.field(description="Instrument symbol.")
    interval: CandleInterval = strawberry.field(description="The candle's length.")
    open_time: datetime = strawberry.field(description="Start of the interval (UTC, inclusive).")
    close_time: datetime = strawberry.field(
        description="End of the interval (UTC, exclusive): the next candle's openTime."
    )
    open: Decimal = strawberry.field(description="Price at the start of the interval.")
    high: Decimal = strawberry.field(description="Highest price in the interval.")
    low: Decimal = strawberry.field(description="Lowest price in the interval.")
    close: Decimal = strawberry.field(description="Last price in the interval (so far, while it is open).")
    volume: Decimal = strawberry.field(description="Base quantity traded in the interval.")
    quote_volume: Decimal = strawberry.field(
        description="Quote turnover in the interval: the sum of price times quantity of its ticks (for "
        "generated history, the volume at the typical price (high + low + close) / 3)."
    )
    closed: bool = strawberry.field(
        description="False for a candle whose interval has not ended: it changes with every tick until then."
    )

    @strawberry.field(description="Stable identity of this instrument's candle of this interval and openTime.")
    def id(self) -> strawberry.ID:
        return _keyed("Candle", self.symbol, self.interval.value, int(self.open_time.timestamp()))


@strawberry.type(description="One delivery on a candle subscription.")
class CandleUpdate:
    candle: Candle = strawberry.field(
        description="The open candle as of this delivery. When its openTime is later than the previous "
        "delivery's, a new interval began and the previous candle is final."
    )
    sequence: int = strawberry.field(
        description="Position of this delivery in this subscription, from 1, without gaps. "
        "A reconnecting client starts a new stream and gets a fresh snapshot."
    )
    snapshot: bool = strawberry.field(
        description="True for the current candle that opens the stream (and that follows a bus reconnect); "
        "false for the updates of live ticks."
    )


@strawberry.type(
    description="Rolling 24-hour statistics of one instrument, from its one-minute candles.",
    directives=[CacheControl(max_age=5)],
)
class Ticker:
    symbol: str = strawberry.field(description="Instrument symbol.")
    last_price: Decimal = strawberry.field(description="Latest feed price.")
    open_price: Decimal = strawberry.field(
        description="Price 24 hours ago: the open of the first one-minute candle in the window."
    )
    high_price: Decimal = strawberry.field(description="Highest price in the window.")
    low_price: Decimal = strawberry.field(description="Lowest price in the window.")
    change: Decimal = strawberry.field(description="lastPrice minus openPrice.")
    change_percent: Decimal = strawberry.field(
        description="change as a percentage of openPrice, rounded to two decimals (e.g. -1.25)."
    )
    volume: Decimal = strawberry.field(description="Base quantity traded in the window.")
    quote_volume: Decimal = strawberry.field(
        description="Quote turnover in the window: the sum of its candles' quoteVolume."
    )
    open_time: datetime = strawberry.field(
        description="Start of the window (UTC): the openTime of its first one-minute candle."
    )
    timestamp: datetime = strawberry.field(description="When the feed produced lastPrice (UTC).")

    @strawberry.field(description="Stable identity of the instrument's ticker, for client caches.")
    def id(self) -> strawberry.ID:
        return _keyed("Ticker", self.symbol)


@strawberry.type(description="One price level of an order book.")
class BookLevel:
    price: Decimal = strawberry.field(description="Price of the level, in the quote asset.")
    quantity: Decimal = strawberry.field(description="Base quantity available at this price.")


@strawberry.type(
    description="The paper venue's order book at the current feed tick: exactly the levels an order placed "
    "now trades against. It is rebuilt around the mark price at every tick."
)
class OrderBook:
    symbol: str = strawberry.field(description="Instrument symbol.")
    bids: list[BookLevel] = strawberry.field(description="Buy levels, best (highest price) first.")
    asks: list[BookLevel] = strawberry.field(description="Sell levels, best (lowest price) first.")
    mark_price: Decimal = strawberry.field(description="The feed price the book is built around.")
    spread: Decimal | None = strawberry.field(
        description="Best ask minus best bid; null when a side is empty (a price too close to zero)."
    )
    step: int = strawberry.field(description="The feed step of markPrice; the book changes with every step.")
    timestamp: datetime = strawberry.field(description="When the feed produced markPrice (UTC).")

    @strawberry.field(description="Stable identity of the instrument's book, for client caches.")
    def id(self) -> strawberry.ID:
        return _keyed("OrderBook", self.symbol)


@strawberry.type(description="One instrument's 24-hour move, for market overviews.")
class MarketMover:
    symbol: str = strawberry.field(description="Instrument symbol.")
    last_price: Decimal = strawberry.field(description="Latest feed price.")
    change_percent: Decimal = strawberry.field(
        description="Change over the trailing 24 hours in percent, as ticker(symbol).changePercent."
    )


@strawberry.type(description="Platform-wide market statistics over the trailing 24 hours.")
class MarketStats:
    instrument_count: int = strawberry.field(description="Number of listed instruments.")
    quote_volume: Decimal = strawberry.field(
        description="Quote turnover of every instrument in the trailing 24 hours, summed (every instrument "
        "quotes in USDC)."
    )
    top_gainers: list[MarketMover] = strawberry.field(
        description="The instruments that rose most, largest rise first (at most 3; only rising ones)."
    )
    top_losers: list[MarketMover] = strawberry.field(
        description="The instruments that fell most, largest fall first (at most 3; only falling ones)."
    )
    timestamp: datetime = strawberry.field(description="When the statistics were computed (UTC).")
