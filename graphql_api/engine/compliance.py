"""Compliance rules in the pre-trade pipeline: every active rule that covers the account is evaluated under the
account lock against the order and what the account holds and has working.

What each rule measures (``breach`` below; a limit is the largest value allowed, the first value past it breaches):

- POSITION_LIMIT (one symbol, or every symbol when the rule names none): the projected long position,
  quantity = held + remaining of working BUY orders + this order; notional = held × mark + Σ working BUY
  remaining × (limit price, or stop price for a stop) + this order's quantity × (its limit price, its stop
  price, or the mark for a market order). Breached when quantity > maxQuantity or notional > maxNotional.
- RISK_LIMIT: the daily loss of the venue account, baseline − now, where "now" is Σ over its positions of
  (realized PnL − fees) and the baseline is that sum when the account was first checked on the current UTC
  day (stored on that first check). Breached when the loss ≥ maxDailyLoss: once the loss reaches the limit,
  no new risk is taken that day.
- ORDER_RATE: orders the account placed in the last windowSeconds, this one included; breached when > maxCount.
- EXCESSIVE_CANCELS: orders the account's owner cancelled (cancelOrder, cancelAllOrders) in the last
  windowSeconds; breached when > maxCount. A kill switch's or a dead-man switch's cancels do not count.
- WASH_TRADE: the order would cross a resting order of the same user on the other side of the same symbol
  (any of the user's accounts): a BUY at or above one of their resting SELL prices, a SELL at or below one of
  their resting BUY prices; a market or stop order crosses any resting opposite order.
- RESTRICTED_INSTRUMENT: the order's symbol is one of the rule's symbols.
- TRADING_HOURS: the order arrives outside [start, end) in UTC minutes of the day (a window past midnight,
  start > end, wraps).

A control never traps a position: an order that only reduces a held position (a SELL of at most the free
quantity) passes every rule except WASH_TRADE, as it passes the kill switch. A HARD rule refuses the order
with ``ComplianceRefused`` naming the rule; a SOFT rule lets it through and writes a violation in the
order's transaction (rolled back with it if anything later refuses the order), published by the feed leader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tortoise.expressions import Q

from models.alerts import AlertCategory, AlertType, Severity
from models.compliance import (
    ComplianceRule,
    ComplianceViolation,
    Enforcement,
    RiskBaseline,
    RuleScope,
    RuleType,
)
from models.orders import WORKING, Order, OrderStatus, OrderType, Side
from models.positions import Position
from models.venues import VenueAccount

from ..auth import utcnow
from ..rejections import ComplianceRefused
from ..scalars import serialize_decimal
from ..services.alerts import raise_alert
from .checks import PRE_TRADE_CHECKS, PreTrade

# Why a kill switch or a dead-man switch cancelled an order: not the owner's cancels.
USER_CANCEL_REASONS = ("cancelled by user", "cancelled by user (all)")

RECOMMENDATIONS: dict[RuleType, str] = {
    RuleType.POSITION_LIMIT: "Reduce the position or the working buy orders below the limit before adding to it.",
    RuleType.RISK_LIMIT: "Stop opening new risk today and review the losing trades with the risk desk.",
    RuleType.ORDER_RATE: "Throttle order submission (batch or pace orders) to stay within the allowed rate.",
    RuleType.EXCESSIVE_CANCELS: "Place orders closer to intended execution to avoid cancel-heavy order flow.",
    RuleType.WASH_TRADE: "Cancel the resting order on the other side before crossing it with your own order.",
    RuleType.RESTRICTED_INSTRUMENT: "Do not trade restricted instruments; close any exposure through compliance.",
    RuleType.TRADING_HOURS: "Trade only within the permitted hours, or ask compliance to widen the window.",
}


def within_hours(start_minute: int, end_minute: int, minute: int) -> bool:
    """``minute`` (of the UTC day) lies in [start, end); start > end wraps past midnight, start == end is never."""
    if start_minute <= end_minute:
        return start_minute <= minute < end_minute
    return minute >= start_minute or minute < end_minute


def _fmt(value: Decimal) -> str:
    return serialize_decimal(value)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass
class _Context:
    trade: PreTrade
    now: datetime
    venue_id: str
    soft: list[tuple[ComplianceRule, str]] = field(default_factory=list)

    @property
    def reduces_risk(self) -> bool:
        req = self.trade.req
        return req.side == Side.SELL and req.quantity <= self.trade.free_quantity


async def _position_limit(rule: ComplianceRule, ctx: _Context) -> str | None:
    req, trade = ctx.trade.req, ctx.trade
    if req.side != Side.BUY or (rule.symbol is not None and rule.symbol != req.symbol):
        return None
    working = await Order.filter(
        account_id=req.account_id, symbol=req.symbol, side=Side.BUY, status__in=list(WORKING)
    ).using_db(trade.conn)
    working_qty = sum((o.quantity - o.filled_quantity for o in working), Decimal(0))
    working_notional = sum(
        ((o.quantity - o.filled_quantity) * (o.price if o.price is not None else o.stop_price or trade.mark))
        for o in working
    )
    held = trade.position.quantity
    quantity = held + working_qty + req.quantity
    if rule.max_quantity is not None and quantity > rule.max_quantity:
        return (
            f"the {req.symbol} position would reach {_fmt(quantity)} (held, working buys and this order), "
            f"over the limit of {_fmt(rule.max_quantity)}"
        )
    own_price = req.price if req.price is not None else req.stop_price if req.stop_price is not None else trade.mark
    notional = held * trade.mark + working_notional + req.quantity * own_price
    if rule.max_notional is not None and notional > rule.max_notional:
        return (
            f"the {req.symbol} position would reach a notional of {_fmt(notional)}, "
            f"over the limit of {_fmt(rule.max_notional)}"
        )
    return None


async def _risk_limit(rule: ComplianceRule, ctx: _Context) -> str | None:
    if rule.max_daily_loss is None:
        return None
    req, conn = ctx.trade.req, ctx.trade.conn
    rows = await Position.filter(account_id=req.account_id).using_db(conn).values_list("realized_pnl", "fees")
    realized = sum((pnl - fees for pnl, fees in rows), Decimal(0))
    day = ctx.now.date().isoformat()
    baseline = await RiskBaseline.get_or_none(account_id=req.account_id, day=day, using_db=conn)
    if baseline is None:
        baseline = await RiskBaseline.create(account_id=req.account_id, day=day, realized=realized, using_db=conn)
    loss = baseline.realized - realized
    if loss >= rule.max_daily_loss:
        return f"today's loss of {_fmt(loss)} has reached the daily limit of {_fmt(rule.max_daily_loss)}"
    return None


async def _order_rate(rule: ComplianceRule, ctx: _Context) -> str | None:
    if rule.max_count is None or rule.window_seconds is None:
        return None
    req = ctx.trade.req
    since = ctx.now - timedelta(seconds=rule.window_seconds)
    placed = await Order.filter(account_id=req.account_id, created_at__gte=since).using_db(ctx.trade.conn).count()
    if placed + 1 > rule.max_count:
        return f"{placed + 1} orders in {rule.window_seconds}s, over the limit of {rule.max_count}"
    return None


async def _excessive_cancels(rule: ComplianceRule, ctx: _Context) -> str | None:
    if rule.max_count is None or rule.window_seconds is None:
        return None
    req = ctx.trade.req
    since = ctx.now - timedelta(seconds=rule.window_seconds)
    cancels = (
        await Order.filter(
            account_id=req.account_id,
            status=OrderStatus.CANCELED,
            reason__in=list(USER_CANCEL_REASONS),
            updated_at__gte=since,
        )
        .using_db(ctx.trade.conn)
        .count()
    )
    if cancels > rule.max_count:
        return f"{cancels} cancels in {rule.window_seconds}s, over the limit of {rule.max_count}"
    return None


async def _wash_trade(rule: ComplianceRule, ctx: _Context) -> str | None:
    req = ctx.trade.req
    opposite = Side.SELL if req.side == Side.BUY else Side.BUY
    resting = Order.filter(
        user_id=req.user_id,
        symbol=req.symbol,
        side=opposite,
        status__in=[OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED],
        price__isnull=False,
    ).using_db(ctx.trade.conn)
    limit = req.price if req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    if limit is not None:
        resting = resting.filter(price__lte=limit) if req.side == Side.BUY else resting.filter(price__gte=limit)
    crossed = await resting.order_by("price" if req.side == Side.BUY else "-price").first()
    if crossed is None:
        return None
    assert crossed.price is not None
    return f"the order would cross your own resting {opposite.value} at {_fmt(crossed.price)}"


async def _restricted(rule: ComplianceRule, ctx: _Context) -> str | None:
    symbols = set(rule.symbols or []) | ({rule.symbol} if rule.symbol else set())
    if ctx.trade.req.symbol in symbols:
        return f"{ctx.trade.req.symbol} is a restricted instrument"
    return None


async def _trading_hours(rule: ComplianceRule, ctx: _Context) -> str | None:
    if rule.start_minute is None or rule.end_minute is None:
        return None
    minute = ctx.now.hour * 60 + ctx.now.minute
    if within_hours(rule.start_minute, rule.end_minute, minute):
        return None
    window = f"{_hhmm(rule.start_minute)}–{_hhmm(rule.end_minute)} UTC"
    return f"trading is allowed {window} only; it is {_hhmm(minute)} UTC"


_EVALUATE = {
    RuleType.POSITION_LIMIT: _position_limit,
    RuleType.RISK_LIMIT: _risk_limit,
    RuleType.ORDER_RATE: _order_rate,
    RuleType.EXCESSIVE_CANCELS: _excessive_cancels,
    RuleType.WASH_TRADE: _wash_trade,
    RuleType.RESTRICTED_INSTRUMENT: _restricted,
    RuleType.TRADING_HOURS: _trading_hours,
}


async def compliance_rules(trade: PreTrade) -> None:
    """The pipeline's compliance stage: HARD rules refuse, SOFT rules write violations (see the module doc)."""
    req, conn = trade.req, trade.conn
    account = await VenueAccount.get(id=req.account_id, using_db=conn)
    venue_id = account.venue_id
    rules = (
        await ComplianceRule.filter(active=True)
        .filter(
            Q(scope=RuleScope.PLATFORM)
            | Q(scope=RuleScope.VENUE, venue_id=venue_id)
            | Q(scope=RuleScope.ACCOUNT, account_id=req.account_id)
        )
        .using_db(conn)
        .order_by("created_at", "id")
    )
    if not rules:
        return
    ctx = _Context(trade=trade, now=utcnow(), venue_id=str(venue_id))
    for rule in rules:
        if ctx.reduces_risk and rule.type != RuleType.WASH_TRADE:
            continue
        breach = await _EVALUATE[rule.type](rule, ctx)
        if breach is None:
            continue
        if rule.enforcement == Enforcement.HARD:
            raise ComplianceRefused(f"{rule.type.value} rule '{rule.name}': {breach}", rule=rule.name)
        ctx.soft.append((rule, breach))
    for rule, breach in ctx.soft:
        violation = await ComplianceViolation.create(
            rule_id=rule.id,
            rule_name=rule.name,
            type=rule.type,
            severity=rule.severity,
            user_id=req.user_id,
            account_id=req.account_id,
            venue=ctx.venue_id,
            symbol=req.symbol,
            description=f"{rule.type.value} rule '{rule.name}': {breach}",
            recommendation=RECOMMENDATIONS[rule.type],
            using_db=conn,
        )
        # Published with the violation by the feed leader's sweeps, once the order's transaction commits.
        await raise_alert(
            conn,
            user_id=req.user_id,
            type=AlertType.WARNING,
            category=AlertCategory.COMPLIANCE,
            severity=Severity(rule.severity.value),
            title=f"Compliance violation: {rule.name}",
            message=violation.description,
            source="compliance",
            venue=ctx.venue_id,
            metadata={"violationId": str(violation.id), "rule": rule.type.value, "symbol": req.symbol},
        )


# Last in the pipeline: the kill switch, held quantity and stop checks speak first (see checks.py).
PRE_TRADE_CHECKS.append(compliance_rules)
