"""Compliance: rules, violations, the period report, the dead-man switch and the violation stream."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import compliance as c

from .common import InvalidInput, Node, NotFound, enum_from

if TYPE_CHECKING:
    from models.compliance import Enforcement as ComplianceEnforcement
    from models.compliance import ReportPeriod as ComplianceReportPeriod
    from models.compliance import RuleScope as ComplianceRuleScope
    from models.compliance import RuleType as ComplianceRuleType
    from models.compliance import ViolationSeverity, ViolationStatus
else:
    ComplianceRuleType = enum_from(
        c.RuleType,
        "What a compliance rule watches (the exact measure of each is on `ComplianceRule`).",
        {
            "POSITION_LIMIT": "Projected long position per symbol: maxQuantity and/or maxNotional.",
            "RISK_LIMIT": "Daily loss of the venue account: maxDailyLoss.",
            "ORDER_RATE": "Orders placed per account in a sliding window: maxCount per windowSeconds.",
            "EXCESSIVE_CANCELS": "Cancels by the owner per account in a sliding window: maxCount per windowSeconds.",
            "WASH_TRADE": "An order that would cross the same user's resting order on the other side.",
            "RESTRICTED_INSTRUMENT": "Orders in any of the listed symbols.",
            "TRADING_HOURS": "Orders outside [startTime, endTime) UTC.",
        },
        name="ComplianceRuleType",
    )
    ComplianceEnforcement = enum_from(
        c.Enforcement,
        "How a rule is enforced.",
        {
            "HARD": "Checked before the order is written, under the account lock: a breach refuses the order "
            "(ComplianceRejected naming the rule).",
            "SOFT": "The order goes through and a violation is raised.",
        },
        name="ComplianceEnforcement",
    )
    ComplianceRuleScope = enum_from(
        c.RuleScope,
        "What a rule covers.",
        {
            "PLATFORM": "Every venue account.",
            "VENUE": "Every account on one venue (venueId).",
            "ACCOUNT": "One venue account (venueAccountId).",
        },
        name="ComplianceRuleScope",
    )
    ViolationSeverity = enum_from(
        c.ViolationSeverity,
        "How serious a violation is (set on its rule).",
        {"LOW": "Low.", "MEDIUM": "Medium.", "HIGH": "High.", "CRITICAL": "Critical."},
        name="ViolationSeverity",
    )
    ViolationStatus = enum_from(
        c.ViolationStatus,
        "Where a violation is in its handling: OPEN → ACKNOWLEDGED → RESOLVED.",
        {
            "OPEN": "Raised, not yet looked at.",
            "ACKNOWLEDGED": "Seen by its owner or a compliance officer.",
            "RESOLVED": "Closed by a compliance officer with a note.",
        },
        name="ViolationStatus",
    )
    ComplianceReportPeriod = enum_from(
        c.ReportPeriod,
        "The window a compliance report covers, ending now.",
        {
            "DAY": "The last 24 hours.",
            "WEEK": "The last 7 days.",
            "MONTH": "The last 30 days.",
            "QUARTER": "The last 90 days.",
            "YEAR": "The last 365 days.",
        },
        name="ComplianceReportPeriod",
    )


@strawberry.type(
    description="An admin-managed compliance rule. Limits are the largest value allowed: the first value past "
    "one breaches (RISK_LIMIT: a loss reaching maxDailyLoss breaches). An order that only reduces a held "
    "position passes every rule except WASH_TRADE."
)
class ComplianceRule(Node):
    name: str = strawberry.field(description="Shown in refusals (`ComplianceRejected.rule`) and violations.")
    type: ComplianceRuleType = strawberry.field(description="What it watches.")
    enforcement: ComplianceEnforcement = strawberry.field(description="HARD (refuse) or SOFT (violation).")
    severity: ViolationSeverity = strawberry.field(description="Severity of the violations it raises.")
    scope: ComplianceRuleScope = strawberry.field(description="PLATFORM, VENUE or ACCOUNT.")
    venue_id: strawberry.ID | None = strawberry.field(description="The venue of a VENUE rule.")
    venue_account_id: strawberry.ID | None = strawberry.field(description="Global ID of an ACCOUNT rule's account.")
    symbol: str | None = strawberry.field(description="POSITION_LIMIT: the one symbol it limits (null: each symbol).")
    symbols: list[str] = strawberry.field(description="RESTRICTED_INSTRUMENT: the restricted symbols.")
    max_quantity: Decimal | None = strawberry.field(
        description="POSITION_LIMIT: largest position quantity = held + working buys' remaining + the order."
    )
    max_notional: Decimal | None = strawberry.field(
        description="POSITION_LIMIT: largest notional = held × mark + Σ working buys' remaining × limit (or stop) "
        "price + the order's quantity × its limit price (stop price; mark for a market order)."
    )
    max_daily_loss: Decimal | None = strawberry.field(
        description="RISK_LIMIT: loss = (Σ positions' realized PnL − fees at the account's first check of the UTC "
        "day) − (the same sum now); a loss ≥ this refuses (HARD) or flags (SOFT) new risk."
    )
    max_count: int | None = strawberry.field(
        description="ORDER_RATE: most orders (this one included) in the window; EXCESSIVE_CANCELS: most "
        "cancels by the owner in the window."
    )
    window_seconds: int | None = strawberry.field(description="ORDER_RATE / EXCESSIVE_CANCELS: the sliding window.")
    start_time: str | None = strawberry.field(description="TRADING_HOURS: start of the allowed window, HH:MM UTC.")
    end_time: str | None = strawberry.field(
        description="TRADING_HOURS: end (exclusive), HH:MM UTC; before startTime wraps past midnight."
    )
    active: bool = strawberry.field(description="Inactive rules are kept but not checked.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")


@strawberry.input(description="A compliance rule, whole (create, or replace on update).")
class ComplianceRuleInput:
    name: str = strawberry.field(description="1–100 characters.")
    type: ComplianceRuleType = strawberry.field(description="What it watches.")
    enforcement: ComplianceEnforcement = strawberry.field(description="HARD or SOFT.")
    scope: ComplianceRuleScope = strawberry.field(description="PLATFORM, VENUE or ACCOUNT.")
    severity: ViolationSeverity = strawberry.field(
        default=ViolationSeverity.MEDIUM, description="Severity of its violations."
    )
    venue_id: strawberry.ID | None = strawberry.field(default=None, description="Required for VENUE, else absent.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for ACCOUNT (global ID), else absent."
    )
    symbol: str | None = strawberry.field(default=None, description="POSITION_LIMIT only: one symbol.")
    symbols: list[str] | None = strawberry.field(default=None, description="RESTRICTED_INSTRUMENT only.")
    max_quantity: Decimal | None = strawberry.field(default=None, description="POSITION_LIMIT only.")
    max_notional: Decimal | None = strawberry.field(default=None, description="POSITION_LIMIT only.")
    max_daily_loss: Decimal | None = strawberry.field(default=None, description="RISK_LIMIT only.")
    max_count: int | None = strawberry.field(default=None, description="ORDER_RATE / EXCESSIVE_CANCELS only.")
    window_seconds: int | None = strawberry.field(
        default=None, description="ORDER_RATE / EXCESSIVE_CANCELS only: 1–86400."
    )
    start_time: str | None = strawberry.field(default=None, description="TRADING_HOURS only: HH:MM UTC.")
    end_time: str | None = strawberry.field(default=None, description="TRADING_HOURS only: HH:MM UTC.")
    active: bool = strawberry.field(default=True, description="Checked while true.")


@strawberry.type(description="A breach of a SOFT compliance rule, raised after the fact.")
class ComplianceViolation(Node):
    type: ComplianceRuleType = strawberry.field(description="The kind of rule breached.")
    category: str = strawberry.field(
        description="POSITION_LIMIT, RISK_LIMIT, PATTERN (order rate, cancels, wash trades) or REGULATORY."
    )
    severity: ViolationSeverity = strawberry.field(description="From the rule.")
    status: ViolationStatus = strawberry.field(description="OPEN → ACKNOWLEDGED → RESOLVED.")
    rule_id: strawberry.ID | None = strawberry.field(description="Global ID of the rule (null once it is deleted).")
    rule_name: str = strawberry.field(description="The rule's name when it was raised.")
    description: str = strawberry.field(description="What happened, with the measured value and the limit.")
    recommendation: str = strawberry.field(description="What to do about it.")
    user_id: strawberry.ID = strawberry.field(description="Global ID of the user whose order breached it.")
    bot_id: strawberry.ID | None = strawberry.field(description="The bot that placed the order, if one did.")
    venue: str | None = strawberry.field(description="Venue id of the account.")
    venue_account_id: strawberry.ID | None = strawberry.field(description="Global ID of the venue account.")
    symbol: str | None = strawberry.field(description="Instrument of the order.")
    detected_at: datetime = strawberry.field(description="When it was raised.")
    acknowledged_at: datetime | None = strawberry.field(description="When it was acknowledged.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    resolution_note: str = strawberry.field(description="The resolving officer's note.")


@strawberry.input(description="Narrow the violations listed.")
class ComplianceViolationFilter:
    status: ViolationStatus | None = strawberry.field(default=None, description="Only this status.")
    type: ComplianceRuleType | None = strawberry.field(default=None, description="Only this rule type.")
    severity: ViolationSeverity | None = strawberry.field(default=None, description="Only this severity.")
    from_: datetime | None = strawberry.field(default=None, name="from", description="Detected at or after.")
    to: datetime | None = strawberry.field(default=None, description="Detected before.")


@strawberry.type(description="How many violations of one rule type.")
class ViolationTypeCount:
    type: ComplianceRuleType = strawberry.field(description="The rule type.")
    count: int = strawberry.field(description="Violations of it in the period.")


@strawberry.type(
    description="Violations detected in a period (yours; an admin's report covers the platform). riskScore = "
    "min(100, Σ weight(severity) × factor(status)) over them, weights CRITICAL 10, HIGH 5, MEDIUM 2, LOW 1, "
    "factors OPEN 2, ACKNOWLEDGED 1, RESOLVED 0."
)
class ComplianceReport:
    period: ComplianceReportPeriod = strawberry.field(description="The window.")
    from_: datetime = strawberry.field(name="from", description="Start of the window.")
    to: datetime = strawberry.field(description="End of the window (now).")
    total_violations: int = strawberry.field(description="Violations detected in the window.")
    critical_violations: int = strawberry.field(description="Of which CRITICAL.")
    open_violations: int = strawberry.field(description="Of which still OPEN.")
    acknowledged_violations: int = strawberry.field(description="Of which ACKNOWLEDGED.")
    resolved_violations: int = strawberry.field(description="Of which RESOLVED.")
    violations_by_type: list[ViolationTypeCount] = strawberry.field(description="Counts per type, largest first.")
    risk_score: int = strawberry.field(description="0–100, by the formula on this type.")
    recommendations: list[str] = strawberry.field(
        description="One per rule type with unresolved violations, the most frequent first."
    )


@strawberry.type(description="The rule after the change.")
class ComplianceRuleChanged:
    rule: ComplianceRule = strawberry.field(description="The rule.")


@strawberry.type(description="The rule was deleted (its violations stay).")
class ComplianceRuleDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of the deleted rule.")


@strawberry.type(description="The violation after the change.")
class ViolationChanged:
    violation: ComplianceViolation = strawberry.field(description="The violation.")


ComplianceRuleResult = Annotated[
    ComplianceRuleChanged | InvalidInput | NotFound,
    strawberry.union("ComplianceRuleResult", description="The rule, or why not."),
]
DeleteComplianceRuleResult = Annotated[
    ComplianceRuleDeleted | NotFound,
    strawberry.union("DeleteComplianceRuleResult", description="The deleted rule's ID, or why not."),
]
ViolationResult = Annotated[
    ViolationChanged | InvalidInput | NotFound,
    strawberry.union("ViolationResult", description="The violation, or why not (INVALID_TRANSITION)."),
]


@strawberry.type(description="One delivery on complianceViolationRaised.")
class ComplianceViolationUpdate:
    violation: ComplianceViolation | None = strawberry.field(
        description="The violation raised (on the snapshot: the latest OPEN one, or null)."
    )
    open_violations: int = strawberry.field(description="OPEN violations visible to the subscriber, now.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")


@strawberry.type(
    description="The caller's dead-man switch (a scheduled cancel): armed, it cancels every working order of the "
    "caller's venue accounts when no heartbeat arrives before expiresAt. It then disarms; it may fire a limited "
    "number of times per UTC day (DEADMAN_DAILY_TRIGGERS), after which arming is refused until the next day."
)
class DeadMansSwitchState:
    armed: bool = strawberry.field(description="Waiting for heartbeats.")
    timeout_seconds: int = strawberry.field(description="Each heartbeat moves the deadline this far ahead.")
    armed_at: datetime | None = strawberry.field(description="When it was last armed.")
    last_heartbeat_at: datetime | None = strawberry.field(description="The last heartbeat (or the arming).")
    expires_at: datetime | None = strawberry.field(description="The deadline while armed.")
    triggered_at: datetime | None = strawberry.field(description="When it last fired.")
    cancelled_orders: int = strawberry.field(description="Working orders its last firing cancelled.")
    triggers_today: int = strawberry.field(description="Times it fired this UTC day.")
    triggers_remaining_today: int = strawberry.field(description="Firings left today before arming is refused.")


@strawberry.type(description="The dead-man switch after the change.")
class DeadMansSwitchChanged:
    state: DeadMansSwitchState = strawberry.field(description="The switch.")


DeadMansSwitchResult = Annotated[
    DeadMansSwitchChanged | InvalidInput,
    strawberry.union(
        "DeadMansSwitchResult",
        description="The switch, or why not (NOT_ARMED, DEADMAN_TRIGGER_LIMIT, DEADMAN_EXPIRED, INVALID_INPUT).",
    ),
]
