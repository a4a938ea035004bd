"""Preferences: display and trading settings, and the settings document (export, and an all-or-nothing import).

A user who never saved preferences has the defaults of the model; the first change creates the row. The one
setting the server enforces is ``max_order_notional``: a self-imposed limit checked in the pre-trade pipeline
(``engine/checks.self_limit``). The others are for clients (the defaults of an order ticket, and the notional
above which a client asks for confirmation).

The settings document (version 1) is one JSON object:
``{"version": 1, "profile": {name, timezone, language}, "notifications": {choice: bool},
"display": {theme, displayCurrency}, "trading": {defaultVenueAccountId, defaultOrderType, defaultTimeInForce,
confirmAboveNotional, maxOrderNotional}}``. Every section and key is optional on import (what is omitted
stays); an unknown key, a bad value or a wrong version refuses the whole document, naming the field by its
path (``document.trading.maxOrderNotional``), and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import NOTIFICATION_DEFAULTS, User
from models.orders import OrderType, TimeInForce
from models.preferences import Preferences, Theme
from models.venues import VenueAccount

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..ownership import Actor, may_act
from ..pagination import from_global_id, to_global_id
from ..rejections import Invalid
from ..scalars import serialize_decimal
from ..sessions import announce_user_changed
from .deps import Deps
from .identity.account import check_language, check_notifications, check_timezone
from .identity.credentials import check_name

VERSION = 1
MAX_NOTIONAL = Decimal("1000000000000")
_CURRENCY = re.compile(r"^[A-Z]{3,5}$")

# GraphQL name → column of the preferences row, per section.
DISPLAY = {"theme": "theme", "displayCurrency": "display_currency"}
TRADING = {
    "defaultVenueAccountId": "default_account_id",
    "defaultOrderType": "default_order_type",
    "defaultTimeInForce": "default_time_in_force",
    "confirmAboveNotional": "confirm_above_notional",
    "maxOrderNotional": "max_order_notional",
}
PROFILE = {"name": "name", "timezone": "timezone", "language": "language"}


async def current(user_id: object) -> Preferences:
    """The user's preferences, or the defaults when they never saved any (not written)."""
    row = await Preferences.get_or_none(user_id=user_id)
    return row if row is not None else Preferences(user_id=user_id)


# -- validation, one function per value kind ---------------------------------------------------------------


def _choice(kind: type[Any]) -> Callable[[Any, str], Any]:
    def check(value: Any, field: str) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise Invalid(f"{field.rsplit('.', 1)[-1]} must be one of {allowed}", field=field) from None

    return check


def _notional(value: Any, field: str) -> Decimal | None:
    """A positive amount of at most 12 places, or null (no threshold / no limit)."""
    if value is None:
        return None
    name = field.rsplit(".", 1)[-1]
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise Invalid(f"{name} must be a decimal amount as a string, or null", field=field)
    if not 0 < amount <= MAX_NOTIONAL or amount != amount.quantize(Decimal("1e-12")):
        raise Invalid(f"{name} must be above 0 and at most {MAX_NOTIONAL}, with 12 places at most", field=field)
    return amount


def _currency(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise Invalid("displayCurrency must be a currency code such as USD or CHF", field=field)
    return value


async def _account(actor: Actor, value: Any, field: str) -> str | None:
    """Null, or the global ID of one of the caller's own venue accounts."""
    if value is None:
        return None
    kind, pk = from_global_id(str(value)) if isinstance(value, str) else ("", "")
    row = await VenueAccount.get_or_none(id=pk) if kind == "VenueAccount" and _uuid_like(pk) else None
    if row is None or not may_act(actor, row.user_id):
        raise Invalid("defaultVenueAccountId must be one of your venue accounts", field=field)
    return str(row.id)


def _uuid_like(pk: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F-]{32,36}", pk) is not None


_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "theme": _choice(Theme),
    "displayCurrency": _currency,
    "defaultOrderType": _choice(OrderType),
    "defaultTimeInForce": _choice(TimeInForce),
    "confirmAboveNotional": _notional,
    "maxOrderNotional": _notional,
}


async def checked(actor: Actor, given: dict[str, Any], columns: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """Column values of a display or trading change given by GraphQL name; the first bad value is refused."""
    values: dict[str, Any] = {}
    for key, value in given.items():
        field = prefix + key
        if key not in columns:
            raise Invalid(f"unknown setting {key}", field=field)
        if key == "defaultVenueAccountId":
            values[columns[key]] = await _account(actor, value, field)
        elif value is None and key not in ("confirmAboveNotional", "maxOrderNotional"):
            raise Invalid(f"{key} may not be null", field=field)
        else:
            values[columns[key]] = _CHECKS[key](value, field)
    return values


async def _write(conn: BaseDBAsyncClient, user_id: object, values: dict[str, Any]) -> Preferences:
    """Apply column values to the user's row (created on first use), under its lock."""
    row = await Preferences.filter(user_id=user_id).using_db(conn).select_for_update().first()
    if row is None:
        row = Preferences(user_id=user_id)
    row.update_from_dict(values)
    await row.save(using_db=conn)
    return row


async def update(actor: Actor, action: Action, given: dict[str, Any]) -> Preferences:
    """Change some display or trading settings (GraphQL names → values), audited as ``action``."""
    async with audit.refusals(actor, action, target_type="User", target_id=actor.user_id):
        values = await checked(actor, given, DISPLAY | TRADING)
        async with in_transaction() as conn:
            row = await _write(conn, actor.user.id, values)
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="User",
                target_id=actor.user_id,
                detail={"fields": sorted(given)},
                conn=conn,
            )
        return row


# -- the settings document -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return serialize_decimal(value) if isinstance(value, Decimal) else getattr(value, "value", value)


async def export_document(actor: Actor) -> str:
    """The caller's settings as one versioned JSON document (what ``import_document`` takes back)."""
    user = await User.get(id=actor.user.id)
    prefs = await current(user.id)
    trading = {key: _plain(getattr(prefs, column)) for key, column in TRADING.items()}
    if prefs.default_account_id is not None:
        trading["defaultVenueAccountId"] = to_global_id("VenueAccount", prefs.default_account_id)
    document = {
        "version": VERSION,
        "exportedAt": utcnow().isoformat(),
        "profile": {key: getattr(user, column) for key, column in PROFILE.items()},
        "notifications": NOTIFICATION_DEFAULTS | (user.notification_preferences or {}),
        "display": {key: _plain(getattr(prefs, column)) for key, column in DISPLAY.items()},
        "trading": trading,
    }
    return orjson.dumps(document).decode()


@dataclass
class Imported:
    user: User
    preferences: Preferences


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name, {})
    if not isinstance(section, dict):
        raise Invalid(f"{name} must be an object", field=f"document.{name}")
    return section


async def _checked_document(actor: Actor, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user column values, preference column values) of a whole document, or the first bad field."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"the document is not JSON: {error}", field="document") from None
    if not isinstance(document, dict):
        raise Invalid("the document must be a JSON object", field="document")
    if document.get("version") != VERSION:
        raise Invalid(f"version must be {VERSION}", field="document.version")
    for key in document:
        if key not in ("version", "exportedAt", "profile", "notifications", "display", "trading"):
            raise Invalid(f"unknown section {key}", field=f"document.{key}")
    user: dict[str, Any] = {}
    profile = _section(document, "profile")
    for key, value in profile.items():
        field = f"document.profile.{key}"
        if key not in PROFILE:
            raise Invalid(f"unknown setting {key}", field=field)
        if not isinstance(value, str):
            raise Invalid(f"{key} must be a string", field=field)
        check = {"name": check_name, "timezone": check_timezone, "language": check_language}[key]
        user[PROFILE[key]] = check(value, field)
    notifications = check_notifications(_section(document, "notifications"), "document.notifications.")
    if notifications:
        stored = (await User.get(id=actor.user.id)).notification_preferences or {}
        user["notification_preferences"] = NOTIFICATION_DEFAULTS | stored | notifications
    prefs = await checked(actor, _section(document, "display"), DISPLAY, "document.display.")
    prefs |= await checked(actor, _section(document, "trading"), TRADING, "document.trading.")
    return user, prefs


async def import_document(deps: Deps, actor: Actor, text: str) -> Imported:
    """Validate the whole document first, then apply it in one transaction: all of it or nothing."""
    action = Action.SETTINGS_IMPORT
    async with audit.refusals(actor, action, target_type="User", target_id=actor.user_id):
        user_values, pref_values = await _checked_document(actor, text)
        async with in_transaction() as conn:
            if user_values:
                await User.filter(id=actor.user.id).using_db(conn).update(**user_values)
            prefs = await _write(conn, actor.user.id, pref_values)
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="User",
                target_id=actor.user_id,
                detail={"fields": sorted(user_values) + sorted(pref_values)},
                conn=conn,
            )
    if user_values:
        await announce_user_changed(deps.bus, actor.user_id, "settings imported")
    return Imported(await User.get(id=actor.user.id), prefs)
