"""The kill switch: its state, history, changing it, the kill-switch stream."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import killswitch as k

from .common import InvalidInput, UserError, enum_from

if TYPE_CHECKING:
    from models.killswitch import KillLevel as KillSwitchLevel
    from models.killswitch import KillScope as KillSwitchScope
else:
    KillSwitchLevel = enum_from(
        k.KillLevel,
        "How hard an active kill switch stops trading. Every level refuses new orders except risk-reducing ones.",
        {
            "BLOCK_ENTRIES": "Only risk-reducing orders are accepted; working orders stay working.",
            "CANCEL_ALL": "Also cancels every working order in scope at activation.",
            "FLATTEN": "Also closes every open position in scope with a market sell after the cancels.",
        },
        name="KillSwitchLevel",
    )
    KillSwitchScope = enum_from(
        k.KillScope,
        "What a kill switch covers.",
        {
            "GLOBAL": "All trading on the platform (admins only).",
            "ACCOUNT": "All trading of the calling user.",
        },
        name="KillSwitchScope",
    )


@strawberry.type(description="State of one kill switch.")
class KillSwitchState:
    scope: KillSwitchScope = strawberry.field(description="GLOBAL or ACCOUNT.")
    active: bool = strawberry.field(description="Trading is stopped.")
    level: KillSwitchLevel = strawberry.field(description="The level of the last activation.")
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
    level: KillSwitchLevel = strawberry.field(description="The level it was activated at.")
    reason: str = strawberry.field(description="Given reason.")
    actor_id: strawberry.ID | None = strawberry.field(description="Global ID of who did it.")
    cancelled_orders: int = strawberry.field(description="Working orders it cancelled.")
    closing_orders: int = strawberry.field(description="Closing market orders a FLATTEN placed.")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="A kill switch blocks new orders (risk-reducing orders are still allowed).")
class KillSwitchActive(UserError):
    scope: KillSwitchScope = strawberry.field(description="Which switch is active.")


@strawberry.type(description="The kill switch after the change.")
class KillSwitchChanged:
    state: KillSwitchState = strawberry.field(description="The switch.")
    cancelled_orders: int = strawberry.field(description="Working orders cancelled by the activation.")
    closing_orders: int = strawberry.field(description="Closing market orders placed by a FLATTEN activation.")


@strawberry.input(description="Stop trading.")
class ActivateKillSwitchInput:
    reason: str = strawberry.field(description="Why (1–500 characters), recorded in history and the audit log.")
    scope: KillSwitchScope = strawberry.field(
        default=KillSwitchScope.ACCOUNT, description="ACCOUNT (your trading) or GLOBAL (admins)."
    )
    level: KillSwitchLevel = strawberry.field(
        default=KillSwitchLevel.CANCEL_ALL, description="BLOCK_ENTRIES, CANCEL_ALL (the default) or FLATTEN."
    )


@strawberry.input(description="Resume trading.")
class DeactivateKillSwitchInput:
    reason: str = strawberry.field(description="Why (1–500 characters).")
    scope: KillSwitchScope = strawberry.field(default=KillSwitchScope.ACCOUNT, description="Which switch.")


KillSwitchResult = Annotated[
    KillSwitchChanged | InvalidInput,
    strawberry.union("KillSwitchResult", description="The switch after the change, or why not."),
]


@strawberry.type(description="One delivery on killSwitchChanged.")
class KillSwitchUpdate:
    status: KillSwitchStatus = strawberry.field(description="The switches that apply to the subscriber.")
    sequence: int = strawberry.field(description="Position in this stream, from 1, without gaps.")
    snapshot: bool = strawberry.field(description="The opening snapshot (or a resync).")
