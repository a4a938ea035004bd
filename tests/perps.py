"""Helpers for perp and funds tests: documents, a perp account, and the account's state through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from graphql_api.client import GraphQLClient

from .trading import paper_account, placed

POSITION_FIELDS = """
  id symbol assetIndex side size entryPrice markPrice oraclePrice positionValue unrealizedPnl leverage maxLeverage
  marginMode initialMargin maintenanceMargin isolatedMargin marginUsed liquidationPrice realizedPnl fees fundingPaid
"""
ACCOUNT = f"""
query($a: ID!) {{ perpAccount(venueAccountId: $a) {{
  cash collateral fundingPaid unrealizedPnl accountValue isolatedMargin crossInitialMargin crossMaintenanceMargin
  crossAccountValue withdrawable positions {{ {POSITION_FIELDS} }}
}} }}"""
LEVERAGE = """
mutation($i: UpdateLeverageInput!) { updateLeverage(input: $i) {
  __typename
  ... on LeverageUpdated { setting { symbol assetIndex leverage maxLeverage marginMode } }
  ... on InsufficientFunds { required available }
  ... on UserError { message code field }
} }"""
TRANSACTIONS = """
query($f: TransactionFilter, $first: Int, $after: String) { myTransactions(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id venueAccountId kind amount balanceAfter transactionId symbol counterpartyUserId createdAt } }
} }"""
FUNDS_RESULT = """{
  __typename
  ... on FundsMoved { venueAccountId amount balance }
  ... on InsufficientFunds { required available }
  ... on UserError { message code field }
}"""
DEPOSIT = "mutation($i: DepositInput!) { deposit(input: $i) " + FUNDS_RESULT + " }"
WITHDRAW = "mutation($i: WithdrawInput!) { withdraw(input: $i) " + FUNDS_RESULT + " }"
SEND = "mutation($i: SendUsdcInput!) { sendUsdc(input: $i) " + FUNDS_RESULT + " }"


async def perp_account(client: GraphQLClient, balance: str = "100000") -> str:
    return await paper_account(client, balance, venue="hyperliquid")


async def state(client: GraphQLClient, account: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.query(ACCOUNT, {"a": account}))["perpAccount"]
    return found


async def set_leverage(client: GraphQLClient, account: str, asset: int, leverage: int, mode: str) -> dict[str, Any]:
    variables = {"i": {"venueAccountId": account, "assetIndex": asset, "leverage": leverage, "marginMode": mode}}
    result: dict[str, Any] = (await client.query(LEVERAGE, variables))["updateLeverage"]
    return result


async def market_order(client: GraphQLClient, account: str, symbol: str, side: str, quantity: str) -> dict[str, Any]:
    return await placed(client, account, symbol=symbol, side=side, quantity=quantity)


async def transactions(client: GraphQLClient, account: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        f = {"venueAccountId": account} if account else None
        page = (await client.query(TRANSACTIONS, {"f": f, "first": 100, "after": after}))["myTransactions"]
        rows += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


def fills_of(order: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, notional, fees) of an order's fills, summed here from the fill rows."""
    quantity = sum((Decimal(f["quantity"]) for f in order["fills"]), Decimal(0))
    notional = sum((Decimal(f["price"]) * Decimal(f["quantity"]) for f in order["fills"]), Decimal(0))
    fees = sum((Decimal(f["fee"]) for f in order["fills"]), Decimal(0))
    return quantity, notional, fees


def d(value: Any) -> Decimal:
    return Decimal(value)
