"""Compliance: the Query / Mutation / Subscription fields of rules, violations, the report and the dead-man switch
(the actions are graphql_api/services/compliance.py and graphql_api/services/deadman.py; the rules run in
graphql_api/engine/compliance.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.auth import utcnow
from graphql_api.context import Context, Info
from graphql_api.events import channel_for, decode
from graphql_api.events.compliance import ADMINS, ViolationRaised
from graphql_api.ownership import Actor, load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAdmin, IsAuthenticated, IsTrader, require_principal
from graphql_api.services import compliance as actions
from graphql_api.services import deadman
from models import compliance as m
from models.compliance import ComplianceViolation as ViolationRow
from models.compliance import DeadMansSwitch
from schema.common import After, Connection, First, GlobalID
from schema.compliance import (
    ComplianceEnforcement,
    ComplianceReport,
    ComplianceReportPeriod,
    ComplianceRule,
    ComplianceRuleChanged,
    ComplianceRuleDeleted,
    ComplianceRuleInput,
    ComplianceRuleResult,
    ComplianceRuleScope,
    ComplianceRuleType,
    ComplianceViolation,
    ComplianceViolationFilter,
    ComplianceViolationUpdate,
    DeadMansSwitchChanged,
    DeadMansSwitchResult,
    DeadMansSwitchState,
    DeleteComplianceRuleResult,
    ViolationChanged,
    ViolationResult,
    ViolationSeverity,
    ViolationStatus,
    ViolationTypeCount,
)

from .node import node_type
from .results import actor, audited, result

_CATEGORY = {
    m.RuleType.POSITION_LIMIT: "POSITION_LIMIT",
    m.RuleType.RISK_LIMIT: "RISK_LIMIT",
    m.RuleType.ORDER_RATE: "PATTERN",
    m.RuleType.EXCESSIVE_CANCELS: "PATTERN",
    m.RuleType.WASH_TRADE: "PATTERN",
    m.RuleType.RESTRICTED_INSTRUMENT: "REGULATORY",
    m.RuleType.TRADING_HOURS: "REGULATORY",
}


def _hhmm(minute: int | None) -> str | None:
    return None if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"


def rule_view(row: m.ComplianceRule) -> ComplianceRule:
    return ComplianceRule(
        id=strawberry.ID(to_global_id("ComplianceRule", row.id)),
        name=row.name,
        type=ComplianceRuleType[row.type],
        enforcement=ComplianceEnforcement[row.enforcement],
        severity=ViolationSeverity[row.severity],
        scope=ComplianceRuleScope[row.scope],
        venue_id=strawberry.ID(row.venue_id) if row.venue_id else None,
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)) if row.account_id else None,
        symbol=row.symbol,
        symbols=list(row.symbols or []),
        max_quantity=row.max_quantity,
        max_notional=row.max_notional,
        max_daily_loss=row.max_daily_loss,
        max_count=row.max_count,
        window_seconds=row.window_seconds,
        start_time=_hhmm(row.start_minute),
        end_time=_hhmm(row.end_minute),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def violation_view(row: ViolationRow) -> ComplianceViolation:
    return ComplianceViolation(
        id=strawberry.ID(to_global_id("ComplianceViolation", row.id)),
        type=ComplianceRuleType[row.type],
        category=_CATEGORY[row.type],
        severity=ViolationSeverity[row.severity],
        status=ViolationStatus[row.status],
        rule_id=strawberry.ID(to_global_id("ComplianceRule", row.rule_id)) if row.rule_id else None,
        rule_name=row.rule_name,
        description=row.description,
        recommendation=row.recommendation,
        user_id=strawberry.ID(to_global_id("User", row.user_id)),
        bot_id=strawberry.ID(row.bot_id) if row.bot_id else None,
        venue=row.venue,
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)) if row.account_id else None,
        symbol=row.symbol,
        detected_at=row.detected_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
    )


def deadman_view(row: DeadMansSwitch, daily_limit: int) -> DeadMansSwitchState:
    today = deadman.triggers_on(row, utcnow().date().isoformat())
    return DeadMansSwitchState(
        armed=row.armed,
        timeout_seconds=row.timeout_seconds,
        armed_at=row.armed_at,
        last_heartbeat_at=row.last_heartbeat_at,
        expires_at=row.expires_at,
        triggered_at=row.triggered_at,
        cancelled_orders=row.cancelled_orders,
        triggers_today=today,
        triggers_remaining_today=max(0, daily_limit - today),
    )


def _spec(info: Info, data: ComplianceRuleInput) -> actions.RuleSpec:
    account = parse_id(data.venue_account_id, "VenueAccount", "input.venueAccountId") if data.venue_account_id else None
    return actions.RuleSpec(
        name=data.name,
        type=m.RuleType(data.type.name),
        enforcement=m.Enforcement(data.enforcement.name),
        severity=m.ViolationSeverity(data.severity.name),
        scope=m.RuleScope(data.scope.name),
        venue_id=str(data.venue_id) if data.venue_id is not None else None,
        account_id=account,
        symbol=data.symbol,
        symbols=list(data.symbols or []),
        max_quantity=data.max_quantity,
        max_notional=data.max_notional,
        max_daily_loss=data.max_daily_loss,
        max_count=data.max_count,
        window_seconds=data.window_seconds,
        start_time=data.start_time,
        end_time=data.end_time,
        active=data.active,
    )


# -- queries -------------------------------------------------------------------------------------------------


async def compliance_rules(info: Info, first: First = None, after: After = None) -> Connection[ComplianceRule]:
    return Connection.of(
        await paginate(
            m.ComplianceRule.all(), first=first, after=after, cap=info.context.settings.max_page_size, convert=rule_view
        )
    )


async def compliance_violations(
    info: Info,
    filter: Annotated[
        ComplianceViolationFilter | None, strawberry.argument(description="Status, type, severity, period.")
    ] = None,
    first: First = None,
    after: After = None,
) -> Connection[ComplianceViolation]:
    viewer = actor(info)
    query = ViolationRow.all() if viewer.is_admin else ViolationRow.filter(user_id=viewer.user.id)
    if filter is not None:
        if filter.status is not None:
            query = query.filter(status=m.ViolationStatus(filter.status.name))
        if filter.type is not None:
            query = query.filter(type=m.RuleType(filter.type.name))
        if filter.severity is not None:
            query = query.filter(severity=m.ViolationSeverity(filter.severity.name))
        if filter.from_ is not None:
            query = query.filter(detected_at__gte=filter.from_)
        if filter.to is not None:
            query = query.filter(detected_at__lt=filter.to)
    return Connection.of(
        await paginate(
            query,
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=violation_view,
            order=("-detected_at", "-id"),
        )
    )


async def compliance_report(
    info: Info,
    period: Annotated[
        ComplianceReportPeriod, strawberry.argument(description="The window, ending now.")
    ] = ComplianceReportPeriod.MONTH,
) -> ComplianceReport:
    done = await actions.report(actor(info), m.ReportPeriod(period.name))
    return ComplianceReport(
        period=period,
        from_=done.since,
        to=done.until,
        total_violations=done.total,
        critical_violations=done.critical,
        open_violations=done.open,
        acknowledged_violations=done.acknowledged,
        resolved_violations=done.resolved,
        violations_by_type=[ViolationTypeCount(type=ComplianceRuleType[t], count=n) for t, n in done.by_type],
        risk_score=done.risk_score,
        recommendations=done.recommendations,
    )


async def dead_mans_switch(info: Info) -> DeadMansSwitchState:
    row = await deadman.state(require_principal(info.context).user_id)
    return deadman_view(row, info.context.settings.deadman_daily_triggers)


@node_type("ComplianceViolation", ComplianceViolation)
async def violation_node(info: Info, pk: str) -> ComplianceViolation | None:
    row = await load_owned(ViolationRow, pk, actor(info))
    return violation_view(row) if row is not None else None


# -- mutations -----------------------------------------------------------------------------------------------


async def create_compliance_rule(
    info: Info, input: Annotated[ComplianceRuleInput, strawberry.argument(description="The rule.")]
) -> ComplianceRuleResult:
    return await result(
        actions.create_rule(actor(info), _spec(info, input)), lambda row: ComplianceRuleChanged(rule=rule_view(row))
    )


async def update_compliance_rule(
    info: Info, id: GlobalID, input: Annotated[ComplianceRuleInput, strawberry.argument(description="The rule, whole.")]
) -> ComplianceRuleResult:
    pk = parse_id(id, "ComplianceRule")
    return await result(
        actions.update_rule(actor(info), pk, _spec(info, input)), lambda row: ComplianceRuleChanged(rule=rule_view(row))
    )


async def delete_compliance_rule(info: Info, id: GlobalID) -> DeleteComplianceRuleResult:
    pk = parse_id(id, "ComplianceRule")
    return await result(actions.delete_rule(actor(info), pk), lambda _: ComplianceRuleDeleted(deleted_id=id))


async def acknowledge_violation(info: Info, id: GlobalID) -> ViolationResult:
    pk = parse_id(id, "ComplianceViolation")
    return await result(
        actions.acknowledge_violation(actor(info), pk), lambda row: ViolationChanged(violation=violation_view(row))
    )


async def resolve_violation(
    info: Info,
    id: GlobalID,
    note: Annotated[str, strawberry.argument(description="How it was resolved (1–2000 characters).")],
) -> ViolationResult:
    pk = parse_id(id, "ComplianceViolation")
    return await result(
        actions.resolve_violation(actor(info), pk, note), lambda row: ViolationChanged(violation=violation_view(row))
    )


def _switch_result(info: Info) -> object:
    limit = info.context.settings.deadman_daily_triggers
    return lambda row: DeadMansSwitchChanged(state=deadman_view(row, limit))


async def arm_dead_mans_switch(
    info: Info,
    timeout_seconds: Annotated[int, strawberry.argument(description="Seconds between heartbeats (5–86400).")],
) -> DeadMansSwitchResult:
    return await result(deadman.arm(info.context, actor(info), timeout_seconds), _switch_result(info))  # type: ignore[arg-type]


async def heartbeat(info: Info) -> DeadMansSwitchResult:
    return await result(deadman.heartbeat(info.context, actor(info)), _switch_result(info))  # type: ignore[arg-type]


async def disarm_dead_mans_switch(info: Info) -> DeadMansSwitchResult:
    return await result(deadman.disarm(info.context, actor(info)), _switch_result(info))  # type: ignore[arg-type]


# -- the stream ----------------------------------------------------------------------------------------------


async def compliance_violation_raised(info: Info) -> AsyncGenerator[ComplianceViolationUpdate, None]:
    return _stream(info.context, actor(info))


async def _latest(viewer: Actor) -> tuple[ViolationRow | None, int]:
    query = ViolationRow.filter(status=m.ViolationStatus.OPEN)
    if not viewer.is_admin:
        query = query.filter(user_id=viewer.user.id)
    return await query.order_by("-detected_at", "-id").first(), await query.count()


async def _stream(ctx: Context, viewer: Actor) -> AsyncGenerator[ComplianceViolationUpdate, None]:
    key = ADMINS if viewer.is_admin else viewer.user_id
    sequence = 1
    async with ctx.bus.subscribe([channel_for(ViolationRaised, key)]) as events:
        latest, count = await _latest(viewer)
        yield ComplianceViolationUpdate(
            violation=violation_view(latest) if latest else None, open_violations=count, sequence=1, snapshot=True
        )
        async for delivery in events:
            sequence += 1
            raised = decode(delivery)
            if raised is None:
                latest, count = await _latest(viewer)
                yield ComplianceViolationUpdate(
                    violation=violation_view(latest) if latest else None,
                    open_violations=count,
                    sequence=sequence,
                    snapshot=True,
                )
                continue
            assert isinstance(raised, ViolationRaised)
            row = await ViolationRow.get_or_none(id=raised.violation_id)
            _, count = await _latest(viewer)
            yield ComplianceViolationUpdate(
                violation=violation_view(row) if row else None, open_violations=count, sequence=sequence, snapshot=False
            )


@strawberry.type
class Query:
    compliance_rules: Connection[ComplianceRule] = strawberry.field(
        resolver=compliance_rules, permission_classes=[IsAdmin], description="Every compliance rule (admins)."
    )
    compliance_violations: Connection[ComplianceViolation] = strawberry.field(
        resolver=compliance_violations,
        permission_classes=[IsAuthenticated],
        description="Compliance violations, newest first: your own (admins: everyone's).",
    )
    compliance_report: ComplianceReport = strawberry.field(
        resolver=compliance_report,
        permission_classes=[IsAuthenticated],
        description="Violations of a period with totals, a risk score and recommendations (admins: the platform).",
    )
    dead_mans_switch: DeadMansSwitchState = strawberry.field(
        resolver=dead_mans_switch, permission_classes=[IsAuthenticated], description="Your dead-man switch."
    )


@strawberry.type
class Mutation:
    create_compliance_rule: ComplianceRuleResult = strawberry.mutation(
        resolver=audited(Action.COMPLIANCE_RULE_CREATE)(create_compliance_rule),
        permission_classes=[IsAdmin],
        description="Add a compliance rule (admins).",
    )
    update_compliance_rule: ComplianceRuleResult = strawberry.mutation(
        resolver=audited(Action.COMPLIANCE_RULE_UPDATE)(update_compliance_rule),
        permission_classes=[IsAdmin],
        description="Replace a compliance rule's settings (admins).",
    )
    delete_compliance_rule: DeleteComplianceRuleResult = strawberry.mutation(
        resolver=audited(Action.COMPLIANCE_RULE_DELETE)(delete_compliance_rule),
        permission_classes=[IsAdmin],
        description="Delete a compliance rule (admins); its violations stay.",
    )
    acknowledge_violation: ViolationResult = strawberry.mutation(
        resolver=audited(Action.COMPLIANCE_VIOLATION_ACKNOWLEDGE)(acknowledge_violation),
        permission_classes=[IsAuthenticated],
        description="OPEN → ACKNOWLEDGED (the violation's owner or an admin).",
    )
    resolve_violation: ViolationResult = strawberry.mutation(
        resolver=audited(Action.COMPLIANCE_VIOLATION_RESOLVE)(resolve_violation),
        permission_classes=[IsAdmin],
        description="OPEN or ACKNOWLEDGED → RESOLVED with a note (admins).",
    )
    arm_dead_mans_switch: DeadMansSwitchResult = strawberry.mutation(
        resolver=audited(Action.DEADMAN_ARM)(arm_dead_mans_switch),
        permission_classes=[IsTrader],
        description="Arm (or re-arm) your dead-man switch: without a heartbeat within timeoutSeconds, every "
        "working order of your venue accounts is cancelled.",
    )
    heartbeat: DeadMansSwitchResult = strawberry.mutation(
        resolver=audited(Action.DEADMAN_HEARTBEAT)(heartbeat),
        permission_classes=[IsTrader],
        description="Keep your armed dead-man switch from firing: the deadline becomes now + timeoutSeconds.",
    )
    disarm_dead_mans_switch: DeadMansSwitchResult = strawberry.mutation(
        resolver=audited(Action.DEADMAN_DISARM)(disarm_dead_mans_switch),
        permission_classes=[IsTrader],
        description="Disarm your dead-man switch.",
    )


@strawberry.type
class Subscription:
    compliance_violation_raised: AsyncGenerator[ComplianceViolationUpdate, None] = strawberry.subscription(
        resolver=compliance_violation_raised,
        permission_classes=[IsAuthenticated],
        description="The latest OPEN violation as a snapshot, then every violation raised: your own (admins: all).",
    )
