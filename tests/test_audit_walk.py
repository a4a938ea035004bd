"""Audit is a mechanism: every Mutation field of the schema, run to success and to a refusal, leaves an audit
row of its action with the right outcome. The rows are read straight from the database.

The walk is driven by the schema: a mutation added without a case here fails the test, so a new domain
cannot forget its audit rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id, to_global_id
from models.audit import AuditEntry
from models.compliance import ComplianceViolation, RuleType, ViolationSeverity
from schema import build_schema

from . import sessions
from .accounts import PASSWORD, Account, as_user, register, unique_email
from .trading import POSITIONS, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

NOBODY = "00000000-0000-0000-0000-000000000000"
TYPENAME = "{ __typename ... on UserError { code } }"


@dataclass
class World:
    api: GraphQLClient
    boss: GraphQLClient  # the admin
    trader: Account
    client: GraphQLClient  # the trader
    account: str  # the trader's paper account
    secret: str = ""  # TOTP secret once enabled
    wallet: Any = None


Run = Callable[[World], Awaitable[Any]]


async def _do(client: GraphQLClient, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The response body: a refusal may be a result union member or a top-level error."""
    return await client.execute(document, variables)


def _totp(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30 * offset_steps))


def _sign(key: Any, message: str) -> str:
    signed = EthAccount.sign_message(encode_defunct(text=message), private_key=key.key)
    return "0x" + signed.signature.hex().removeprefix("0x")


async def _challenge(w: World, address: str) -> str:
    body = await _do(w.api, "mutation($a: String!) { walletChallenge(address: $a) { message } }", {"a": address})
    message: str = body["data"]["walletChallenge"]["message"]
    return message


async def _wallet_verify(w: World, key: Any, signer: Any) -> dict[str, Any]:
    message = await _challenge(w, key.address)
    return await _do(
        w.api,
        "mutation($i: WalletVerifyInput!) { walletVerify(input: $i) " + TYPENAME + " }",
        {"i": {"address": key.address, "signature": _sign(signer, message), "message": message}},
    )


async def _login(w: World, email: str, password: str) -> dict[str, Any]:
    return await _do(
        w.api,
        "mutation($i: LoginInput!) { login(input: $i) { __typename ... on AuthPayload { refreshToken "
        "session { id } } ... on UserError { code } } }",
        {"i": {"email": email, "password": password}},
    )


async def _new_user(w: World) -> str:
    return (await register(w.api)).user_id


async def _second_session(w: World) -> str:
    body = await _login(w, w.trader.email, w.trader.password)
    session: str = body["data"]["login"]["session"]["id"]
    return session


async def _resting_order(w: World) -> str:
    order = await placed(w.client, w.account, symbol="BTC", type="LIMIT", quantity="0.01", price="1000")
    assert order["status"] == "OPEN"
    order_id: str = order["id"]
    return order_id


async def _position(w: World) -> str:
    await placed(w.client, w.account, symbol="ETH", quantity="0.1")
    rows = (await w.client.query(POSITIONS, {"f": {"venueAccountId": w.account, "symbol": "ETH"}}))["positions"]
    position: str = rows[0]["id"]
    return position


def _mutation(field: str, args: str, variables: str = "") -> str:
    head = f"mutation({variables})" if variables else "mutation"
    return f"{head} {{ {field}{args} {TYPENAME} }}"


ACTIVATE = _mutation("activateKillSwitch", "(input: $i)", "$i: ActivateKillSwitchInput!")
DEACTIVATE = _mutation("deactivateKillSwitch", "(input: $i)", "$i: DeactivateKillSwitchInput!")
ENABLE_2FA = "mutation { enableTwoFactor { __typename ... on TwoFactorSetup { secret } ... on UserError { code } } }"


async def _enable_2fa(w: World) -> dict[str, Any]:
    body = await _do(w.client, ENABLE_2FA)
    if body["data"]["enableTwoFactor"]["__typename"] == "TwoFactorSetup":
        w.secret = body["data"]["enableTwoFactor"]["secret"]
    return body


def _code_mutation(field: str) -> str:
    return _mutation(field, "(code: $c)", "$c: String!")


DROP_COPY = "ExecID,Symbol,Side,LastQty,LastPx,TransactTime\nWALK-1,BTC,BUY,1,100,2026-01-01T00:00:00Z\n"
UPLOAD = _mutation("uploadDropCopy", "(input: $i)", "$i: UploadDropCopyInput!")
RECONCILE = _mutation("runReconciliation", "(venueAccountId: $a)", "$a: ID!")
IMPORT_SETTINGS = _mutation("importSettings", "(document: $d)", "$d: String!")
RESOLVE_BREAK = _mutation("resolveBreak", '(id: $id, note: "walked")', "$id: ID!")


async def _resolve_break(w: World) -> dict[str, Any]:
    """A drop copy with an execution the books never made: the run has a break to resolve."""
    document = """mutation($a: ID!) { runReconciliation(venueAccountId: $a, source: DROP_COPY) {
      ... on ReconciliationRan { breaks { id } } } }"""
    await _do(w.client, UPLOAD, {"i": {"venueAccountId": w.account, "format": "CSV", "content": DROP_COPY}})
    found = await w.client.query(document, {"a": w.account})
    return await _do(w.client, RESOLVE_BREAK, {"id": found["runReconciliation"]["breaks"][0]["id"]})


# field -> (audited action, success run, expected success outcome, refusal run or None, refusal outcome).
# Order matters where a later case builds on an earlier one (2FA, kill switch, the wallet user).
CASES: dict[str, tuple[str, Run, str, Run | None, str]] = {
    "register": (
        "auth.register",
        lambda w: _do(
            w.api,
            _mutation("register", "(input: $i)", "$i: RegisterInput!"),
            {"i": {"email": unique_email(), "password": PASSWORD, "name": "Walker"}},
        ),
        "SUCCESS",
        lambda w: _do(
            w.api,
            _mutation("register", "(input: $i)", "$i: RegisterInput!"),
            {"i": {"email": unique_email(), "password": "short", "name": "Walker"}},
        ),
        "DENIED",
    ),
    "login": (
        "auth.login",
        lambda w: _login(w, w.trader.email, w.trader.password),
        "SUCCESS",
        lambda w: _wrong_password(w),
        "FAILURE",
    ),
    "walletChallenge": (
        "auth.wallet_challenge",
        lambda w: _challenge(w, EthAccount.create().address),
        "SUCCESS",
        lambda w: _do(w.api, 'mutation { walletChallenge(address: "0x12") { nonce } }'),
        "FAILURE",
    ),
    "walletVerify": (
        "auth.wallet_login",
        # The wallet's account exists (set up in the test): this is a returning sign-in.
        lambda w: _wallet_verify(w, w.wallet, w.wallet),
        "SUCCESS",
        lambda w: _wallet_verify(w, w.wallet, EthAccount.create()),
        "FAILURE",
    ),
    "refreshToken": (
        "auth.refresh_token",
        lambda w: _refresh(w),
        "SUCCESS",
        lambda w: _do(w.api, 'mutation { refreshToken(refreshToken: "forged") { tokenType } }'),
        "FAILURE",
    ),
    "logout": ("auth.logout", lambda w: _logout(w), "SUCCESS", None, ""),
    "updateProfile": (
        "account.update_profile",
        lambda w: _do(w.client, _mutation("updateProfile", '(input: {name: "Walked"})')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("updateProfile", '(input: {name: ""})')),
        "DENIED",
    ),
    "updateNotificationPreferences": (
        "account.update_notifications",
        lambda w: _do(w.client, _mutation("updateNotificationPreferences", "(input: {push: false})")),
        "SUCCESS",
        None,
        "",
    ),
    "changePassword": (
        "account.change_password",
        lambda w: _change_password(w),
        "SUCCESS",
        lambda w: _do(
            w.client,
            _mutation("changePassword", "(input: $i)", "$i: ChangePasswordInput!"),
            {"i": {"currentPassword": "wrong password 1", "newPassword": "another horse 43 battery"}},
        ),
        "FAILURE",
    ),
    "enableTwoFactor": ("account.two_factor_setup", _enable_2fa, "SUCCESS", None, ""),
    "confirmTwoFactor": (
        "account.two_factor_enable",
        lambda w: _do(w.client, _code_mutation("confirmTwoFactor"), {"c": _totp(w.secret)}),
        "SUCCESS",
        lambda w: _do(w.client, _code_mutation("confirmTwoFactor"), {"c": "12345"}),
        "DENIED",
    ),
    "disableTwoFactor": (
        "account.two_factor_disable",
        lambda w: _do(w.client, _code_mutation("disableTwoFactor"), {"c": _totp(w.secret, 1)}),
        "SUCCESS",
        lambda w: _do(w.client, _code_mutation("disableTwoFactor"), {"c": "12345"}),
        "DENIED",
    ),
    "revokeSession": (
        "account.revoke_session",
        lambda w: _revoke(w),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("revokeSession", f'(id: "{to_global_id("Session", NOBODY)}")')),
        "DENIED",
    ),
    "suspendUser": (
        "admin.suspend_user",
        lambda w: _suspend(w),
        "SUCCESS",
        lambda w: _do(
            w.boss, _mutation("suspendUser", f'(input: {{id: "{to_global_id("User", NOBODY)}", reason: "x"}})')
        ),
        "DENIED",
    ),
    "approveUser": (
        "admin.approve_user",
        lambda w: _approve(w),
        "SUCCESS",
        lambda w: _do(w.boss, _mutation("approveUser", f'(id: "{w.trader.user_id}")')),
        "DENIED",
    ),
    "setUserRole": (
        "admin.set_user_role",
        lambda w: _set_role(w),
        "SUCCESS",
        lambda w: _do(
            w.boss, _mutation("setUserRole", f'(input: {{id: "{to_global_id("User", NOBODY)}", role: VIEWER}})')
        ),
        "DENIED",
    ),
    "deleteUser": (
        "admin.delete_user",
        lambda w: _delete(w),
        "SUCCESS",
        lambda w: _do(w.boss, _mutation("deleteUser", f'(id: "{to_global_id("User", NOBODY)}")')),
        "DENIED",
    ),
    "connectVenue": (
        "venue.connect",
        lambda w: paper_account(w.client),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("connectVenue", '(input: {venueId: "nowhere", environment: PAPER})')),
        "DENIED",
    ),
    "disconnectVenue": (
        "venue.disconnect",
        lambda w: _disconnect_fresh(w),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("disconnectVenue", f'(id: "{to_global_id("VenueAccount", NOBODY)}")')),
        "DENIED",
    ),
    "syncVenue": (
        "venue.sync",
        lambda w: _do(w.client, _mutation("syncVenue", f'(id: "{w.account}")')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("syncVenue", f'(id: "{to_global_id("VenueAccount", NOBODY)}")')),
        "DENIED",
    ),
    "sendTestOrder": (
        "venue.test_order",
        lambda w: _do(w.client, _mutation("sendTestOrder", f'(venueAccountId: "{w.account}")')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("sendTestOrder", f'(venueAccountId: "{w.account}", symbol: "NOPE")')),
        "DENIED",
    ),
    "placeOrder": (
        "order.place",
        lambda w: placed(w.client, w.account, quantity="0.01"),
        "SUCCESS",
        lambda w: _do(
            w.client,
            _mutation("placeOrder", "(input: $i)", "$i: PlaceOrderInput!"),
            {"i": {"venueAccountId": w.account, "symbol": "BTC", "side": "BUY", "type": "MARKET", "quantity": "0"}},
        ),
        "DENIED",
    ),
    "placeRoutedOrder": (
        "order.place_routed",
        lambda w: _do(
            w.client,
            _mutation("placeRoutedOrder", "(input: $i)", "$i: PlaceRoutedOrderInput!"),
            {"i": {"symbol": "BTC", "side": "BUY", "quantity": "0.001", "venueAccountIds": [w.account]}},
        ),
        "SUCCESS",
        lambda w: _do(
            w.client,
            _mutation("placeRoutedOrder", "(input: $i)", "$i: PlaceRoutedOrderInput!"),
            {"i": {"symbol": "BTC", "side": "BUY", "quantity": "0", "venueAccountIds": [w.account]}},
        ),
        "DENIED",
    ),
    "cancelOrder": (
        "order.cancel",
        lambda w: _cancel_resting(w),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("cancelOrder", f'(id: "{to_global_id("Order", NOBODY)}")')),
        "DENIED",
    ),
    "cancelAllOrders": (
        "order.cancel_all",
        lambda w: _do(w.client, _mutation("cancelAllOrders", f'(venueAccountId: "{w.account}")')),
        "SUCCESS",
        lambda w: _do(
            w.client, _mutation("cancelAllOrders", f'(venueAccountId: "{to_global_id("VenueAccount", NOBODY)}")')
        ),
        "DENIED",
    ),
    "closePosition": (
        "position.close",
        lambda w: _close_one(w),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("closePosition", f'(id: "{to_global_id("Position", NOBODY)}")')),
        "DENIED",
    ),
    "closeAllPositions": (
        "position.close_all",
        lambda w: _do(w.client, _mutation("closeAllPositions", f'(venueAccountId: "{w.account}")')),
        "SUCCESS",
        lambda w: _do(
            w.client, _mutation("closeAllPositions", f'(venueAccountId: "{to_global_id("VenueAccount", NOBODY)}")')
        ),
        "DENIED",
    ),
    "activateKillSwitch": (
        "killswitch.activate",
        lambda w: _do(w.client, ACTIVATE, {"i": {"reason": "walk", "scope": "ACCOUNT"}}),
        "SUCCESS",
        lambda w: _do(w.client, ACTIVATE, {"i": {"reason": "again", "scope": "ACCOUNT"}}),
        "DENIED",
    ),
    "deactivateKillSwitch": (
        "killswitch.deactivate",
        lambda w: _do(w.client, DEACTIVATE, {"i": {"reason": "walked", "scope": "ACCOUNT"}}),
        "SUCCESS",
        lambda w: _do(w.client, DEACTIVATE, {"i": {"reason": "again", "scope": "ACCOUNT"}}),
        "DENIED",
    ),
    "createComplianceRule": (
        "compliance.rule_create",
        lambda w: _create_rule(w),
        "SUCCESS",
        lambda w: _do(w.boss, CREATE_RULE, {"i": {**_inactive_rule(w), "type": "ORDER_RATE"}}),
        "DENIED",
    ),
    "updateComplianceRule": (
        "compliance.rule_update",
        lambda w: _rule_then(w, UPDATE_RULE),
        "SUCCESS",
        lambda w: _do(w.boss, UPDATE_RULE, {"id": to_global_id("ComplianceRule", NOBODY), "i": _inactive_rule(w)}),
        "DENIED",
    ),
    "deleteComplianceRule": (
        "compliance.rule_delete",
        lambda w: _rule_then(w, DELETE_RULE),
        "SUCCESS",
        lambda w: _do(w.boss, DELETE_RULE, {"id": to_global_id("ComplianceRule", NOBODY)}),
        "DENIED",
    ),
    "acknowledgeViolation": (
        "compliance.violation_acknowledge",
        lambda w: _violation_then(w, w.client, ACKNOWLEDGE, {}),
        "SUCCESS",
        lambda w: _do(w.client, ACKNOWLEDGE, {"id": to_global_id("ComplianceViolation", NOBODY)}),
        "DENIED",
    ),
    "resolveViolation": (
        "compliance.violation_resolve",
        lambda w: _violation_then(w, w.boss, RESOLVE, {"n": "walked"}),
        "SUCCESS",
        lambda w: _do(w.boss, RESOLVE, {"id": to_global_id("ComplianceViolation", NOBODY), "n": "walked"}),
        "DENIED",
    ),
    "armDeadMansSwitch": (
        "deadman.arm",
        lambda w: _do(w.client, ARM, {"t": 3600}),
        "SUCCESS",
        lambda w: _do(w.client, ARM, {"t": 1}),
        "DENIED",
    ),
    "heartbeat": (
        "deadman.heartbeat",
        lambda w: _do(w.client, _mutation("heartbeat", "")),
        "SUCCESS",
        lambda w: _unarmed(w, _mutation("heartbeat", "")),
        "DENIED",
    ),
    "disarmDeadMansSwitch": (
        "deadman.disarm",
        lambda w: _do(w.client, _mutation("disarmDeadMansSwitch", "")),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("disarmDeadMansSwitch", "")),
        "DENIED",
    ),
    "updateLeverage": (
        "perp.update_leverage",
        lambda w: _leverage(w, 3),
        "SUCCESS",
        lambda w: _leverage(w, 1000),
        "DENIED",
    ),
    "deposit": (
        "funds.deposit",
        lambda w: _do(w.client, _mutation("deposit", '(input: {amount: "25"})')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("deposit", '(input: {amount: "-1"})')),
        "DENIED",
    ),
    "withdraw": (
        "funds.withdraw",
        lambda w: _do(w.client, _mutation("withdraw", '(input: {amount: "5"})')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("withdraw", '(input: {amount: "99999999"})')),
        "DENIED",
    ),
    "updateLeaderboardProfile": (
        "leaderboard.update_profile",
        lambda w: _do(w.client, _mutation("updateLeaderboardProfile", '(input: {displayName: "Walker 1"})')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("updateLeaderboardProfile", '(input: {displayName: "?"})')),
        "DENIED",
    ),
    "createReferralCode": (
        "referral.create_code",
        lambda w: _do(w.client, _mutation("createReferralCode", f'(code: "W{uuid.uuid4().hex[:10]}")')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("createReferralCode", '(code: "ab")')),
        "DENIED",
    ),
    "claimReward": (
        "funds.claim_reward",
        lambda w: _claim_after_a_referred_fill(w),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("claimReward", "")),  # nothing left to claim
        "DENIED",
    ),
    "sendUsdc": (
        "funds.send_usdc",
        lambda w: _send_usdc(w, w.boss),
        "SUCCESS",
        lambda w: _send_usdc(w, w.client),
        "DENIED",
    ),
    "createPriceAlert": (
        "price_alert.create",
        lambda w: _price_alert(w),
        "SUCCESS",
        lambda w: _do(w.client, CREATE_PRICE_ALERT, {"i": {"symbol": "NOPE", "condition": "ABOVE", "value": "1"}}),
        "DENIED",
    ),
    "updatePriceAlert": (
        "price_alert.update",
        lambda w: _price_alert_then(w, UPDATE_PRICE_ALERT),
        "SUCCESS",
        lambda w: _do(w.client, UPDATE_PRICE_ALERT, {"id": to_global_id("PriceAlert", NOBODY), "i": FAR_ABOVE}),
        "DENIED",
    ),
    "deletePriceAlert": (
        "price_alert.delete",
        lambda w: _price_alert_then(w, DELETE_PRICE_ALERT),
        "SUCCESS",
        lambda w: _do(w.client, DELETE_PRICE_ALERT, {"id": to_global_id("PriceAlert", NOBODY)}),
        "DENIED",
    ),
    "createApiKey": (
        "api_key.create",
        lambda w: _do(w.client, CREATE_API_KEY, {"n": "walk", "s": ["READ"]}),
        "SUCCESS",
        lambda w: _do(w.client, CREATE_API_KEY, {"n": "walk", "s": []}),
        "DENIED",
    ),
    "revokeApiKey": (
        "api_key.revoke",
        lambda w: _api_key_then(w, REVOKE_API_KEY),
        "SUCCESS",
        lambda w: _do(w.client, REVOKE_API_KEY, {"id": to_global_id("ApiKey", NOBODY)}),
        "DENIED",
    ),
    "createWebhook": (
        "webhook.create",
        lambda w: _do(w.client, CREATE_WEBHOOK, {"u": "http://127.0.0.1:9/walk"}),
        "SUCCESS",
        lambda w: _do(w.client, CREATE_WEBHOOK, {"u": "ftp://walk"}),
        "DENIED",
    ),
    "deleteWebhook": (
        "webhook.delete",
        lambda w: _webhook_then(w, DELETE_WEBHOOK),
        "SUCCESS",
        lambda w: _do(w.client, DELETE_WEBHOOK, {"id": to_global_id("Webhook", NOBODY)}),
        "DENIED",
    ),
    "markAlertRead": (
        "alert.mark_read",
        lambda w: _test_alert_then(w, MARK_ALERT_READ),
        "SUCCESS",
        lambda w: _do(w.client, MARK_ALERT_READ, {"id": to_global_id("Alert", NOBODY)}),
        "DENIED",
    ),
    "markAllAlertsRead": (
        "alert.mark_all_read",
        lambda w: _do(w.client, "mutation { markAllAlertsRead { count } }"),
        "SUCCESS",
        None,
        "",
    ),
    "acknowledgeAlert": (
        "alert.acknowledge",
        lambda w: _test_alert_then(w, ACKNOWLEDGE_ALERT),
        "SUCCESS",
        lambda w: _do(w.client, ACKNOWLEDGE_ALERT, {"id": to_global_id("Alert", NOBODY)}),
        "DENIED",
    ),
    "sendTestAlert": (
        "alert.send_test",
        lambda w: _do(w.client, SEND_TEST_ALERT, {"m": "walk"}),
        "SUCCESS",
        lambda w: _do(w.client, SEND_TEST_ALERT, {"m": ""}),
        "DENIED",
    ),
    "createStrategy": (
        "strategy.create",
        lambda w: _do(w.client, CREATE_STRATEGY, {"i": STRATEGY_INPUT}),
        "SUCCESS",
        lambda w: _do(w.client, CREATE_STRATEGY, {"i": {**STRATEGY_INPUT, "name": ""}}),
        "DENIED",
    ),
    "updateStrategy": (
        "strategy.update",
        lambda w: _strategy_then(w, UPDATE_STRATEGY),
        "SUCCESS",
        lambda w: _do(w.client, UPDATE_STRATEGY, {"id": to_global_id("Strategy", NOBODY), "i": STRATEGY_INPUT}),
        "DENIED",
    ),
    "deleteStrategy": (
        "strategy.delete",
        lambda w: _strategy_then(w, DELETE_STRATEGY),
        "SUCCESS",
        lambda w: _do(w.client, DELETE_STRATEGY, {"id": to_global_id("Strategy", NOBODY)}),
        "DENIED",
    ),
    "uploadDropCopy": (
        "reconciliation.upload_drop_copy",
        lambda w: _do(w.client, UPLOAD, {"i": {"venueAccountId": w.account, "format": "CSV", "content": DROP_COPY}}),
        "SUCCESS",
        lambda w: _do(w.client, UPLOAD, {"i": {"venueAccountId": w.account, "format": "CSV", "content": "ExecID\n1"}}),
        "DENIED",
    ),
    "runReconciliation": (
        "reconciliation.run",
        lambda w: _do(w.client, RECONCILE, {"a": w.account}),
        "SUCCESS",
        lambda w: _do(w.client, RECONCILE, {"a": to_global_id("VenueAccount", NOBODY)}),
        "DENIED",
    ),
    "updateTradingSettings": (
        "settings.update_trading",
        lambda w: _do(w.client, _mutation("updateTradingSettings", '(input: {confirmAboveNotional: "100"})')),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("updateTradingSettings", '(input: {maxOrderNotional: "0"})')),
        "DENIED",
    ),
    "updateDisplaySettings": (
        "settings.update_display",
        lambda w: _do(w.client, _mutation("updateDisplaySettings", "(input: {theme: DARK})")),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("updateDisplaySettings", '(input: {displayCurrency: "?"})')),
        "DENIED",
    ),
    "importSettings": (
        "settings.import",
        lambda w: _do(w.client, IMPORT_SETTINGS, {"d": '{"version": 1, "display": {"theme": "LIGHT"}}'}),
        "SUCCESS",
        lambda w: _do(w.client, IMPORT_SETTINGS, {"d": '{"version": 7}'}),
        "DENIED",
    ),
    "resolveBreak": (
        "reconciliation.resolve_break",
        _resolve_break,
        "SUCCESS",
        lambda w: _do(w.client, RESOLVE_BREAK, {"id": to_global_id("ReconciliationBreak", NOBODY)}),
        "DENIED",
    ),
    "createQuickTradingSession": (
        "trading_session.create_quick",
        lambda w: _do(w.client, QUICK_SESSION, {"i": {"budget": "10", "profitTarget": "5", "assetIndex": 0}}),
        "SUCCESS",
        lambda w: _do(w.client, QUICK_SESSION, {"i": {"budget": "1", "profitTarget": "5", "assetIndex": 0}}),
        "DENIED",
    ),
    "createAdvancedTradingSession": (
        "trading_session.create_advanced",
        lambda w: _do(w.client, ADVANCED_SESSION, {"i": _advanced(amount="10")}),
        "SUCCESS",
        lambda w: _do(w.client, ADVANCED_SESSION, {"i": _advanced(amount="1")}),
        "DENIED",
    ),
    "closeSessionPosition": (
        "trading_session.close_position",
        lambda w: _session_close(w, "closeSessionPosition"),
        "SUCCESS",
        lambda w: _do(w.client, CLOSE_SESSION_POSITION, {"p": to_global_id("SessionPosition", NOBODY)}),
        "DENIED",
    ),
    "closeTrade": (
        "trading_session.close_trade",
        lambda w: _session_close(w, "closeTrade"),
        "SUCCESS",
        lambda w: _do(w.client, CLOSE_SESSION_TRADE, {"t": to_global_id("SessionTrade", NOBODY)}),
        "DENIED",
    ),
    "closePositionByAsset": (
        "trading_session.close_position_by_asset",
        # The quick session createQuickTradingSession started above, on asset 0.
        lambda w: _do(w.client, _mutation("closePositionByAsset", "(assetIndex: 0)")),
        "SUCCESS",
        lambda w: _do(w.client, _mutation("closePositionByAsset", "(assetIndex: 9)")),
        "DENIED",
    ),
    "closePositionWithSignature": (
        "trading_session.close_position_with_signature",
        lambda w: _session_close(w, "closePositionWithSignature"),
        "SUCCESS",
        lambda w: _do(
            w.client, CLOSE_SESSION_SIGNED, {"p": to_global_id("SessionPosition", NOBODY), "s": "0x" + "00" * 65}
        ),
        "DENIED",
    ),
    "runSessionEngineOnce": (
        "trading_session.run_engine",
        lambda w: _session_close(w, "runSessionEngineOnce"),
        "SUCCESS",
        lambda w: _do(w.boss, RUN_SESSION_ENGINE, {"s": to_global_id("TradingSession", NOBODY)}),
        "DENIED",
    ),
    "createBot": (
        "bot.create",
        lambda w: _bot_then(w, None),
        "SUCCESS",
        lambda w: _bot_then(w, None, name=""),
        "DENIED",
    ),
    "updateBot": (
        "bot.update",
        lambda w: _bot_then(w, UPDATE_BOT),
        "SUCCESS",
        lambda w: _do(w.client, UPDATE_BOT, {"id": to_global_id("Bot", NOBODY), "i": {"name": "x"}}),
        "DENIED",
    ),
    "deleteBot": (
        "bot.delete",
        lambda w: _bot_then(w, _bot_step("deleteBot")),
        "SUCCESS",
        lambda w: _bot_then(w, _bot_step("deleteBot"), "startBot"),
        "DENIED",
    ),
    "startBot": (
        "bot.start",
        lambda w: _bot_then(w, _bot_step("startBot"), "stopBot"),
        "SUCCESS",
        lambda w: _do(w.client, _bot_step("startBot"), {"id": to_global_id("Bot", NOBODY)}),
        "DENIED",
    ),
    "stopBot": (
        "bot.stop",
        lambda w: _bot_then(w, _bot_step("stopBot"), "startBot"),
        "SUCCESS",
        lambda w: _bot_then(w, _bot_step("stopBot")),
        "DENIED",
    ),
    "pauseBot": (
        "bot.pause",
        lambda w: _bot_then(w, _bot_step("pauseBot"), "startBot"),
        "SUCCESS",
        lambda w: _bot_then(w, _bot_step("pauseBot")),
        "DENIED",
    ),
    "resumeBot": (
        "bot.resume",
        lambda w: _bot_then(w, _bot_step("resumeBot"), "startBot", "pauseBot"),
        "SUCCESS",
        lambda w: _bot_then(w, _bot_step("resumeBot")),
        "DENIED",
    ),
    "stopBotEntries": (
        "bot.stop_entries",
        lambda w: _bot_then(w, _bot_step("stopBotEntries"), "startBot"),
        "SUCCESS",
        lambda w: _bot_then(w, _bot_step("stopBotEntries")),
        "DENIED",
    ),
    "publishAgent": (
        "agent.publish",
        lambda w: _agent_then(w, None),
        "SUCCESS",
        lambda w: _agent_then(w, None, name=""),
        "DENIED",
    ),
    "unpublishAgent": (
        "agent.unpublish",
        lambda w: _agent_then(w, UNPUBLISH_AGENT),
        "SUCCESS",
        lambda w: _do(w.boss, UNPUBLISH_AGENT, {"id": to_global_id("Agent", NOBODY)}),
        "DENIED",
    ),
    "subscribeToAgent": (
        "agent.subscribe",
        lambda w: _agent_then(w, SUBSCRIBE_AGENT),
        "SUCCESS",
        lambda w: _agent_then(w, SUBSCRIBE_AGENT, allocation="0"),
        "DENIED",
    ),
    "unsubscribeFromAgent": (
        "agent.unsubscribe",
        lambda w: _agent_then(w, UNSUBSCRIBE_AGENT),
        "SUCCESS",
        lambda w: _do(w.client, UNSUBSCRIBE_AGENT, {"s": to_global_id("AgentSubscription", NOBODY)}),
        "DENIED",
    ),
    "createVault": (
        "vault.create",
        lambda w: _create_vault(w, "0.2"),
        "SUCCESS",
        lambda w: _create_vault(w, "0.9"),
        "DENIED",
    ),
    "depositToVault": (
        "vault.deposit",
        lambda w: _vault_then(w, DEPOSIT_TO_VAULT, amount="20"),
        "SUCCESS",
        lambda w: _vault_then(w, DEPOSIT_TO_VAULT, amount="0"),
        "DENIED",
    ),
    "withdrawFromVault": (
        "vault.withdraw",
        lambda w: _vault_then(w, WITHDRAW_FROM_VAULT, deposit="20", shares="5"),
        "SUCCESS",
        lambda w: _vault_then(w, WITHDRAW_FROM_VAULT, shares="5"),
        "DENIED",
    ),
    "crystallizeVaultFees": (
        "vault.crystallize",
        lambda w: _vault_then(w, CRYSTALLIZE_VAULT),
        "SUCCESS",
        lambda w: _do(w.boss, CRYSTALLIZE_VAULT, {"v": to_global_id("Vault", NOBODY)}),
        "DENIED",
    ),
    "broadcast": (
        "admin.broadcast",
        lambda w: _do(w.boss, _mutation("broadcast", '(message: "walked")')),
        "SUCCESS",
        lambda w: _do(w.boss, _mutation("broadcast", '(message: " ")')),
        "DENIED",
    ),
}

CREATE_PRICE_ALERT = _mutation("createPriceAlert", "(input: $i)", "$i: PriceAlertInput!")
UPDATE_PRICE_ALERT = _mutation("updatePriceAlert", "(id: $id, input: $i)", "$id: ID!, $i: PriceAlertInput!")
DELETE_PRICE_ALERT = _mutation("deletePriceAlert", "(id: $id)", "$id: ID!")
MARK_ALERT_READ = _mutation("markAlertRead", "(id: $id)", "$id: ID!")
ACKNOWLEDGE_ALERT = _mutation("acknowledgeAlert", "(id: $id)", "$id: ID!")
SEND_TEST_ALERT = _mutation("sendTestAlert", "(message: $m)", "$m: String")
CREATE_API_KEY = _mutation("createApiKey", "(name: $n, scopes: $s)", "$n: String!, $s: [ApiKeyScope!]!")
REVOKE_API_KEY = _mutation("revokeApiKey", "(id: $id)", "$id: ID!")
CREATE_WEBHOOK = _mutation("createWebhook", "(url: $u)", "$u: String!")
DELETE_WEBHOOK = _mutation("deleteWebhook", "(id: $id)", "$id: ID!")
# Far above any price the walk reaches: the walk's alerts never fire.
FAR_ABOVE = {"symbol": "BTC", "condition": "ABOVE", "value": "100000000"}


async def _price_alert(w: World) -> dict[str, Any]:
    return await _do(
        w.client,
        "mutation($i: PriceAlertInput!) { createPriceAlert(input: $i) { ... on PriceAlertChanged { priceAlert { id } } } }",
        {"i": FAR_ABOVE},
    )


async def _price_alert_then(w: World, document: str) -> dict[str, Any]:
    created = await _price_alert(w)
    variables: dict[str, Any] = {"id": created["data"]["createPriceAlert"]["priceAlert"]["id"]}
    if "$i" in document:
        variables["i"] = FAR_ABOVE
    return await _do(w.client, document, variables)


async def _api_key_then(w: World, document: str) -> dict[str, Any]:
    made = await w.client.query(
        'mutation { createApiKey(name: "gone", scopes: [READ]) { ... on ApiKeyCreated { apiKey { id } } } }'
    )
    return await _do(w.client, document, {"id": made["createApiKey"]["apiKey"]["id"]})


async def _webhook_then(w: World, document: str) -> dict[str, Any]:
    made = await w.client.query(
        'mutation { createWebhook(url: "http://127.0.0.1:9/gone") { ... on WebhookCreated { webhook { id } } } }'
    )
    return await _do(w.client, document, {"id": made["createWebhook"]["webhook"]["id"]})


async def _test_alert_then(w: World, document: str) -> dict[str, Any]:
    sent = await w.client.query('mutation { sendTestAlert(message: "walk") { ... on AlertChanged { alert { id } } } }')
    return await _do(w.client, document, {"id": sent["sendTestAlert"]["alert"]["id"]})


UPDATE_BOT = _mutation("updateBot", "(id: $id, input: $i)", "$id: ID!, $i: UpdateBotInput!")


def _bot_step(field: str) -> str:
    return _mutation(field, "(id: $id)", "$id: ID!")


async def _bot_then(w: World, document: str | None, *steps: str, name: str = "walked") -> dict[str, Any]:
    """A new bot (its strategy decides daily, so it never trades during the walk), taken through ``steps``,
    then ``document`` on it; with no document, the answer of createBot itself."""
    body = await w.client.query(
        "mutation($i: StrategyInput!) { createStrategy(input: $i) { ... on StrategyChanged { strategy { id } } } }",
        {"i": STRATEGY_INPUT},
    )
    bot = {
        "name": name,
        "strategyId": body["createStrategy"]["strategy"]["id"],
        "venueAccountId": w.account,
        "allocatedCapital": "100",
        "configuration": {"maxPositionSize": "10", "riskPerTrade": "1", "allowedPairs": ["BTC"], "interval": "1d"},
    }
    created = await _do(w.client, _mutation("createBot", "(input: $i)", "$i: CreateBotInput!"), {"i": bot})
    if document is None:
        return created
    made = await w.client.query(
        "mutation($i: CreateBotInput!) { createBot(input: $i) { ... on BotChanged { bot { id } } } }", {"i": bot}
    )
    bot_id = made["createBot"]["bot"]["id"]
    for step in steps:
        await _do(w.client, _bot_step(step), {"id": bot_id})
    variables: dict[str, Any] = {"id": bot_id}
    if "$i" in document:
        variables["i"] = {"name": "renamed"}
    return await _do(w.client, document, variables)


PUBLISH_AGENT = _mutation("publishAgent", "(input: $i)", "$i: PublishAgentInput!")
UNPUBLISH_AGENT = _mutation("unpublishAgent", "(id: $id)", "$id: ID!")
SUBSCRIBE_AGENT = _mutation(
    "subscribeToAgent", "(agentId: $id, venueAccountId: $a, allocation: $x)", "$id: ID!, $a: ID!, $x: Decimal!"
)
UNSUBSCRIBE_AGENT = _mutation("unsubscribeFromAgent", "(subscriptionId: $s, closePositions: true)", "$s: ID!")


async def _agent_then(w: World, document: str | None, name: str = "walked", allocation: str = "100") -> dict[str, Any]:
    """A bot of the trader (never started) published by the admin as an agent, then ``document`` on it; with no
    document, the answer of publishAgent itself. Subscribing copies into a second account of the trader."""
    body = await w.client.query(
        "mutation($i: StrategyInput!) { createStrategy(input: $i) { ... on StrategyChanged { strategy { id } } } }",
        {"i": STRATEGY_INPUT},
    )
    bot = {
        "name": "walked agent",
        "strategyId": body["createStrategy"]["strategy"]["id"],
        "venueAccountId": w.account,
        "allocatedCapital": "100",
        "configuration": {"maxPositionSize": "10", "riskPerTrade": "1", "allowedPairs": ["BTC"], "interval": "1d"},
    }
    made = await w.client.query(
        "mutation($i: CreateBotInput!) { createBot(input: $i) { ... on BotChanged { bot { id } } } }", {"i": bot}
    )
    bot_id = made["createBot"]["bot"]["id"]
    agent = {"botId": bot_id, "name": name, "profile": "MODERATE"}
    if document is None:
        return await _do(w.boss, PUBLISH_AGENT, {"i": agent})
    published = await w.boss.query(
        "mutation($i: PublishAgentInput!) { publishAgent(input: $i) { ... on AgentChanged { agent { id } } } }",
        {"i": agent},
    )
    agent_id = published["publishAgent"]["agent"]["id"]
    if document is UNPUBLISH_AGENT:
        return await _do(w.boss, document, {"id": agent_id})
    account = await paper_account(w.client)
    variables = {"id": agent_id, "a": account, "x": allocation}
    if document is SUBSCRIBE_AGENT:
        return await _do(w.client, document, variables)
    subscribed = await w.client.query(
        "mutation($id: ID!, $a: ID!, $x: Decimal!) { subscribeToAgent(agentId: $id, venueAccountId: $a, "
        "allocation: $x) { ... on AgentSubscriptionChanged { subscription { id } } } }",
        variables,
    )
    return await _do(w.client, document, {"s": subscribed["subscribeToAgent"]["subscription"]["id"]})


CREATE_VAULT = _mutation("createVault", "(input: $i)", "$i: CreateVaultInput!")
DEPOSIT_TO_VAULT = _mutation(
    "depositToVault", "(vaultId: $v, venueAccountId: $a, amount: $amount)", "$v: ID!, $a: ID!, $amount: Decimal!"
)
WITHDRAW_FROM_VAULT = _mutation("withdrawFromVault", "(vaultId: $v, shares: $s)", "$v: ID!, $s: Decimal!")
CRYSTALLIZE_VAULT = _mutation("crystallizeVaultFees", "(vaultId: $v)", "$v: ID!")


def _vault_input(rate: str) -> dict[str, Any]:
    return {
        "name": f"walk {uuid.uuid4().hex[:12]}",
        "performanceFeeRate": rate,
        "feePeriod": "MONTHLY",
        "minimumDeposit": "0",
    }


async def _create_vault(w: World, rate: str) -> dict[str, Any]:
    return await _do(w.boss, CREATE_VAULT, {"i": _vault_input(rate)})


async def _vault_then(
    w: World, document: str, *, deposit: str | None = None, amount: str = "0", shares: str = "0"
) -> dict[str, Any]:
    """A new vault, then ``document`` by a new trader with a paper account of their own that never trades (so its
    ledger rows stay its whole history); ``deposit`` first puts that much in."""
    body = await w.boss.query(
        "mutation($i: CreateVaultInput!) { createVault(input: $i) { ... on VaultCreated { vault { id } } } }",
        {"i": _vault_input("0.1")},
    )
    vault = body["createVault"]["vault"]["id"]
    if document == CRYSTALLIZE_VAULT:
        return await _do(w.boss, document, {"v": vault})
    person = await register(w.api)
    async with as_user(w.api.base_url, person) as client:
        account = await paper_account(client, "100")
        if deposit is not None:
            await client.query(
                "mutation($v: ID!, $a: ID!, $m: Decimal!) { depositToVault(vaultId: $v, venueAccountId: $a, amount: $m) "
                "{ __typename } }",
                {"v": vault, "a": account, "m": deposit},
            )
        variables: dict[str, Any] = (
            {"v": vault, "s": shares}
            if document == WITHDRAW_FROM_VAULT
            else {"v": vault, "a": account, "amount": amount}
        )
        return await _do(client, document, variables)


CREATE_STRATEGY = _mutation("createStrategy", "(input: $i)", "$i: StrategyInput!")
UPDATE_STRATEGY = _mutation("updateStrategy", "(id: $id, input: $i)", "$id: ID!, $i: StrategyInput!")
DELETE_STRATEGY = _mutation("deleteStrategy", "(id: $id)", "$id: ID!")
STRATEGY_INPUT = {"name": "walked", "type": "GRID"}


async def _strategy_then(w: World, document: str) -> dict[str, Any]:
    body = await w.client.query(
        "mutation($i: StrategyInput!) { createStrategy(input: $i) { ... on StrategyChanged { strategy { id } } } }",
        {"i": STRATEGY_INPUT},
    )
    variables: dict[str, Any] = {"id": body["createStrategy"]["strategy"]["id"]}
    if "$i" in document:
        variables["i"] = STRATEGY_INPUT
    return await _do(w.client, document, variables)


CREATE_RULE = _mutation("createComplianceRule", "(input: $i)", "$i: ComplianceRuleInput!")
UPDATE_RULE = _mutation("updateComplianceRule", "(id: $id, input: $i)", "$id: ID!, $i: ComplianceRuleInput!")
DELETE_RULE = _mutation("deleteComplianceRule", "(id: $id)", "$id: ID!")
ACKNOWLEDGE = _mutation("acknowledgeViolation", "(id: $id)", "$id: ID!")
RESOLVE = _mutation("resolveViolation", "(id: $id, note: $n)", "$id: ID!, $n: String!")
ARM = _mutation("armDeadMansSwitch", "(timeoutSeconds: $t)", "$t: Int!")
QUICK_SESSION = _mutation("createQuickTradingSession", "(input: $i)", "$i: CreateQuickTradingSessionInput!")
CLOSE_SESSION_POSITION = _mutation("closeSessionPosition", "(positionId: $p)", "$p: ID!")
CLOSE_SESSION_TRADE = _mutation("closeTrade", "(tradeId: $t)", "$t: ID!")
CLOSE_SESSION_SIGNED = _mutation(
    "closePositionWithSignature", "(positionId: $p, signature: $s)", "$p: ID!, $s: String!"
)
RUN_SESSION_ENGINE = _mutation("runSessionEngineOnce", "(sessionId: $s)", "$s: ID")


async def _session_close(w: World, field: str) -> dict[str, Any]:
    """A session of a new wallet-signed-in trader whose engine pass opened a position, then ``field`` on it
    (runSessionEngineOnce: that pass itself)."""
    key, token = await sessions.wallet_user(w.api)
    async with as_user(w.api.base_url, token) as client:
        if field == "runSessionEngineOnce":
            account = await paper_account(client, "1000", venue="hyperliquid")
            created = await client.query(
                sessions.QUICK,
                {"i": {"budget": "10", "profitTarget": "500", "assetIndex": 0, "venueAccountId": account}},
            )
            session = created["createQuickTradingSession"]["session"]["id"]
            return await _do(w.boss, RUN_SESSION_ENGINE, {"s": session})
        opened = await sessions.open_session(client, w.boss)
        position = opened.position["id"]
        if field == "closeSessionPosition":
            return await _do(client, CLOSE_SESSION_POSITION, {"p": position})
        if field == "closeTrade":
            return await _do(client, CLOSE_SESSION_TRADE, {"t": opened.trade["id"]})
        issued = await client.query(sessions.SIGNATURE, {"p": position})
        typed = json.loads(issued["closePositionSignature"]["typedData"])
        return await _do(client, CLOSE_SESSION_SIGNED, {"p": position, "s": sessions.sign_typed(key, typed)})


ADVANCED_SESSION = _mutation("createAdvancedTradingSession", "(input: $i)", "$i: CreateAdvancedTradingSessionInput!")


def _advanced(amount: str) -> dict[str, Any]:
    return {"amount": amount, "executionStrategy": "CONSERVATIVE", "strategyDuration": "D1", "assetIndex": 1}


def _inactive_rule(w: World) -> dict[str, Any]:
    # Inactive: the walk's later orders must not meet it.
    return {
        "name": "walk",
        "type": "WASH_TRADE",
        "enforcement": "HARD",
        "scope": "ACCOUNT",
        "venueAccountId": w.account,
        "active": False,
    }


async def _create_rule(w: World) -> dict[str, Any]:
    return await _do(w.boss, CREATE_RULE, {"i": _inactive_rule(w)})


async def _rule_then(w: World, document: str) -> dict[str, Any]:
    body = await w.boss.query(
        "mutation($i: ComplianceRuleInput!) { createComplianceRule(input: $i) { ... on ComplianceRuleChanged { rule { id } } } }",
        {"i": _inactive_rule(w)},
    )
    rule = body["createComplianceRule"]["rule"]["id"]
    variables: dict[str, Any] = {"id": rule}
    if "$i" in document:
        variables["i"] = _inactive_rule(w)
    return await _do(w.boss, document, variables)


async def _violation_then(w: World, client: GraphQLClient, document: str, extra: dict[str, Any]) -> dict[str, Any]:
    row = await ComplianceViolation.create(
        rule_name="walk",
        type=RuleType.WASH_TRADE,
        severity=ViolationSeverity.LOW,
        user_id=from_global_id(w.trader.user_id)[1],
        description="walk",
        recommendation="walk",
        published=True,
    )
    return await _do(client, document, {"id": to_global_id("ComplianceViolation", row.id), **extra})


async def _unarmed(w: World, document: str) -> dict[str, Any]:
    fresh = await register(w.api)
    async with as_user(w.api.base_url, fresh) as client:
        return await _do(client, document)


async def _wrong_password(w: World) -> dict[str, Any]:
    # From an address of its own (new each run: counters outlive a run in Redis), so no earlier failed
    # login can have rate-limited it.
    address = "10.{}.{}.{}".format(*uuid.uuid4().bytes[:3])
    async with GraphQLClient(w.api.base_url, headers={"X-Forwarded-For": address}) as elsewhere:
        return await _do(
            elsewhere,
            _mutation("login", "(input: $i)", "$i: LoginInput!"),
            {"i": {"email": w.trader.email, "password": "not the password 1"}},
        )


async def _refresh(w: World) -> dict[str, Any]:
    token = (await _login(w, w.trader.email, w.trader.password))["data"]["login"]["refreshToken"]
    return await _do(w.api, "mutation($t: String!) { refreshToken(refreshToken: $t) { tokenType } }", {"t": token})


async def _logout(w: World) -> dict[str, Any]:
    fresh = await register(w.api)
    async with as_user(w.api.base_url, fresh) as client:
        return await _do(client, "mutation { logout }")


async def _change_password(w: World) -> dict[str, Any]:
    fresh = await register(w.api)
    async with as_user(w.api.base_url, fresh) as client:
        return await _do(
            client,
            _mutation("changePassword", "(input: $i)", "$i: ChangePasswordInput!"),
            {"i": {"currentPassword": fresh.password, "newPassword": "another horse 43 battery"}},
        )


async def _revoke(w: World) -> dict[str, Any]:
    session = await _second_session(w)
    return await _do(w.client, _mutation("revokeSession", f'(id: "{session}")'))


async def _suspend(w: World) -> dict[str, Any]:
    victim = await _new_user(w)
    return await _do(w.boss, _mutation("suspendUser", f'(input: {{id: "{victim}", reason: "walk"}})'))


async def _approve(w: World) -> dict[str, Any]:
    victim = await _new_user(w)
    suspended = await _do(w.boss, _mutation("suspendUser", f'(input: {{id: "{victim}", reason: "walk"}})'))
    assert suspended["data"]["suspendUser"]["__typename"] == "UserUpdated", suspended
    return await _do(w.boss, _mutation("approveUser", f'(id: "{victim}")'))


async def _set_role(w: World) -> dict[str, Any]:
    victim = await _new_user(w)
    return await _do(w.boss, _mutation("setUserRole", f'(input: {{id: "{victim}", role: VIEWER}})'))


async def _delete(w: World) -> dict[str, Any]:
    victim = await _new_user(w)
    return await _do(w.boss, _mutation("deleteUser", f'(id: "{victim}")'))


async def _disconnect_fresh(w: World) -> dict[str, Any]:
    account = await paper_account(w.client)
    return await _do(w.client, _mutation("disconnectVenue", f'(id: "{account}")'))


async def _cancel_resting(w: World) -> dict[str, Any]:
    order = await _resting_order(w)
    return await _do(w.client, _mutation("cancelOrder", f'(id: "{order}")'))


async def _close_one(w: World) -> dict[str, Any]:
    position = await _position(w)
    return await _do(w.client, _mutation("closePosition", f'(id: "{position}")'))


async def _leverage(w: World, leverage: int) -> dict[str, Any]:
    account = await paper_account(w.client, venue="hyperliquid")
    variables = {"i": {"venueAccountId": account, "assetIndex": 0, "leverage": leverage}}
    return await _do(w.client, _mutation("updateLeverage", "(input: $i)", "$i: UpdateLeverageInput!"), variables)


async def _send_usdc(w: World, recipient: GraphQLClient) -> dict[str, Any]:
    to = (await recipient.query("{ me { id } }"))["me"]["id"]
    return await _do(
        w.client, _mutation("sendUsdc", "(input: $i)", "$i: SendUsdcInput!"), {"i": {"to": to, "amount": "1"}}
    )


async def _claim_after_a_referred_fill(w: World) -> dict[str, Any]:
    code = (await w.client.query("{ referralInfo { code } }"))["referralInfo"]["code"]
    referred = await register(w.api, referral_code=code)
    async with as_user(w.api.base_url, referred) as client:
        await placed(client, await paper_account(client), symbol="BTC", quantity="0.001")
    return await _do(w.client, _mutation("claimReward", ""))


async def _rows_of(run: Run, w: World) -> list[tuple[str, str]]:
    """(action, outcome) of every audit row written while ``run`` ran."""
    last = await AuditEntry.all().order_by("-id").first()
    await run(w)
    since = last.id if last is not None else 0
    return [(r.action, r.outcome) for r in await AuditEntry.filter(id__gt=since).order_by("id")]


def test_every_mutation_has_an_audit_case() -> None:
    mutation_type = build_schema()._schema.mutation_type
    assert mutation_type is not None
    assert set(mutation_type.fields) == set(CASES), "every Mutation field needs an audit case"


async def test_every_mutation_writes_its_audit_row_on_success_and_refusal(
    api: GraphQLClient, admin: Account, trader: Account
) -> None:
    wallet = EthAccount.create()
    async with as_user(api.base_url, admin) as boss, as_user(api.base_url, trader) as client:
        world = World(api=api, boss=boss, trader=trader, client=client, account=await paper_account(client))
        world.wallet = wallet
        first = await _wallet_verify(world, wallet, wallet)  # the wallet's account, created once
        assert first["data"]["walletVerify"]["__typename"] == "AuthPayload", first
        missing: list[str] = []
        for field, (action, succeed, success_outcome, refuse, refusal_outcome) in CASES.items():
            rows = await _rows_of(succeed, world)
            if (action, success_outcome) not in rows:
                missing.append(f"{field} success: wanted {(action, success_outcome)}, wrote {rows}")
            if refuse is not None:
                rows = await _rows_of(refuse, world)
                if (action, refusal_outcome) not in rows:
                    missing.append(f"{field} refusal: wanted {(action, refusal_outcome)}, wrote {rows}")
        assert missing == []
