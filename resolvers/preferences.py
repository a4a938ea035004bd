"""Preferences: display and trading settings, and the settings document (the actions are
graphql_api/services/preferences.py; maxOrderNotional is checked in graphql_api/engine/checks.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.permissions import IsAuthenticated, require_principal
from graphql_api.services import preferences as actions
from schema.identity import User
from schema.preferences import (
    DisplaySettings,
    DisplaySettingsChanged,
    DisplaySettingsResult,
    ImportSettingsResult,
    SettingsImported,
    TradingSettings,
    TradingSettingsChanged,
    TradingSettingsResult,
    UpdateDisplaySettingsInput,
    UpdateTradingSettingsInput,
)

from .results import actor, audited, result


def _given(data: object, names: Iterable[str]) -> dict[str, Any]:
    """The input's fields that were sent, by GraphQL name (enums as their values)."""
    given = {}
    for name in names:
        value = getattr(data, re.sub(r"([A-Z])", r"_\1", name).lower())
        if value is not strawberry.UNSET:
            given[name] = getattr(value, "value", value)
    return given


async def trading_settings(info: Info) -> TradingSettings:
    return TradingSettings.from_model(await actions.current(require_principal(info.context).user_id))


async def display_settings(info: Info) -> DisplaySettings:
    return DisplaySettings.from_model(await actions.current(require_principal(info.context).user_id))


async def export_settings(info: Info) -> str:
    return await actions.export_document(actor(info))


async def update_trading_settings(
    info: Info, input: Annotated[UpdateTradingSettingsInput, strawberry.argument(description="What to change.")]
) -> TradingSettingsResult:
    return await result(
        actions.update(actor(info), Action.SETTINGS_UPDATE_TRADING, _given(input, actions.TRADING)),
        lambda row: TradingSettingsChanged(settings=TradingSettings.from_model(row)),
    )


async def update_display_settings(
    info: Info, input: Annotated[UpdateDisplaySettingsInput, strawberry.argument(description="What to change.")]
) -> DisplaySettingsResult:
    return await result(
        actions.update(actor(info), Action.SETTINGS_UPDATE_DISPLAY, _given(input, actions.DISPLAY)),
        lambda row: DisplaySettingsChanged(settings=DisplaySettings.from_model(row)),
    )


async def import_settings(
    info: Info,
    document: Annotated[str, strawberry.argument(description="A settings document, as exportSettings returns it.")],
) -> ImportSettingsResult:
    return await result(
        actions.import_document(info.context, actor(info), document),
        lambda done: SettingsImported(
            user=User.from_model(done.user),
            trading_settings=TradingSettings.from_model(done.preferences),
            display_settings=DisplaySettings.from_model(done.preferences),
        ),
    )


@strawberry.type
class Query:
    trading_settings: TradingSettings = strawberry.field(
        resolver=trading_settings, permission_classes=[IsAuthenticated], description="Your trading settings."
    )
    display_settings: DisplaySettings = strawberry.field(
        resolver=display_settings, permission_classes=[IsAuthenticated], description="Your display settings."
    )
    export_settings: str = strawberry.field(
        resolver=export_settings,
        permission_classes=[IsAuthenticated],
        description="All your settings as one versioned JSON document: version, profile (name, timezone, "
        "language), notifications, display, trading. importSettings takes it back.",
    )


@strawberry.type
class Mutation:
    update_trading_settings: TradingSettingsResult = strawberry.mutation(
        resolver=audited(Action.SETTINGS_UPDATE_TRADING)(update_trading_settings),
        permission_classes=[IsAuthenticated],
        description="Change your trading settings.",
    )
    update_display_settings: DisplaySettingsResult = strawberry.mutation(
        resolver=audited(Action.SETTINGS_UPDATE_DISPLAY)(update_display_settings),
        permission_classes=[IsAuthenticated],
        description="Change your display settings.",
    )
    import_settings: ImportSettingsResult = strawberry.mutation(
        resolver=audited(Action.SETTINGS_IMPORT)(import_settings),
        permission_classes=[IsAuthenticated],
        description="Apply a settings document whole: every section and key is optional (omitted ones stay); an "
        "unknown key, a bad value or another version refuses it all, naming the field as document.<section>.<key>.",
    )
