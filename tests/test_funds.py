"""Funds: deposits with a daily limit, withdrawals, USDC between users, and the ledger that every movement
writes (balances equal the sum of their rows; each transaction's rows sum to zero), under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct

from graphql_api.client import GraphQLClient
from models.funds import LedgerEntry
from models.venues import Balance

from .accounts import Account, as_user, register
from .perps import DEPOSIT, SEND, WITHDRAW, d, fills_of, market_order, perp_account, state, transactions

pytestmark = pytest.mark.usefixtures("admin")


@pytest.fixture
async def client(api: GraphQLClient, trader: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, trader) as c:
        yield c


async def _move(client: GraphQLClient, document: str, **fields: Any) -> dict[str, Any]:
    name = document.split("{", 1)[1].split("(", 1)[0].strip()
    inputs = {k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()}
    result: dict[str, Any] = (await client.query(document, {"i": inputs}))[name]
    return result


async def _ledger_balances_agree() -> None:
    """Straight from the tables: every transaction sums to zero, every account's cash is the sum of its rows."""
    by_txn: dict[str, Decimal] = {}
    by_account: dict[str, Decimal] = {}
    for txn, ledger, amount in await LedgerEntry.all().values_list("txn_id", "ledger_account", "amount"):
        by_txn[str(txn)] = by_txn.get(str(txn), Decimal(0)) + amount
        if ledger.startswith("va:"):
            by_account[ledger[3:]] = by_account.get(ledger[3:], Decimal(0)) + amount
    assert {t: s for t, s in by_txn.items() if s != 0} == {}
    totals = {
        str(a): t for a, t in await Balance.filter(account_id__in=list(by_account)).values_list("account_id", "total")
    }
    assert totals == by_account


async def test_deposit_opens_an_account_and_every_row_is_listed(client: GraphQLClient) -> None:
    first = await _move(client, DEPOSIT, amount="1500.25")
    assert first["__typename"] == "FundsMoved", first
    account = first["venueAccountId"]
    assert d(first["balance"]) == Decimal("1500.25")
    second = await _move(client, DEPOSIT, amount="99.75", venueAccountId=account)
    assert (second["venueAccountId"], d(second["balance"])) == (account, Decimal(1600))
    rows = await transactions(client, account)
    assert [(r["kind"], d(r["amount"]), d(r["balanceAfter"])) for r in rows] == [
        ("DEPOSIT", Decimal("99.75"), Decimal(1600)),
        ("DEPOSIT", Decimal("1500.25"), Decimal("1500.25")),
    ]
    totals = await client.query("{ totalDeposited { totalDeposited depositCount totalWithdrawn netDeposited } }")
    assert totals["totalDeposited"] == {
        "totalDeposited": "1600",
        "depositCount": 2,
        "totalWithdrawn": "0",
        "netDeposited": "1600",
    }
    for bad in ("0", "-5", "1.0000001"):
        refused = await _move(client, DEPOSIT, amount=bad)
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "amount")
    onchain = await _move(client, DEPOSIT, amount="10", txHash="0x" + "ab" * 32)
    assert (onchain["__typename"], onchain["code"]) == ("InvalidInput", "ONCHAIN_UNAVAILABLE")
    await _ledger_balances_agree()


async def test_the_daily_deposit_limit_holds_under_racing_deposits(api: GraphQLClient) -> None:
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        account = (await _move(client, DEPOSIT, amount="10000"))["venueAccountId"]
        # The limit is 100000 a day: 10000 in, so three of eight racing 30000 deposits fit and five do not.
        results = await asyncio.gather(
            *(_move(client, DEPOSIT, amount="30000", venueAccountId=account) for _ in range(8))
        )
        kinds = sorted(r["__typename"] if r["__typename"] == "FundsMoved" else r["code"] for r in results)
        assert kinds == ["DEPOSIT_LIMIT"] * 5 + ["FundsMoved"] * 3
        assert d((await state(client, account))["cash"]) == Decimal(100000)
    await _ledger_balances_agree()


async def test_racing_withdrawals_never_overdraw(client: GraphQLClient) -> None:
    account = (await _move(client, DEPOSIT, amount="1000"))["venueAccountId"]
    results = await asyncio.gather(*(_move(client, WITHDRAW, amount="150", venueAccountId=account) for _ in range(10)))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["FundsMoved"] * 6 + ["InsufficientFunds"] * 4
    assert d((await state(client, account))["cash"]) == Decimal(100)
    rows = await transactions(client, account)
    assert sum((d(r["amount"]) for r in rows), Decimal(0)) == Decimal(100)
    assert sorted(d(r["amount"]) for r in rows if r["kind"] == "WITHDRAWAL") == [Decimal(-150)] * 6
    await _ledger_balances_agree()


async def test_withdrawable_leaves_the_margin_of_open_positions(client: GraphQLClient) -> None:
    account = await perp_account(client, "3000")
    await market_order(client, account, "ETH", "BUY", "1")  # 20x by default: about 171 USDC of margin
    now = await state(client, account)
    free = d(now["withdrawable"])
    (pos,) = now["positions"]
    assert free == min(d(now["cash"]), d(now["accountValue"]) - d(pos["initialMargin"]))
    too_much = await _move(client, WITHDRAW, amount=str(d(now["cash"])), venueAccountId=account)
    assert too_much["__typename"] == "InsufficientFunds"


async def test_send_usdc_by_user_id_and_by_wallet_racing_both_ways(api: GraphQLClient, client: GraphQLClient) -> None:
    me = (await _move(client, DEPOSIT, amount="5000"))["venueAccountId"]
    other = await register(api)
    async with as_user(api.base_url, other) as them:
        theirs = (await _move(them, DEPOSIT, amount="5000"))["venueAccountId"]
        # Opposite transfers racing: locks taken in one order, so neither deadlocks, and money is conserved.
        sends = [_move(client, SEND, to=other.user_id, amount="10") for _ in range(6)]
        me_id = (await client.query("{ me { id } }"))["me"]["id"]
        sends += [_move(them, SEND, to=me_id, amount="25") for _ in range(6)]
        results = await asyncio.gather(*sends)
        assert {r["__typename"] for r in results} == {"FundsMoved"}
        assert d((await state(client, me))["cash"]) == Decimal(5000) - 60 + 150
        assert d((await state(them, theirs))["cash"]) == Decimal(5000) + 60 - 150
        incoming = [r for r in await transactions(them, theirs) if r["kind"] == "TRANSFER_IN"]
        assert len(incoming) == 6 and {r["counterpartyUserId"] for r in incoming} == {me_id}
        over = await _move(them, SEND, to=me_id, amount="999999")
        assert over["__typename"] == "InsufficientFunds"
        self_send = await _move(them, SEND, to=other.user_id, amount="1")
        assert (self_send["__typename"], self_send["code"]) == ("InvalidInput", "SELF_TRANSFER")

    wallet = EthAccount.create()
    challenge = await api.query(
        "mutation($a: String!) { walletChallenge(address: $a) { message } }", {"a": wallet.address}
    )
    message = challenge["walletChallenge"]["message"]
    signature = "0x" + EthAccount.sign_message(encode_defunct(text=message), private_key=wallet.key).signature.hex()
    verified = await api.query(
        "mutation($i: WalletVerifyInput!) { walletVerify(input: $i) { __typename } }",
        {"i": {"address": wallet.address, "signature": signature.replace("0x0x", "0x"), "message": message}},
    )
    assert verified["walletVerify"]["__typename"] == "AuthPayload"
    sent = await _move(client, SEND, to=wallet.address.lower(), amount="12.5")
    assert sent["__typename"] == "FundsMoved", sent
    missing = await _move(client, SEND, to="0x" + "12" * 20, amount="1")
    assert (missing["__typename"], missing["code"]) == ("NotFound", "NOT_FOUND")
    await _ledger_balances_agree()


INCOME = """
query($p: IncomePeriod!, $from: DateTime!, $to: DateTime!) {
  income(period: $p) { total { realizedPnl fees funding rewards net } buckets { start end net } }
  incomeCustom(from: $from, to: $to, bucket: DAY) { total { realizedPnl fees funding rewards net } }
}"""


async def test_income_adds_up_realized_pnl_and_fees_of_the_fills(api: GraphQLClient) -> None:
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        account = await perp_account(client, "10000")
        opened = await market_order(client, account, "SOL", "BUY", "10")
        closed = await market_order(client, account, "SOL", "SELL", "10")
        _, bought, open_fees = fills_of(opened)
        _, sold, close_fees = fills_of(closed)
        now = datetime.now(UTC)
        span = {
            "p": "DAY",
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        }
        data = await client.query(INCOME, span)
        expected = {
            "realizedPnl": sold - bought,
            "fees": open_fees + close_fees,
            "funding": Decimal(0),
            "rewards": Decimal(0),
            "net": sold - bought - open_fees - close_fees,
        }
        for report in (data["income"]["total"], data["incomeCustom"]["total"]):
            assert {k: d(v) for k, v in report.items()} == expected
        (today,) = data["income"]["buckets"]
        assert d(today["net"]) == expected["net"]
        assert d((await state(client, account))["cash"]) == Decimal(10000) + expected["net"]
