"""Helpers for trading session tests: documents, a session whose first engine pass opened a position, a
wallet-signed-in trader, EIP-712 signing with eth-account."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct, encode_typed_data

from graphql_api.client import GraphQLClient

from .accounts import AUTH_FIELDS
from .perps import d, perp_account
from .support import wait_until

ASSETS = {"BTC": 0, "ETH": 1, "SOL": 2, "XRP": 3, "DOGE": 4, "AVAX": 5, "LINK": 6, "BNB": 7, "ADA": 8, "ARB": 9}
TAKER_FEE = Decimal("0.001")
SESSION = """id status endReason leverage budget realizedPnl unrealizedPnl fees pnl volume fills openPositions"""
QUICK = f"""
mutation($i: CreateQuickTradingSessionInput!) {{ createQuickTradingSession(input: $i) {{
  __typename ... on TradingSessionCreated {{ session {{ {SESSION} }} }} ... on UserError {{ message code field }}
}} }}"""
RUN = """
mutation($s: ID) { runSessionEngineOnce(sessionId: $s) {
  __typename ... on SessionEnginePass { sessions skipped opened closed ended } ... on UserError { message code field }
} }"""
POSITION = "id side size entryPrice exitPrice status realizedPnl fees openOrderId closeOrderId closeReason"
CURRENT = f"""
query($s: ID) {{ currentTrade(sessionId: $s) {{ id side status positions {{ {POSITION} }} }} }}"""
SESSION_NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on TradingSession {{ {SESSION} }} }} }}"
ORDER = (
    """query($id: ID!) { node(id: $id) { ... on Order { id side quantity status fills { price quantity fee } } } }"""
)
LOGS = """
query($s: ID!) { tradingSessionLogs(sessionId: $s, first: 100) {
  edges { node { kind message tradeId detail { name value } } }
} }"""
CLOSED = f"""{{
  __typename
  ... on SessionPositionsClosed {{ session {{ {SESSION} }} positions {{ {POSITION} }} }}
  ... on UserError {{ message code field }}
}}"""
CLOSE_POSITION = "mutation($p: ID!) { closeSessionPosition(positionId: $p) " + CLOSED + " }"
CLOSE_TRADE = "mutation($t: ID!) { closeTrade(tradeId: $t) " + CLOSED + " }"
CLOSE_ASSET = "mutation($a: Int!) { closePositionByAsset(assetIndex: $a) " + CLOSED + " }"
CLOSE_SIGNED = (
    "mutation($p: ID!, $s: String!) { closePositionWithSignature(positionId: $p, signature: $s) " + CLOSED + " }"
)
SIGNATURE = """
query($p: ID!) { closePositionSignature(positionId: $p) {
  __typename
  ... on ClosePositionTypedData {
    domain { name version chainId } types { name fields { name type } } primaryType
    signedMessage { positionId symbol side size nonce expiry } typedData
  }
  ... on UserError { message code field }
} }"""
SIGNALS = "{ signals(interval: FIVE_MINUTES) { symbol action strength candleOpenTime } }"
UPDATES = f"""subscription {{ tradingSessionUpdates {{
  sequence session {{ {SESSION} }} decisions {{ kind message }}
}} }}"""


@dataclass
class Opened:
    """A session whose first engine pass opened one position."""

    session: dict[str, Any]
    signal: dict[str, Any]
    trade: dict[str, Any]
    position: dict[str, Any]
    account: str


async def fills(client: GraphQLClient, order_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, notional, fees) of an order, summed here from its fill rows."""
    order = (await client.query(ORDER, {"id": order_id}))["node"]
    rows = order["fills"]
    return (
        sum((d(f["quantity"]) for f in rows), Decimal(0)),
        sum((d(f["price"]) * d(f["quantity"]) for f in rows), Decimal(0)),
        sum((d(f["fee"]) for f in rows), Decimal(0)),
    )


async def logs_of(client: GraphQLClient, session: str) -> list[dict[str, Any]]:
    edges = (await client.query(LOGS, {"s": session}))["tradingSessionLogs"]["edges"]
    return [{**e["node"], "detail": {v["name"]: v["value"] for v in e["node"]["detail"]}} for e in reversed(edges)]


async def moving_signal(client: GraphQLClient) -> dict[str, Any]:
    """An instrument whose 5-minute signal is BUY or SELL, read well inside a candle so the engine's pass that
    follows reads the same closed candle."""
    await wait_until(lambda: 2 <= time.time() % 300 <= 270, timeout=40, interval=0.5)
    found = [s for s in (await client.query(SIGNALS))["signals"] if s["action"] != "HOLD"]
    assert found, "every instrument's 5-minute signal is HOLD"
    return dict(found[0])


async def run_engine(boss: GraphQLClient, session: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (await boss.query(RUN, {"s": session}))["runSessionEngineOnce"]
    return found


async def open_session(client: GraphQLClient, boss: GraphQLClient, **fields: Any) -> Opened:
    """A quick session on an instrument with a moving signal, far from its target and threshold, and the
    engine pass that opens its first position."""
    account = await perp_account(client, "1000")
    signal = await moving_signal(client)
    inputs = {
        "budget": "100",
        "profitTarget": "500",
        "lossThreshold": "100",
        "assetIndex": ASSETS[signal["symbol"]],
        "venueAccountId": account,
        **fields,
    }
    created = (await client.query(QUICK, {"i": inputs}))["createQuickTradingSession"]
    assert created["__typename"] == "TradingSessionCreated", created
    session = created["session"]
    ran = await run_engine(boss, session["id"])
    assert ran == {"__typename": "SessionEnginePass", "sessions": 1, "skipped": 0, "opened": 1, "closed": 0, "ended": 0}
    trade = (await client.query(CURRENT, {"s": session["id"]}))["currentTrade"]
    assert trade is not None and len(trade["positions"]) == 1
    return Opened(session, signal, trade, trade["positions"][0], account)


async def wallet_user(api: GraphQLClient) -> tuple[Any, str]:
    """A trader signed in with a fresh eth-account wallet: (key, access token)."""
    key = EthAccount.create()
    challenge = await api.query(
        "mutation($a: String!) { walletChallenge(address: $a) { message } }", {"a": key.address}
    )
    message = challenge["walletChallenge"]["message"]
    signature = "0x" + EthAccount.sign_message(encode_defunct(text=message), key.key).signature.hex().removeprefix("0x")
    verified = await api.query(
        f"mutation($i: WalletVerifyInput!) {{ walletVerify(input: $i) {{ __typename ... on AuthPayload {{ {AUTH_FIELDS} }} }} }}",
        {"i": {"address": key.address, "signature": signature, "message": message}},
    )
    assert verified["walletVerify"]["__typename"] == "AuthPayload", verified
    return key, verified["walletVerify"]["accessToken"]


def sign_typed(key: Any, typed: dict[str, Any]) -> str:
    return "0x" + EthAccount.sign_message(encode_typed_data(full_message=typed), key.key).signature.hex().removeprefix(
        "0x"
    )


def lots(quantity: Decimal, lot: Decimal) -> Decimal:
    return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot
