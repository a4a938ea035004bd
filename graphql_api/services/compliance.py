"""Compliance actions: manage rules (admins), acknowledge and resolve violations, the period report, and the
outbox that publishes violations raised inside order transactions. The rules themselves are evaluated in the
pre-trade pipeline (``graphql_api/engine/compliance.py``)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.compliance import (
    ComplianceRule,
    ComplianceViolation,
    Enforcement,
    RuleScope,
    RuleType,
    ViolationSeverity,
    ViolationStatus,
)
from models.compliance import (
    ReportPeriod as Period,
)
from models.market import Instrument
from models.venues import Venue, VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.compliance import RECOMMENDATIONS
from ..events import publish
from ..events.compliance import ADMINS, ViolationRaised
from ..ownership import Actor, may_see
from ..pubsub import Bus
from ..rejections import Invalid, Missing, NotAllowed

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass
class RuleSpec:
    """A rule as an admin asks for it, before validation (thresholds unused by its type must be absent)."""

    name: str
    type: RuleType
    enforcement: Enforcement
    severity: ViolationSeverity
    scope: RuleScope
    venue_id: str | None = None
    account_id: str | None = None
    symbol: str | None = None
    symbols: list[str] = field(default_factory=list)
    max_quantity: Decimal | None = None
    max_notional: Decimal | None = None
    max_daily_loss: Decimal | None = None
    max_count: int | None = None
    window_seconds: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    active: bool = True


# The thresholds each type takes (GraphQL field names); any other given threshold is refused, naming it.
_TAKES: dict[RuleType, set[str]] = {
    RuleType.POSITION_LIMIT: {"symbol", "maxQuantity", "maxNotional"},
    RuleType.RISK_LIMIT: {"maxDailyLoss"},
    RuleType.ORDER_RATE: {"maxCount", "windowSeconds"},
    RuleType.EXCESSIVE_CANCELS: {"maxCount", "windowSeconds"},
    RuleType.WASH_TRADE: set(),
    RuleType.RESTRICTED_INSTRUMENT: {"symbols"},
    RuleType.TRADING_HOURS: {"startTime", "endTime"},
}


def _minute(value: str | None, name: str) -> int:
    match = _HHMM.match(value or "")
    if match is None:
        raise Invalid(f"{name} must be HH:MM (UTC, 00:00–23:59)", field=name)
    return int(match[1]) * 60 + int(match[2])


def _positive(value: Decimal | None, name: str) -> None:
    if value is not None and (not value.is_finite() or value <= 0):
        raise Invalid(f"{name} must be positive", field=name)


async def _validated(spec: RuleSpec) -> dict[str, object]:
    """The rule's column values, or the first bad field."""
    name = spec.name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("name must be 1 to 100 characters", field="name")
    given = {
        "symbol": spec.symbol,
        "symbols": spec.symbols or None,
        "maxQuantity": spec.max_quantity,
        "maxNotional": spec.max_notional,
        "maxDailyLoss": spec.max_daily_loss,
        "maxCount": spec.max_count,
        "windowSeconds": spec.window_seconds,
        "startTime": spec.start_time,
        "endTime": spec.end_time,
    }
    for key, value in given.items():
        if value is not None and key not in _TAKES[spec.type]:
            raise Invalid(f"{key} is not used by a {spec.type.value} rule", field=key)
    values: dict[str, object] = {"name": name, "symbol": None, "symbols": [], "start_minute": None, "end_minute": None}
    if spec.type == RuleType.POSITION_LIMIT:
        if spec.max_quantity is None and spec.max_notional is None:
            raise Invalid("a POSITION_LIMIT needs maxQuantity, maxNotional or both", field="maxQuantity")
        _positive(spec.max_quantity, "maxQuantity")
        _positive(spec.max_notional, "maxNotional")
        if spec.symbol is not None:
            values["symbol"] = await _symbol(spec.symbol, "symbol")
    elif spec.type == RuleType.RISK_LIMIT:
        if spec.max_daily_loss is None:
            raise Invalid("a RISK_LIMIT needs maxDailyLoss", field="maxDailyLoss")
        _positive(spec.max_daily_loss, "maxDailyLoss")
    elif spec.type in (RuleType.ORDER_RATE, RuleType.EXCESSIVE_CANCELS):
        least = 1 if spec.type == RuleType.ORDER_RATE else 0
        if spec.max_count is None or not least <= spec.max_count <= 1_000_000:
            raise Invalid(f"maxCount must be {least} to 1000000", field="maxCount")
        if spec.window_seconds is None or not 1 <= spec.window_seconds <= 86_400:
            raise Invalid("windowSeconds must be 1 to 86400", field="windowSeconds")
    elif spec.type == RuleType.RESTRICTED_INSTRUMENT:
        if not spec.symbols or len(spec.symbols) > 100:
            raise Invalid("symbols must list 1 to 100 instruments", field="symbols")
        values["symbols"] = sorted({await _symbol(s, "symbols") for s in spec.symbols})
    elif spec.type == RuleType.TRADING_HOURS:
        start, end = _minute(spec.start_time, "startTime"), _minute(spec.end_time, "endTime")
        if start == end:
            raise Invalid("endTime must differ from startTime", field="endTime")
        values["start_minute"], values["end_minute"] = start, end
    venue_id: str | None = None
    account_id: str | None = None
    if spec.scope == RuleScope.VENUE:
        if not spec.venue_id or await Venue.get_or_none(id=spec.venue_id) is None:
            raise Invalid("a VENUE rule needs the venueId of a venue", field="venueId")
        venue_id = spec.venue_id
    elif spec.venue_id is not None:
        raise Invalid(f"venueId is not used by a {spec.scope.value} rule", field="venueId")
    if spec.scope == RuleScope.ACCOUNT:
        if not spec.account_id or await VenueAccount.get_or_none(id=spec.account_id) is None:
            raise Invalid("an ACCOUNT rule needs the venueAccountId of an account", field="venueAccountId")
        account_id = spec.account_id
    elif spec.account_id is not None:
        raise Invalid(f"venueAccountId is not used by a {spec.scope.value} rule", field="venueAccountId")
    values.update(
        type=spec.type,
        enforcement=spec.enforcement,
        severity=spec.severity,
        scope=spec.scope,
        venue_id=venue_id,
        account_id=account_id,
        max_quantity=spec.max_quantity,
        max_notional=spec.max_notional,
        max_daily_loss=spec.max_daily_loss,
        max_count=spec.max_count,
        window_seconds=spec.window_seconds,
        active=spec.active,
    )
    return values


async def _symbol(raw: str, name: str) -> str:
    symbol = raw.strip().upper()
    if await Instrument.get_or_none(symbol=symbol) is None:
        raise Invalid(f"{symbol or 'symbol'} is not an instrument", field=name)
    return symbol


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("only admins manage compliance rules")


async def create_rule(actor: Actor, spec: RuleSpec) -> ComplianceRule:
    async with audit.refusals(actor, Action.COMPLIANCE_RULE_CREATE, target_type="ComplianceRule"):
        _require_admin(actor)
        values = await _validated(spec)
        async with in_transaction() as conn:
            rule = await ComplianceRule.create(**values, created_by=actor.user.id, using_db=conn)
            await audit.by(
                actor,
                Action.COMPLIANCE_RULE_CREATE,
                Outcome.SUCCESS,
                target_type="ComplianceRule",
                target_id=rule.id,
                detail={"type": rule.type.value, "enforcement": rule.enforcement.value, "scope": rule.scope.value},
                conn=conn,
            )
        return rule


async def update_rule(actor: Actor, rule_id: str, spec: RuleSpec) -> ComplianceRule:
    """Replace every setting of a rule (its id and history stay)."""
    async with audit.refusals(actor, Action.COMPLIANCE_RULE_UPDATE, target_type="ComplianceRule", target_id=rule_id):
        _require_admin(actor)
        values = await _validated(spec)
        async with in_transaction() as conn:
            rule = await ComplianceRule.filter(id=rule_id).using_db(conn).select_for_update().first()
            if rule is None:
                raise Missing("no such compliance rule", field="id")
            rule.update_from_dict(values)
            await rule.save(using_db=conn)
            await audit.by(
                actor,
                Action.COMPLIANCE_RULE_UPDATE,
                Outcome.SUCCESS,
                target_type="ComplianceRule",
                target_id=rule.id,
                detail={"type": rule.type.value, "active": rule.active},
                conn=conn,
            )
        return rule


async def delete_rule(actor: Actor, rule_id: str) -> str:
    async with audit.refusals(actor, Action.COMPLIANCE_RULE_DELETE, target_type="ComplianceRule", target_id=rule_id):
        _require_admin(actor)
        async with in_transaction() as conn:
            rule = await ComplianceRule.filter(id=rule_id).using_db(conn).select_for_update().first()
            if rule is None:
                raise Missing("no such compliance rule", field="id")
            await rule.delete(using_db=conn)
            await audit.by(
                actor,
                Action.COMPLIANCE_RULE_DELETE,
                Outcome.SUCCESS,
                target_type="ComplianceRule",
                target_id=rule_id,
                detail={"name": rule.name},
                conn=conn,
            )
        return rule_id


async def acknowledge_violation(actor: Actor, violation_id: str) -> ComplianceViolation:
    """OPEN → ACKNOWLEDGED, by the violation's owner or an admin."""
    action = Action.COMPLIANCE_VIOLATION_ACKNOWLEDGE
    async with audit.refusals(actor, action, target_type="ComplianceViolation", target_id=violation_id):
        async with in_transaction() as conn:
            row = await _lock_violation(conn, actor, violation_id)
            if row.status != ViolationStatus.OPEN:
                raise Invalid(f"the violation is {row.status.value}, not OPEN", code="INVALID_TRANSITION", field="id")
            row.status, row.acknowledged_at, row.acknowledged_by = ViolationStatus.ACKNOWLEDGED, utcnow(), actor.user.id
            await row.save(using_db=conn)
            await audit.by(
                actor, action, Outcome.SUCCESS, target_type="ComplianceViolation", target_id=row.id, conn=conn
            )
        return row


async def resolve_violation(actor: Actor, violation_id: str, note: str) -> ComplianceViolation:
    """OPEN or ACKNOWLEDGED → RESOLVED with a note; admins (the compliance officers) only."""
    action = Action.COMPLIANCE_VIOLATION_RESOLVE
    async with audit.refusals(actor, action, target_type="ComplianceViolation", target_id=violation_id):
        if not actor.is_admin:
            raise NotAllowed("only admins resolve compliance violations")
        note = note.strip()
        if not 1 <= len(note) <= 2000:
            raise Invalid("note must be 1 to 2000 characters", field="note")
        async with in_transaction() as conn:
            row = await _lock_violation(conn, actor, violation_id)
            if row.status == ViolationStatus.RESOLVED:
                raise Invalid("the violation is already RESOLVED", code="INVALID_TRANSITION", field="id")
            row.status, row.resolved_at, row.resolved_by = ViolationStatus.RESOLVED, utcnow(), actor.user.id
            row.resolution_note = note
            await row.save(using_db=conn)
            await audit.by(
                actor, action, Outcome.SUCCESS, target_type="ComplianceViolation", target_id=row.id, conn=conn
            )
        return row


async def _lock_violation(conn: object, actor: Actor, violation_id: str) -> ComplianceViolation:
    row = await ComplianceViolation.filter(id=violation_id).using_db(conn).select_for_update().first()  # type: ignore[arg-type]
    if row is None or not may_see(actor, row.user_id):
        raise Missing("no such compliance violation", field="id")
    return row


# -- the report -------------------------------------------------------------------------------------------


PERIOD_DAYS = {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 30, Period.QUARTER: 90, Period.YEAR: 365}
SEVERITY_WEIGHT = {
    ViolationSeverity.CRITICAL: 10,
    ViolationSeverity.HIGH: 5,
    ViolationSeverity.MEDIUM: 2,
    ViolationSeverity.LOW: 1,
}
STATUS_FACTOR = {ViolationStatus.OPEN: 2, ViolationStatus.ACKNOWLEDGED: 1, ViolationStatus.RESOLVED: 0}


@dataclass
class Report:
    period: Period
    since: datetime
    until: datetime
    total: int
    critical: int
    open: int
    acknowledged: int
    resolved: int
    by_type: list[tuple[RuleType, int]]
    risk_score: int
    recommendations: list[str]


def risk_score(rows: list[tuple[ViolationSeverity, ViolationStatus]]) -> int:
    """min(100, Σ weight(severity) × factor(status)): weights CRITICAL 10, HIGH 5, MEDIUM 2, LOW 1; factors
    OPEN 2, ACKNOWLEDGED 1, RESOLVED 0 (a handled violation no longer adds risk)."""
    return min(100, sum(SEVERITY_WEIGHT[severity] * STATUS_FACTOR[status] for severity, status in rows))


async def report(actor: Actor, period: Period) -> Report:
    """Violations detected in the period (the caller's own; an admin's report covers the platform)."""
    until = utcnow()
    since = until - timedelta(days=PERIOD_DAYS[period])
    query = ComplianceViolation.filter(detected_at__gte=since, detected_at__lte=until)
    if not actor.is_admin:
        query = query.filter(user_id=actor.user.id)
    rows = await query.values_list("type", "severity", "status")
    types = Counter(RuleType(t) for t, _, _ in rows)
    statuses = Counter(ViolationStatus(s) for _, _, s in rows)
    unresolved = Counter(RuleType(t) for t, _, s in rows if s != ViolationStatus.RESOLVED)
    by_type = sorted(types.items(), key=lambda item: (-item[1], item[0].value))
    return Report(
        period=period,
        since=since,
        until=until,
        total=len(rows),
        critical=sum(1 for _, severity, _ in rows if severity == ViolationSeverity.CRITICAL),
        open=statuses[ViolationStatus.OPEN],
        acknowledged=statuses[ViolationStatus.ACKNOWLEDGED],
        resolved=statuses[ViolationStatus.RESOLVED],
        by_type=by_type,
        risk_score=risk_score([(ViolationSeverity(v), ViolationStatus(s)) for _, v, s in rows]),
        recommendations=[
            RECOMMENDATIONS[kind] for kind, _ in sorted(unresolved.items(), key=lambda i: (-i[1], i[0].value))
        ],
    )


# -- the outbox --------------------------------------------------------------------------------------------


async def publish_raised(bus: Bus, batch: int = 500) -> int:
    """Publish violations written by committed transactions, to their owner and to admins, then mark them
    published. Run by the feed leader after each tick; a crash in between publishes again (at least once)."""
    pending = await ComplianceViolation.filter(published=False).order_by("detected_at", "id").limit(batch)
    for row in pending:
        for key in (str(row.user_id), ADMINS):
            await publish(bus, ViolationRaised(channel_key=key, violation_id=str(row.id)))
    if pending:
        await ComplianceViolation.filter(id__in=[r.id for r in pending]).update(published=True)
    return len(pending)
