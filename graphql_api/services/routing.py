"""Several venues at once (Rugira's multi-venue support): the merged book of a user's paper accounts, the
cross-venue arbitrage scan, and smart order routing. GraphQL-free.

Each spot paper venue quotes the feed with its own small basis (``engine/basis.py``), so the venues' books
differ. Every book here is the matching engine's own book of that venue at the stored feed step: what an
order placed now on that venue trades against.

Costs: every paper venue charges the same taker fee (``PAPER_TAKER_FEE``). A level's *effective price* is
what one unit really costs or pays: ``price × (1 + fee)`` to buy, ``price × (1 − fee)`` to sell.

Routing (``place_routed_order``): the chosen accounts' levels on the taking side are merged and taken
best effective price first (ties: the venue listed first in ``venueAccountIds``) until the quantity is
met, each account limited by what it can pay for (free cash) or deliver (free position). The plan is
refused whole — nothing placed — when the accounts together cannot fill the quantity. Each venue's share
then goes through the normal placement path (``place_order``: kill switch, compliance, funds) as one
LIMIT IOC child order at the worst price planned on that venue, so no child fills worse than planned;
if the feed moved between plan and placement a child may fill less. Venues have no cross-venue atomicity:
a child refused (say a kill switch activated in between) leaves the other children as placed, and the
result reports each child's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.ownership import Actor
from graphql_api.rejections import Invalid, Rejection
from models.audit import Outcome
from models.market import Instrument, LastPrice
from models.orders import OrderType, Side, TimeInForce
from models.positions import Position
from models.venues import AccountStatus, Balance, Environment, Venue, VenueAccount

from ..engine.basis import OFFSETS
from ..engine.book import Book
from .deps import Deps
from .orders import OrderSpec, Placed, place_order, trading_account

MAX_ACCOUNTS = 10
MAX_DEPTH = 50


@dataclass(frozen=True)
class VenueLevel:
    """One level of one venue's book, with the account it would trade from (None in the arbitrage scan)."""

    venue: str
    account_id: str | None
    price: Decimal
    quantity: Decimal
    effective_price: Decimal


@dataclass(frozen=True)
class AggregatedBook:
    symbol: str
    step: int
    feed_price: Decimal
    bids: list[VenueLevel]
    asks: list[VenueLevel]
    venue_marks: dict[str, Decimal]


@dataclass(frozen=True)
class Opportunity:
    symbol: str
    buy_venue: str
    sell_venue: str
    buy_price: Decimal
    sell_price: Decimal
    quantity: Decimal
    gross_spread: Decimal
    net_profit_per_unit: Decimal
    net_profit: Decimal
    net_spread_bps: Decimal


@dataclass
class Child:
    venue: str
    account_id: str
    quantity: Decimal = Decimal(0)
    worst_price: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    placed: Placed | None = None
    refusal: Rejection | None = None


@dataclass
class Routed:
    symbol: str
    side: Side
    quantity: Decimal
    children: list[Child] = field(default_factory=list)


def _effective(price: Decimal, side: Side, fee: Decimal) -> Decimal:
    """What one unit at ``price`` really costs (``side`` BUY: the taker buys) or pays (SELL), fee included."""
    return price * (1 + fee) if side == Side.BUY else price * (1 - fee)


async def _instrument(symbol: str) -> tuple[Instrument, LastPrice]:
    wanted = symbol.strip().upper()
    last = await LastPrice.filter(instrument__symbol=wanted).select_related("instrument").first()
    if last is None:
        raise Invalid(f"{wanted or 'symbol'} is not an instrument", field="symbol")
    return last.instrument, last


def _book(deps: Deps, instrument: Instrument, last: LastPrice, venue: str) -> Book:
    return deps.engine.book(instrument, last.step, last.price, venue, last.ts)


async def _accounts(actor: Actor, account_ids: list[str], symbol: str) -> list[VenueAccount]:
    """The caller's own connected paper spot accounts, distinct, on venues that list ``symbol``."""
    if not 1 <= len(account_ids) <= MAX_ACCOUNTS:
        raise Invalid(f"give 1 to {MAX_ACCOUNTS} venue accounts", field="venueAccountIds")
    if len(set(account_ids)) != len(account_ids):
        raise Invalid("each venue account may be given once", field="venueAccountIds")
    accounts = []
    for account_id in account_ids:
        account = await trading_account(actor, account_id, field="venueAccountIds")
        if account.environment != Environment.PAPER or account.status != AccountStatus.CONNECTED:
            raise Invalid("every venue account must be a connected paper account", field="venueAccountIds")
        if account.venue_id not in OFFSETS:
            raise Invalid(f"{account.venue_id} is not a spot paper venue", field="venueAccountIds")
        venue = await account.venue
        if symbol not in venue.symbols:
            raise Invalid(f"{symbol} is not traded on {venue.name}", field="symbol")
        accounts.append(account)
    return accounts


async def aggregated_book(deps: Deps, actor: Actor, symbol: str, account_ids: list[str], depth: int) -> AggregatedBook:
    """The chosen accounts' venue books merged level by level, best effective price first."""
    if not 1 <= depth <= MAX_DEPTH:
        raise Invalid(f"depth must be between 1 and {MAX_DEPTH}", field="depth")
    instrument, last = await _instrument(symbol)
    accounts = await _accounts(actor, account_ids, instrument.symbol)
    fee = deps.settings.taker_fee
    bids: list[VenueLevel] = []
    asks: list[VenueLevel] = []
    marks = {}
    for account in accounts:
        book = _book(deps, instrument, last, account.venue_id)
        marks[account.venue_id] = book.mark
        for side, levels, into in ((Side.SELL, book.bids, bids), (Side.BUY, book.asks, asks)):
            into.extend(
                VenueLevel(account.venue_id, str(account.id), lv.price, lv.quantity, _effective(lv.price, side, fee))
                for lv in levels[:depth]
            )
    order = {str(a.id): rank for rank, a in enumerate(accounts)}
    bids.sort(key=lambda lv: (-lv.effective_price, order[str(lv.account_id)]))
    asks.sort(key=lambda lv: (lv.effective_price, order[str(lv.account_id)]))
    return AggregatedBook(instrument.symbol, last.step, last.price, bids[:depth], asks[:depth], marks)


async def arbitrage_opportunities(deps: Deps, symbol: str, min_net_spread_bps: Decimal) -> list[Opportunity]:
    """Every (buy venue, sell venue) pair of spot paper venues listing ``symbol`` whose top-of-book spread,
    after the taker fee on both legs, is at least ``min_net_spread_bps`` of the buy price; best first.
    Quantity: what both top levels hold."""
    if not min_net_spread_bps.is_finite():
        raise Invalid("minNetSpreadBps must be a number", field="minNetSpreadBps")
    instrument, last = await _instrument(symbol)
    fee = deps.settings.taker_fee
    venues = [v.id for v in await Venue.filter(id__in=list(OFFSETS)).order_by("id") if instrument.symbol in v.symbols]
    books = {v: _book(deps, instrument, last, v) for v in venues}
    found = []
    for buy in venues:
        for sell in venues:
            if buy == sell:
                continue
            ask, bid = books[buy].asks[0], books[sell].bids[0]
            per_unit = _effective(bid.price, Side.SELL, fee) - _effective(ask.price, Side.BUY, fee)
            bps = per_unit / ask.price * 10_000
            if bps < min_net_spread_bps:
                continue
            quantity = min(ask.quantity, bid.quantity)
            found.append(
                Opportunity(
                    instrument.symbol,
                    buy,
                    sell,
                    ask.price,
                    bid.price,
                    quantity,
                    bid.price - ask.price,
                    per_unit,
                    per_unit * quantity,
                    bps,
                )
            )
    found.sort(key=lambda o: (-o.net_spread_bps, o.buy_venue, o.sell_venue))
    return found


async def _capacity(account: VenueAccount, symbol: str, side: Side) -> Decimal:
    """What the account can spend (BUY: free quote cash) or deliver (SELL: free quantity of ``symbol``)."""
    if side == Side.BUY:
        cash = await Balance.get(account_id=account.id, asset=account.quote_asset)
        return cash.total - cash.reserved
    held = await Position.get_or_none(account_id=account.id, symbol=symbol)
    return held.quantity - held.reserved_quantity if held is not None else Decimal(0)


def _lots(quantity: Decimal, lot: Decimal) -> Decimal:
    return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot


async def place_routed_order(
    deps: Deps,
    actor: Actor,
    symbol: str,
    side: Side,
    quantity: Decimal,
    account_ids: list[str],
    client_order_id: str | None = None,
) -> Routed:
    async with audit.refusals(actor, Action.ORDER_PLACE_ROUTED, target_type="Instrument", detail={"symbol": symbol}):
        if not quantity.is_finite() or quantity <= 0:
            raise Invalid("quantity must be positive", field="quantity")
        if client_order_id is not None and not 1 <= len(client_order_id) <= 60:
            raise Invalid("clientOrderId must be 1 to 60 characters (each child adds ':n')", field="clientOrderId")
        instrument, last = await _instrument(symbol)
        if quantity % instrument.lot_size:
            raise Invalid(
                f"quantity must be a multiple of the lot size {instrument.lot_size.normalize()}", field="quantity"
            )
        accounts = await _accounts(actor, account_ids, instrument.symbol)
        fee = deps.settings.taker_fee
        levels: list[tuple[Decimal, int, Child, Decimal, Decimal]] = []
        children = [Child(a.venue_id, str(a.id)) for a in accounts]
        room = {
            c.account_id: await _capacity(a, instrument.symbol, side) for a, c in zip(accounts, children, strict=True)
        }
        for rank, (account, child) in enumerate(zip(accounts, children, strict=True)):
            book = _book(deps, instrument, last, account.venue_id)
            for lv in book.side_for(side.value):
                levels.append((_effective(lv.price, side, fee), rank, child, lv.price, lv.quantity))
        levels.sort(key=lambda x: ((x[0] if side == Side.BUY else -x[0]), x[1]))
        left = quantity
        for unit_cost, _, child, price, available in levels:
            if left <= 0:
                break
            if side == Side.BUY:
                affordable = _lots(room[child.account_id] / unit_cost, instrument.lot_size)
            else:
                affordable = room[child.account_id]
            take = min(left, available, affordable)
            if take <= 0:
                continue
            room[child.account_id] -= take * unit_cost if side == Side.BUY else take
            child.quantity += take
            child.notional += take * price
            child.worst_price = price
            left -= take
        if left > 0:
            raise Invalid(
                f"the chosen accounts can fill {(quantity - left).normalize():f} of {quantity.normalize():f} "
                f"{instrument.symbol} now",
                code="INSUFFICIENT_LIQUIDITY",
                field="quantity",
            )
        routed = Routed(instrument.symbol, side, quantity, [c for c in children if c.quantity > 0])
        for n, child in enumerate(routed.children):
            spec = OrderSpec(
                account_id=child.account_id,
                symbol=instrument.symbol,
                side=side,
                type=OrderType.LIMIT,
                quantity=child.quantity,
                price=child.worst_price,
                time_in_force=TimeInForce.IOC,
                client_order_id=f"{client_order_id}:{n}" if client_order_id else None,
            )
            try:
                child.placed = await place_order(deps, actor, spec)
            except Rejection as refused:
                child.refusal = refused
        await audit.by(
            actor,
            Action.ORDER_PLACE_ROUTED,
            Outcome.SUCCESS,
            target_type="Instrument",
            target_id=instrument.symbol,
            detail={
                "side": side.value,
                "quantity": str(quantity),
                "children": [
                    {
                        "venue": c.venue,
                        "quantity": str(c.quantity),
                        "orderId": str(c.placed.order.id) if c.placed else None,
                        "refused": c.refusal.code if c.refusal else None,
                    }
                    for c in routed.children
                ],
            },
        )
        return routed
