"""Preferences: trading and display settings, the self-imposed max order notional refusing exactly past it (under
a storm of concurrent orders, and on perps), and the settings document: exported, imported back whole, and a bad
document refused naming its field with nothing changed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest

from graphql_api.client import GraphQLClient

from .accounts import ME, Account, as_user, register
from .perps import perp_account
from .trading import market, paper_account, place

pytestmark = pytest.mark.usefixtures("admin")

TRADING_FIELDS = "defaultVenueAccountId defaultOrderType defaultTimeInForce confirmAboveNotional maxOrderNotional"
SETTINGS = f"{{ tradingSettings {{ {TRADING_FIELDS} }} displaySettings {{ theme displayCurrency }} }}"
UPDATE_TRADING = f"""mutation($i: UpdateTradingSettingsInput!) {{ updateTradingSettings(input: $i) {{ __typename
  ... on TradingSettingsChanged {{ settings {{ {TRADING_FIELDS} }} }} ... on UserError {{ message code field }} }} }}"""
UPDATE_DISPLAY = """mutation($i: UpdateDisplaySettingsInput!) { updateDisplaySettings(input: $i) { __typename
  ... on DisplaySettingsChanged { settings { theme displayCurrency } } ... on UserError { message code field } } }"""
EXPORT = "{ exportSettings }"
IMPORT = f"""mutation($d: String!) {{ importSettings(document: $d) {{ __typename
  ... on SettingsImported {{ user {{ timezone language name notificationPreferences {{ email push }} }}
    tradingSettings {{ {TRADING_FIELDS} }} displaySettings {{ theme displayCurrency }} }}
  ... on UserError {{ message code field }} }} }}"""


async def update_trading(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await client.query(UPDATE_TRADING, {"i": fields}))["updateTradingSettings"]
    return result


async def exported(client: GraphQLClient) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads((await client.query(EXPORT))["exportSettings"])
    document.pop("exportedAt")
    return document


async def test_settings_start_at_their_defaults_and_change_field_by_field(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        data = await client.query(SETTINGS)
        assert data["tradingSettings"] == {
            "defaultVenueAccountId": None,
            "defaultOrderType": "LIMIT",
            "defaultTimeInForce": "GTC",
            "confirmAboveNotional": None,
            "maxOrderNotional": None,
        }
        assert data["displaySettings"] == {"theme": "SYSTEM", "displayCurrency": "USD"}
        account = await paper_account(client)
        changed = await update_trading(
            client, defaultVenueAccountId=account, defaultOrderType="MARKET", confirmAboveNotional="2500.5"
        )
        assert changed["settings"] == {
            "defaultVenueAccountId": account,
            "defaultOrderType": "MARKET",
            "defaultTimeInForce": "GTC",
            "confirmAboveNotional": "2500.5",
            "maxOrderNotional": None,
        }
        cleared = await update_trading(client, confirmAboveNotional=None, defaultTimeInForce="IOC")
        assert (cleared["settings"]["confirmAboveNotional"], cleared["settings"]["defaultOrderType"]) == (
            None,
            "MARKET",
        )
        display = await client.query(UPDATE_DISPLAY, {"i": {"theme": "DARK", "displayCurrency": "CHF"}})
        assert display["updateDisplaySettings"]["settings"] == {"theme": "DARK", "displayCurrency": "CHF"}
        bad = (await client.query(UPDATE_DISPLAY, {"i": {"displayCurrency": "swiss francs"}}))["updateDisplaySettings"]
        assert (bad["__typename"], bad["field"]) == ("InvalidInput", "displayCurrency")


async def test_bad_trading_settings_name_their_field(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        other = await register(api)
        async with as_user(api.base_url, other) as stranger:
            foreign = await paper_account(stranger)
        for fields, field in (
            ({"maxOrderNotional": "0"}, "maxOrderNotional"),
            ({"confirmAboveNotional": "-5"}, "confirmAboveNotional"),
            ({"maxOrderNotional": "1.0000000000001"}, "maxOrderNotional"),
            ({"defaultVenueAccountId": foreign}, "defaultVenueAccountId"),
            ({"defaultOrderType": None}, "defaultOrderType"),
        ):
            refused = await update_trading(client, **fields)
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", field), refused
        assert (await client.query(SETTINGS))["tradingSettings"]["maxOrderNotional"] is None


async def test_max_order_notional_admits_exactly_the_orders_within_it_under_a_storm(
    api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        assert (await update_trading(client, maxOrderNotional="500"))["__typename"] == "TradingSettingsChanged"
        # Resting limit buys at 1000 (far below the mark): 0.5 × 1000 = 500 is the limit itself, 0.50001 is past it.
        within, past = Decimal("0.5"), Decimal("0.50001")
        results = await asyncio.gather(
            *(
                place(client, account, type="LIMIT", price="1000", quantity=str(within if i % 2 else past))
                for i in range(20)
            )
        )
        kinds = [(r["__typename"], r.get("code")) for r in results]
        assert kinds.count(("OrderPlaced", None)) == 10
        assert kinds.count(("InvalidInput", "MAX_ORDER_NOTIONAL")) == 10
        refused = next(r for r in results if r["__typename"] == "InvalidInput")
        assert refused["field"] == "quantity" and "500.01" in refused["message"]
        # A market order is valued at the mark (which moves between ticks: half of it is surely below).
        mark, tick, _ = await market(client, "ETH")
        await update_trading(client, maxOrderNotional=str(mark * Decimal("0.05")))
        assert (await place(client, account, symbol="ETH", quantity="0.1"))["code"] == "MAX_ORDER_NOTIONAL"
        # A stop is valued at its stop price, exactly: 0.1 × stop is admitted, one lot more is not.
        stop = ((mark * 2) / tick).to_integral_value() * tick
        await update_trading(client, maxOrderNotional=str(stop * Decimal("0.1")))
        stop_order = {"symbol": "ETH", "type": "STOP", "stopPrice": str(stop)}
        assert (await place(client, account, quantity="0.1", **stop_order))["__typename"] == "OrderPlaced"
        assert (await place(client, account, quantity="0.1001", **stop_order))["code"] == "MAX_ORDER_NOTIONAL"
        await update_trading(client, maxOrderNotional=None)
        assert (await place(client, account, symbol="ETH", quantity="0.1"))["__typename"] == "OrderPlaced"


async def test_max_order_notional_holds_on_perps(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await perp_account(client)
        await update_trading(client, maxOrderNotional="100")
        refused = await place(client, account, symbol="ETH", quantity="1")
        assert (refused["__typename"], refused["code"]) == ("InvalidInput", "MAX_ORDER_NOTIONAL")


async def test_exported_settings_import_back_whole(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await update_trading(
            client, defaultVenueAccountId=account, maxOrderNotional="12345.678", defaultOrderType="STOP"
        )
        await client.query(UPDATE_DISPLAY, {"i": {"theme": "LIGHT"}})
        await client.query(
            'mutation { updateProfile(input: {timezone: "Europe/Zurich", language: "de-CH"}) { __typename } }'
        )
        saved = await exported(client)
        assert saved["version"] == 1
        assert saved["trading"]["maxOrderNotional"] == "12345.678"
        assert saved["trading"]["defaultVenueAccountId"] == account
        assert saved["profile"]["timezone"] == "Europe/Zurich" and saved["display"]["theme"] == "LIGHT"
        # Everything changes, then the saved document brings it all back.
        await update_trading(client, defaultVenueAccountId=None, maxOrderNotional=None, defaultOrderType="MARKET")
        await client.query(UPDATE_DISPLAY, {"i": {"theme": "DARK", "displayCurrency": "EUR"}})
        await client.query('mutation { updateProfile(input: {timezone: "Asia/Tokyo"}) { __typename } }')
        done = (await client.query(IMPORT, {"d": orjson.dumps(saved).decode()}))["importSettings"]
        assert done["__typename"] == "SettingsImported", done
        assert done["user"]["timezone"] == "Europe/Zurich"
        assert await exported(client) == saved


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trading": {"maxOrderNotional": "-1"}}, "document.trading.maxOrderNotional"),
        ({"trading": {"leverage": 5}}, "document.trading.leverage"),
        ({"display": {"theme": "PINK"}}, "document.display.theme"),
        ({"display": {"maxOrderNotional": "5"}}, "document.display.maxOrderNotional"),
        ({"profile": {"timezone": "Mars/Olympus"}}, "document.profile.timezone"),
        ({"profile": {"name": ""}}, "document.profile.name"),
        ({"notifications": {"email": "yes"}}, "document.notifications.email"),
        ({"notifications": {"carrier_pigeon": True}}, "document.notifications.carrier_pigeon"),
        ({"version": 2}, "document.version"),
        ({"extras": {}}, "document.extras"),
        ({"trading": []}, "document.trading"),
    ],
)
async def test_a_bad_settings_document_changes_nothing_and_names_its_field(
    api: GraphQLClient, trader: Account, change: dict[str, Any], field: str
) -> None:
    async with as_user(api.base_url, trader) as client:
        before = await exported(client)
        me = (await client.query(ME))["me"]
        # Valid changes in every other section, and one bad value: none of it may land.
        document = {
            "version": 1,
            "profile": {"timezone": "America/New_York", "name": "Changed"},
            "notifications": {"push": True},
            "display": {"displayCurrency": "GBP"},
            "trading": {"confirmAboveNotional": "99"},
        }
        for section, value in change.items():
            document[section] = value if not isinstance(value, dict) else {**document.get(section, {}), **value}
        refused = (await client.query(IMPORT, {"d": orjson.dumps(document).decode()}))["importSettings"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", field), refused
        assert await exported(client) == before
        assert (await client.query(ME))["me"] == me


async def test_a_document_that_is_not_json_is_refused(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        refused = (await client.query(IMPORT, {"d": "{not json"}))["importSettings"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "document")
