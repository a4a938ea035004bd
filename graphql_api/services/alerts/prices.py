"""Price alerts: conditions on an instrument's mark that raise an alert on the tick that meets them.

Conditions, judged on each tick's mark ``p`` against the alert's ``value`` and its reference price ``r``:

- ABOVE: p ≥ value.  BELOW: p ≤ value.  A recurring one fires again only after the mark has left the
  condition (it is re-armed on the first tick that does not meet it): once per crossing.
- CROSSES: the mark is on the other side of value than the reference, sides being p ≥ value or p < value.
  The reference is the mark when the alert was set, then the mark of each firing: a recurring one fires on
  every crossing, in either direction.
- PERCENT_CHANGE: |p − r| × 100 ≥ value × r, value in percent. The reference is the mark when the alert was
  set (or last fired); with ``window`` seconds it is taken again from the first tick after each window
  ends, so the change is measured within windows of that length (tumbling, not sliding).

Exactly once: only the feed leader evaluates ticks, and even when two processes evaluate the same tick (a
leadership change) a firing first claims the row with a conditional UPDATE on (status ACTIVE, version) and
goes on only if it changed one row; the alert, the claim and the audit row share one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.alerts import Alert, AlertCategory, AlertType, PriceAlert, PriceAlertStatus, PriceCondition, Severity
from models.audit import Outcome
from models.market import Instrument, LastPrice

from ... import audit
from ...audit import Action
from ...auth import utcnow
from ...engine.ticks import Marks
from ...ownership import Actor, require_owned
from ...pubsub import Bus
from ...rejections import Invalid, Missing
from ...scalars import serialize_decimal
from . import announce, raise_alert

MAX_PERCENT = Decimal(1000)
MAX_WINDOW = 30 * 86_400


@dataclass
class PriceAlertSpec:
    """A price alert as a user asks for it, before validation."""

    symbol: str
    condition: PriceCondition
    value: Decimal
    window_seconds: int | None = None
    recurring: bool = False
    note: str = ""


async def _validated(spec: PriceAlertSpec) -> tuple[dict[str, Any], Decimal]:
    """The alert's column values and the symbol's current mark, or the first bad field."""
    symbol = spec.symbol.strip().upper()
    instrument = await Instrument.get_or_none(symbol=symbol)
    if instrument is None:
        raise Invalid(f"{symbol or 'symbol'} is not an instrument", field="symbol")
    if not spec.value.is_finite() or spec.value <= 0:
        raise Invalid("value must be positive", field="value")
    if spec.condition == PriceCondition.PERCENT_CHANGE:
        if spec.value > MAX_PERCENT:
            raise Invalid(f"value is a percentage, at most {MAX_PERCENT}", field="value")
        if spec.window_seconds is not None and not 1 <= spec.window_seconds <= MAX_WINDOW:
            raise Invalid(f"window must be 1 to {MAX_WINDOW} seconds", field="window")
    elif spec.window_seconds is not None:
        raise Invalid(f"window is used by PERCENT_CHANGE alerts only, not {spec.condition.value}", field="window")
    note = spec.note.strip()
    if len(note) > 200:
        raise Invalid("note must be at most 200 characters", field="note")
    mark = await LastPrice.get_or_none(instrument_id=instrument.id)
    if mark is None:
        raise Invalid(f"{symbol} has no price yet", field="symbol")
    values = {
        "symbol": symbol,
        "condition": spec.condition,
        "value": spec.value,
        "window_seconds": spec.window_seconds,
        "recurring": spec.recurring,
        "note": note,
    }
    return values, mark.price


def _armed(values: dict[str, Any], mark: Decimal) -> dict[str, Any]:
    """A (re)set alert: active, armed, judged from the current mark."""
    return {
        **values,
        "status": PriceAlertStatus.ACTIVE,
        "armed": True,
        "reference_price": mark,
        "reference_at": utcnow(),
    }


async def create(actor: Actor, spec: PriceAlertSpec) -> PriceAlert:
    async with audit.refusals(actor, Action.PRICE_ALERT_CREATE, target_type="PriceAlert"):
        values, mark = await _validated(spec)
        async with in_transaction() as conn:
            row = await PriceAlert.create(user_id=actor.user.id, **_armed(values, mark), using_db=conn)
            await _audit(actor, Action.PRICE_ALERT_CREATE, row, conn)
        return row


async def update(actor: Actor, alert_id: str, spec: PriceAlertSpec) -> PriceAlert:
    """Replace every setting of a price alert: it is re-armed from the current mark (a triggered one too)."""
    async with audit.refusals(actor, Action.PRICE_ALERT_UPDATE, target_type="PriceAlert", target_id=alert_id):
        values, mark = await _validated(spec)
        async with in_transaction() as conn:
            row = await _lock(conn, actor, alert_id)
            row.update_from_dict(_armed(values, mark))
            row.version += 1
            await row.save(using_db=conn)
            await _audit(actor, Action.PRICE_ALERT_UPDATE, row, conn)
        return row


async def delete(actor: Actor, alert_id: str) -> str:
    async with audit.refusals(actor, Action.PRICE_ALERT_DELETE, target_type="PriceAlert", target_id=alert_id):
        async with in_transaction() as conn:
            row = await _lock(conn, actor, alert_id)
            await row.delete(using_db=conn)
            await _audit(actor, Action.PRICE_ALERT_DELETE, row, conn)
        return alert_id


async def _lock(conn: Any, actor: Actor, alert_id: str) -> PriceAlert:
    await require_owned(PriceAlert, alert_id, actor, field="id", what="price alert")
    row = await PriceAlert.filter(id=alert_id).using_db(conn).select_for_update().first()
    if row is None:
        raise Missing("no such price alert", field="id")
    return row


async def _audit(actor: Actor, action: Action, row: PriceAlert, conn: Any) -> None:
    detail = {"symbol": row.symbol, "condition": row.condition.value, "value": serialize_decimal(row.value)}
    await audit.by(actor, action, Outcome.SUCCESS, target_type="PriceAlert", target_id=row.id, detail=detail, conn=conn)


# -- evaluation on each tick ------------------------------------------------------------------------------


def met(row: PriceAlert, price: Decimal) -> bool:
    """Whether ``price`` meets the alert's condition (see the module doc)."""
    if row.condition == PriceCondition.ABOVE:
        return price >= row.value
    if row.condition == PriceCondition.BELOW:
        return price <= row.value
    if row.condition == PriceCondition.CROSSES:
        return (price >= row.value) != (row.reference_price >= row.value)
    return abs(price - row.reference_price) * 100 >= row.value * row.reference_price


def _after_firing(row: PriceAlert, price: Decimal, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "trigger_count": row.trigger_count + 1,
        "last_triggered_at": now,
        "last_triggered_price": price,
        "version": row.version + 1,
    }
    if not row.recurring:
        changes["status"] = PriceAlertStatus.TRIGGERED
    elif row.condition in (PriceCondition.ABOVE, PriceCondition.BELOW):
        changes["armed"] = False
    else:
        changes["reference_price"], changes["reference_at"] = price, now
    return changes


async def _claim(row: PriceAlert, changes: dict[str, Any], conn: Any = None) -> bool:
    """Apply ``changes`` if nobody changed the alert since it was read: exactly one evaluator wins."""
    query = PriceAlert.filter(id=row.id, status=PriceAlertStatus.ACTIVE, version=row.version)
    return bool(await (query.using_db(conn) if conn is not None else query).update(**changes))


async def _fire(row: PriceAlert, price: Decimal, now: datetime) -> Alert | None:
    async with in_transaction() as conn:
        if not await _claim(row, _after_firing(row, price, now), conn):
            return None
        condition = row.condition.value.replace("_", " ").lower()
        value = serialize_decimal(row.value) + ("%" if row.condition == PriceCondition.PERCENT_CHANGE else "")
        alert = await raise_alert(
            conn,
            user_id=row.user_id,
            type=AlertType.INFO,
            category=AlertCategory.PRICE,
            severity=Severity.MEDIUM,
            title=f"{row.symbol} {condition} {value}",
            message=f"{row.symbol} is at {serialize_decimal(price)} ({condition} {value}). {row.note}".strip(),
            source="price_alert",
            metadata={"priceAlertId": str(row.id), "symbol": row.symbol, "price": serialize_decimal(price)},
        )
        await audit.record(
            Action.PRICE_ALERT_TRIGGER,
            Outcome.SUCCESS,
            actor_label="price-alerts",
            target_type="PriceAlert",
            target_id=row.id,
            detail={"price": serialize_decimal(price), "alert": str(alert.id)},
            conn=conn,
        )
    return alert


def _idle_changes(row: PriceAlert, price: Decimal, now: datetime) -> dict[str, Any] | None:
    """What a tick that does not fire the alert changes: a re-arm, or a new window's reference."""
    if not row.armed:
        return None if met(row, price) else {"armed": True, "version": row.version + 1}
    window = row.window_seconds
    if (
        row.condition == PriceCondition.PERCENT_CHANGE
        and window
        and now >= row.reference_at + timedelta(seconds=window)
    ):
        return {"reference_price": price, "reference_at": now, "version": row.version + 1}
    return None


async def evaluate(bus: Bus, marks: Marks) -> int:
    """Tick consumer: fire every active alert the new marks meet; returns how many fired."""
    rows = await PriceAlert.filter(symbol__in=list(marks), status=PriceAlertStatus.ACTIVE)
    now = utcnow()
    fired: list[Alert] = []
    for row in rows:
        price = marks[row.symbol][0]
        if row.armed and met(row, price):
            alert = await _fire(row, price, now)
            if alert is not None:
                fired.append(alert)
        elif (changes := _idle_changes(row, price, now)) is not None:
            await _claim(row, changes)
    await announce(bus, fired)
    return len(fired)
