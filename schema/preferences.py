"""Preferences: display and trading settings, their changes, and the settings document's import result."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import to_global_id
from models import preferences as p

from .common import InvalidInput, enum_from
from .identity import User
from .orders import OrderType, TimeInForce

if TYPE_CHECKING:
    from models.preferences import Theme
else:
    Theme = enum_from(
        p.Theme,
        "Colour scheme of the dashboard.",
        {"SYSTEM": "Follow the device.", "LIGHT": "Light.", "DARK": "Dark."},
    )


@strawberry.type(
    description="Your trading settings. maxOrderNotional is enforced by the server before every order (spot and "
    "perp): an order whose quantity × limit price (stop price for a STOP, mark for a MARKET order) is above it is "
    "refused with MAX_ORDER_NOTIONAL. The others are defaults and thresholds for clients."
)
class TradingSettings:
    default_venue_account_id: strawberry.ID | None = strawberry.field(
        description="The account an order ticket opens on (global ID)."
    )
    default_order_type: OrderType = strawberry.field(description="The order type a ticket starts with.")
    default_time_in_force: TimeInForce = strawberry.field(description="The time in force a ticket starts with.")
    confirm_above_notional: Decimal | None = strawberry.field(
        description="Clients ask for confirmation of orders above this notional (null: never)."
    )
    max_order_notional: Decimal | None = strawberry.field(
        description="Largest notional of one order you allow yourself (null: no limit)."
    )
    updated_at: datetime | None = strawberry.field(description="Last change (null: never changed).")

    @classmethod
    def from_model(cls, row: p.Preferences) -> TradingSettings:
        account = row.default_account_id
        return cls(
            default_venue_account_id=strawberry.ID(to_global_id("VenueAccount", account)) if account else None,
            default_order_type=OrderType(row.default_order_type),
            default_time_in_force=TimeInForce(row.default_time_in_force),
            confirm_above_notional=row.confirm_above_notional,
            max_order_notional=row.max_order_notional,
            updated_at=row.updated_at,
        )


@strawberry.type(description="How the dashboard shows things to you.")
class DisplaySettings:
    theme: Theme = strawberry.field(description="Colour scheme.")
    display_currency: str = strawberry.field(description="Currency values are shown in (ISO code, e.g. USD).")

    @classmethod
    def from_model(cls, row: p.Preferences) -> DisplaySettings:
        return cls(theme=Theme(row.theme), display_currency=row.display_currency)


@strawberry.input(description="Trading settings to change; omitted ones stay, null clears a nullable one.")
class UpdateTradingSettingsInput:
    default_venue_account_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One of your venue accounts, or null."
    )
    default_order_type: OrderType | None = strawberry.field(default=strawberry.UNSET, description="Order type.")
    default_time_in_force: TimeInForce | None = strawberry.field(default=strawberry.UNSET, description="Time in force.")
    confirm_above_notional: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Positive amount, or null for never."
    )
    max_order_notional: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Positive amount, or null for no limit."
    )


@strawberry.input(description="Display settings to change; omitted ones stay.")
class UpdateDisplaySettingsInput:
    theme: Theme | None = strawberry.field(default=strawberry.UNSET, description="Colour scheme.")
    display_currency: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO currency code, 3 to 5 capitals."
    )


@strawberry.type(description="The trading settings after the change.")
class TradingSettingsChanged:
    settings: TradingSettings = strawberry.field(description="The settings.")


@strawberry.type(description="The display settings after the change.")
class DisplaySettingsChanged:
    settings: DisplaySettings = strawberry.field(description="The settings.")


@strawberry.type(description="The settings document was applied whole.")
class SettingsImported:
    user: User = strawberry.field(description="Your profile and notification choices after the import.")
    trading_settings: TradingSettings = strawberry.field(description="Trading settings after the import.")
    display_settings: DisplaySettings = strawberry.field(description="Display settings after the import.")


TradingSettingsResult = Annotated[
    TradingSettingsChanged | InvalidInput,
    strawberry.union("TradingSettingsResult", description="The settings, or the bad field."),
]
DisplaySettingsResult = Annotated[
    DisplaySettingsChanged | InvalidInput,
    strawberry.union("DisplaySettingsResult", description="The settings, or the bad field."),
]
ImportSettingsResult = Annotated[
    SettingsImported | InvalidInput,
    strawberry.union(
        "ImportSettingsResult",
        description="The settings after the import, or the first bad field of the document (nothing changed).",
    ),
]
