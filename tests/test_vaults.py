"""Vaults (PAMM / LP): share accounting through deposits at a changing NAV, the performance fee over the
high-water mark (and not below it), withdrawals, the invariant after each step, racing deposits and
withdrawals, refusals named by field, and permissions.

The vault's equity is moved two ways, each said where it is used: a real round trip on the paper venue in the
vault's account (placed by its manager through placeOrder), and - where a test needs an exact profit or loss -
a ledger posting made by the test itself straight into the database (REALIZED_PNL against system:trading,
under the account lock, with the ledger's own posting helper), standing for a trade's realized result.
Every expected figure is computed here from the amounts and the rules stated in services/vaults.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from graphql_api.client import GraphQLClient
from graphql_api.engine.ledger import SYSTEM_TRADING, Postings
from graphql_api.engine.matching import lock_account
from graphql_api.pagination import from_global_id
from models.audit import AuditEntry
from models.funds import EntryKind, LedgerEntry
from models.vaults import Vault, VaultPosition
from models.venues import Balance, VenueAccount

from .accounts import Account, as_user, error_code, register
from .support import wait_until
from .trading import cash, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

D = Decimal
CENT = D("0.01")
SHARE = D("0.00000001")

VAULT_FIELDS = """
  id name description managerUserId managerBotId venueAccountId venue minimumDeposit
  feeTerms { performanceFeeRate feePeriod lastCrystallizedAt nextCrystallizationAt }
  equity cash freeCash sharesOutstanding navPerShare depositorsCount highWaterMark createdAt
"""
POSITION_FIELDS = """
  vaultId vaultName shares navPerShare value costBasis pnl highWaterMark deposited withdrawn feesPaid
"""
CREATE = f"""
mutation($i: CreateVaultInput!) {{ createVault(input: $i) {{
  __typename
  ... on VaultCreated {{ vault {{ {VAULT_FIELDS} }} }}
  ... on UserError {{ message code field }}
}} }}"""
MOVED = f"""
  __typename
  ... on VaultMoved {{ shares amount feeShares navPerShare vault {{ {VAULT_FIELDS} }} position {{ {POSITION_FIELDS} }} }}
  ... on InsufficientFunds {{ message code field required available }}
  ... on UserError {{ message code field }}
"""
DEPOSIT = (
    "mutation($v: ID!, $a: ID!, $amount: Decimal!) { depositToVault(vaultId: $v, venueAccountId: $a, amount: $amount)"
    " { " + MOVED + " } }"
)
WITHDRAW = (
    "mutation($v: ID!, $s: Decimal!, $a: ID) { withdrawFromVault(vaultId: $v, shares: $s, venueAccountId: $a) { "
    + MOVED
    + " } }"
)
CRYSTALLIZE = f"""
mutation($v: ID!) {{ crystallizeVaultFees(vaultId: $v) {{
  __typename
  ... on VaultFeesCrystallized {{ navPerShare feeShares positionsCharged vault {{ {VAULT_FIELDS} }} }}
  ... on UserError {{ message code field }}
}} }}"""
VAULT = f"query($id: ID!) {{ vault(id: $id) {{ {VAULT_FIELDS} equityHistory(last: 5) {{ at equity }} }} }}"
MINE = f"{{ myVaultPositions {{ {POSITION_FIELDS} }} }}"
LP = """{ lpTotals { deposits withdrawals currentValue income
  vaults { vaultId vaultName deposits withdrawals currentValue income } } }"""


def floor_shares(value: Decimal) -> Decimal:
    return value.quantize(SHARE, rounding=ROUND_DOWN)


def floor_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


@pytest.fixture
async def boss(api: GraphQLClient, admin: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, admin) as client:
        yield client


def _name() -> str:
    return f"vault {uuid.uuid4().hex[:10]}"


async def create_vault(boss: GraphQLClient, **fields: Any) -> dict[str, Any]:
    spec = {"name": _name(), "performanceFeeRate": "0.2", "feePeriod": "MONTHLY", "minimumDeposit": "10", **fields}
    result: dict[str, Any] = (await boss.query(CREATE, {"i": spec}))["createVault"]
    assert result["__typename"] == "VaultCreated", result
    vault: dict[str, Any] = result["vault"]
    return vault


async def deposit(client: GraphQLClient, vault: str, account: str, amount: str | Decimal) -> dict[str, Any]:
    body = await client.query(DEPOSIT, {"v": vault, "a": account, "amount": str(amount)})
    result: dict[str, Any] = body["depositToVault"]
    return result


async def withdraw(
    client: GraphQLClient, vault: str, shares: str | Decimal, account: str | None = None
) -> dict[str, Any]:
    body = await client.query(WITHDRAW, {"v": vault, "s": str(shares), "a": account})
    result: dict[str, Any] = body["withdrawFromVault"]
    return result


async def read_vault(client: GraphQLClient, vault: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.query(VAULT, {"id": vault}))["vault"]
    return found


def pk(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def trading_result(account_global_id: str, amount: Decimal) -> None:
    """A realized trading profit (or loss) posted to the vault account: one ledger posting, REALIZED_PNL against
    system:trading, under the account lock, by the ledger's own helper."""
    account_id = pk(account_global_id)
    async with in_transaction() as conn:
        account = await lock_account(conn, account_id)
        balance = await Balance.get(account_id=account_id, asset=account.quote_asset, using_db=conn)
        postings = Postings(conn)
        await postings.move(balance, account.user_id, EntryKind.REALIZED_PNL, amount, SYSTEM_TRADING, test=True)
        await postings.flush()
        await balance.save(using_db=conn)


async def shares_of(vault_global_id: str) -> dict[str, Decimal]:
    """Every holder's shares, straight from the table (user id: shares)."""
    rows = await VaultPosition.filter(vault_id=pk(vault_global_id)).values_list("user_id", "shares")
    return {str(user): shares for user, shares in rows}


async def invariant(client: GraphQLClient, vault_id: str) -> dict[str, Any]:
    """Σ holder shares = shares outstanding exactly, and Σ shares × NAV per share = equity to the cent."""
    seen = await read_vault(client, vault_id)
    holders = await shares_of(vault_id)
    outstanding = D(seen["sharesOutstanding"])
    assert sum(holders.values(), D(0)) == outstanding
    row = await Vault.get(id=pk(vault_id))
    assert row.shares_outstanding == outstanding
    total = sum((s * D(seen["navPerShare"]) for s in holders.values()), D(0))
    assert abs(total - D(seen["equity"])) < D("0.005"), (total, seen["equity"])
    return seen


def user_pk(account: Account) -> str:
    return pk(account.user_id)


async def test_share_accounting_through_deposits_profits_fees_and_withdrawals(
    api: GraphQLClient, boss: GraphQLClient, admin: Account
) -> None:
    vault = await create_vault(boss, performanceFeeRate="0.2")
    v, vault_account = vault["id"], vault["venueAccountId"]
    assert (D(vault["navPerShare"]), D(vault["sharesOutstanding"]), vault["depositorsCount"]) == (D(1), D(0), 0)
    assert vault["managerUserId"] == admin.user_id and vault["managerBotId"] is None
    people = [await register(api) for _ in range(3)]
    a, b, c = (as_user(api.base_url, p) for p in people)
    async with a, b, c:
        acc_a, acc_b, acc_c = [await paper_account(x, "5000") for x in (a, b, c)]

        # First deposit: 1 share per quote unit.
        first = await deposit(a, v, acc_a, "1000")
        assert first["__typename"] == "VaultMoved", first
        assert (D(first["shares"]), D(first["navPerShare"])) == (D(1000), D(1))
        assert D((await cash(a, acc_a))["total"]) == D(4000)
        await invariant(a, v)

        # A realized profit of 500: NAV per share 1.5; B's 300 buys 200 shares.
        await trading_result(vault_account, D(500))
        second = await deposit(b, v, acc_b, "300")
        assert (D(second["shares"]), D(second["navPerShare"])) == (D(200), D("1.5"))
        assert D(second["position"]["highWaterMark"]) == D("1.5")
        seen = await invariant(b, v)
        assert (D(seen["equity"]), D(seen["sharesOutstanding"])) == (D(1800), D(1200))

        # A loss of 600: NAV per share 1.0; C's 100 buys 100 shares.
        await trading_result(vault_account, D(-600))
        third = await deposit(c, v, acc_c, "100")
        assert (D(third["shares"]), D(third["navPerShare"])) == (D(100), D(1))
        await invariant(c, v)

        # At NAV 1.0 nobody is above their high-water mark (A at 1.0, B at 1.5, C at 1.0): no fee.
        none = (await boss.query(CRYSTALLIZE, {"v": v}))["crystallizeVaultFees"]
        assert (none["__typename"], D(none["feeShares"]), none["positionsCharged"]) == ("VaultFeesCrystallized", 0, 0)
        assert await shares_of(v) == {user_pk(people[0]): 1000, user_pk(people[1]): 200, user_pk(people[2]): 100}

        # A profit of 1300: equity 2600 on 1300 shares, NAV 2.0. The fee is 20% of each gain above the HWM,
        # paid in shares at 2.0: A (1.0 → 2.0 on 1000) 200 = 100 shares, B (1.5 → 2.0 on 200) 20 = 10 shares,
        # C (1.0 → 2.0 on 100) 20 = 10 shares; the manager receives 120.
        await trading_result(vault_account, D(1300))
        fee = (await boss.query(CRYSTALLIZE, {"v": v}))["crystallizeVaultFees"]
        assert (D(fee["navPerShare"]), D(fee["feeShares"]), fee["positionsCharged"]) == (D(2), D(120), 3)
        assert await shares_of(v) == {
            user_pk(people[0]): 900,
            user_pk(people[1]): 190,
            user_pk(people[2]): 90,
            user_pk(admin): 120,
        }
        seen = await invariant(boss, v)
        assert (D(seen["equity"]), D(seen["sharesOutstanding"]), seen["depositorsCount"]) == (D(2600), D(1300), 4)
        assert D(seen["highWaterMark"]) == D(0)  # the manager's own shares carry no HWM and pay no fee

        # Again at once: every HWM is now 2.0, so nothing is above it.
        again = (await boss.query(CRYSTALLIZE, {"v": v}))["crystallizeVaultFees"]
        assert (D(again["feeShares"]), again["positionsCharged"]) == (D(0), 0)

        # A loss back to NAV 1.0 (equity 1300), then a profit to NAV 1.5 (equity 1950): still below the HWM of 2.0,
        # so A's withdrawal of 300 shares pays no fee: 300 × 1.5 = 450.
        await trading_result(vault_account, D(-1300))
        below = (await boss.query(CRYSTALLIZE, {"v": v}))["crystallizeVaultFees"]
        assert (D(below["feeShares"]), below["positionsCharged"]) == (D(0), 0)
        await trading_result(vault_account, D(650))
        out = await withdraw(a, v, "300")
        assert out["__typename"] == "VaultMoved", out
        assert (D(out["shares"]), D(out["amount"]), D(out["feeShares"])) == (D(300), D(450), D(0))
        assert D((await cash(a, acc_a))["total"]) == D(4000) + 450
        # A's cost basis: 1000 for 900 shares, 600 of them left.
        assert D(out["position"]["costBasis"]) == (D(1000) * 600 / 900).quantize(D("0.000000000001"))
        seen = await invariant(a, v)
        assert (D(seen["equity"]), D(seen["sharesOutstanding"])) == (D(1500), D(1000))

        # A profit of 1000: equity 2500 on 1000 shares, NAV 2.5. B withdraws all 190: the fee on the gain above
        # the HWM of 2.0 is 20% × 0.5 × 190 = 19, i.e. 7.6 shares; 182.4 shares are burned and pay 456.
        await trading_result(vault_account, D(1000))
        b_out = await withdraw(b, v, "190")
        assert (D(b_out["shares"]), D(b_out["amount"]), D(b_out["feeShares"])) == (D("182.4"), D(456), D("7.6"))
        assert (D(b_out["position"]["shares"]), D(b_out["position"]["costBasis"])) == (D(0), D(0))
        assert D(b_out["position"]["feesPaid"]) == D(20) + D(19)  # at the crystallisation, then now
        assert D((await cash(b, acc_b))["total"]) == D(5000) - 300 + 456
        seen = await invariant(b, v)
        assert (D(seen["equity"]), D(seen["sharesOutstanding"])) == (D(2044), D("817.6"))
        assert (await shares_of(v))[user_pk(admin)] == D("127.6")

        # An odd profit makes the NAV per share a repeating decimal: shares round down to 8 places, the payout
        # down to the cent, and what rounding leaves stays in the vault.
        await trading_result(vault_account, D("1.23"))
        equity, outstanding = D(2044) + D("1.23"), D("817.6")
        odd = await deposit(c, v, acc_c, "10")
        expected = floor_shares(D(10) * outstanding / equity)
        assert D(odd["shares"]) == expected
        equity, outstanding = equity + 10, outstanding + expected
        await invariant(c, v)
        c_shares = D(90) + expected
        # C's HWM: 90 shares at 2.0 and the new ones at the NAV paid (share-weighted); C gains above it, so a
        # fee in shares goes first; the payout is the rest at NAV, rounded down to the cent.
        nav = (equity / outstanding).quantize(D("0.000000000001"), rounding=ROUND_DOWN)
        hwm = ((D(90) * 2 + expected * D(odd["navPerShare"])) / c_shares).quantize(D("0.000000000001"))
        assert D(odd["position"]["highWaterMark"]) == hwm
        c_fee = floor_shares((nav - hwm) * c_shares * D("0.2") / nav)
        c_out = await withdraw(c, v, str(c_shares))
        payout = floor_cents((c_shares - c_fee) * equity / outstanding)
        assert (D(c_out["feeShares"]), D(c_out["amount"])) == (c_fee, payout)
        equity, outstanding = equity - payout, outstanding - (c_shares - c_fee)
        seen = await invariant(c, v)
        assert (D(seen["equity"]), D(seen["sharesOutstanding"])) == (equity, outstanding)

        # Reads: A's holding and LP totals, at the NAV now (value rounded down to the cent).
        mine = (await a.query(MINE))["myVaultPositions"]
        (row,) = [p for p in mine if p["vaultId"] == v]
        value = floor_cents(D(600) * equity / outstanding)
        assert (D(row["shares"]), D(row["value"])) == (D(600), value)
        assert D(row["pnl"]) == value - D(row["costBasis"])
        lp = (await a.query(LP))["lpTotals"]
        (mine_lp,) = [x for x in lp["vaults"] if x["vaultId"] == v]
        assert (D(mine_lp["deposits"]), D(mine_lp["withdrawals"]), D(mine_lp["currentValue"])) == (
            D(1000),
            D(450),
            value,
        )
        assert D(mine_lp["income"]) == value + 450 - 1000
        assert D(lp["income"]) == sum((D(x["income"]) for x in lp["vaults"]), D(0))

    # The vault's cash is the sum of its ledger rows; every vault transfer is one zero-sum transaction.
    rows = await LedgerEntry.filter(ledger_account=f"va:{pk(vault_account)}").values_list("amount", "txn_id", "kind")
    assert sum((r[0] for r in rows), D(0)) == (await Balance.get(account_id=pk(vault_account))).total
    for _, txn, kind in rows:
        if kind in (EntryKind.TRANSFER_IN, EntryKind.TRANSFER_OUT):
            legs = await LedgerEntry.filter(txn_id=txn).values_list("amount", flat=True)
            assert len(legs) == 2 and sum(legs, D(0)) == 0


async def test_a_real_round_trip_in_the_vault_account_moves_the_nav(api: GraphQLClient, boss: GraphQLClient) -> None:
    """The manager (the admin who made the vault) buys and sells BTC in the vault's account on the paper venue;
    the vault's equity afterwards is its cash, computed here from the fills."""
    vault = await create_vault(boss, performanceFeeRate="0")
    v, vault_account = vault["id"], vault["venueAccountId"]
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        account = await paper_account(client, "50000")
        await deposit(client, v, account, "20000")
        buy = await placed(boss, vault_account, symbol="BTC", side="BUY", quantity="0.1")
        # While the position is open, the equity is cash plus BTC at the mark, and the invariant holds.
        held = await invariant(client, v)
        assert D(held["cash"]) == D(20000) - D(buy["averagePrice"]) * D("0.1") - D(buy["fees"])
        sell = await placed(boss, vault_account, symbol="BTC", side="SELL", quantity="0.1")
        equity = D(20000)
        for order, sign in ((buy, -1), (sell, 1)):
            for fill in order["fills"]:
                equity += sign * D(fill["price"]) * D(fill["quantity"]) - D(fill["fee"])
        seen = await invariant(client, v)
        assert (D(seen["equity"]), D(seen["cash"])) == (equity, equity)
        assert D(seen["navPerShare"]) == (equity / 20000).quantize(D("0.000000000001"), rounding=ROUND_DOWN)
        more = await deposit(client, v, account, "1000")
        assert D(more["shares"]) == floor_shares(D(1000) * 20000 / equity)
        await invariant(client, v)


async def test_withdrawals_wait_for_free_cash_and_racing_ones_never_overdraw(
    api: GraphQLClient, boss: GraphQLClient
) -> None:
    vault = await create_vault(boss, performanceFeeRate="0.1", minimumDeposit="0")
    v, vault_account = vault["id"], vault["venueAccountId"]
    people = [await register(api) for _ in range(8)]
    clients = [as_user(api.base_url, p) for p in people]
    try:
        accounts = [await paper_account(c, "1000") for c in clients]
        # Racing deposits from eight users at NAV 1: each gets exactly its amount in shares.
        results = await asyncio.gather(*(deposit(c, v, a, "100") for c, a in zip(clients, accounts, strict=True)))
        assert [D(r["shares"]) for r in results] == [D(100)] * 8
        await invariant(clients[0], v)
        # The manager's resting buy reserves most of the vault's cash: withdrawals can take only what is free.
        resting = await placed(
            boss, vault_account, symbol="BTC", type="LIMIT", side="BUY", quantity="0.5", price="1000"
        )
        free = D((await read_vault(clients[0], v))["freeCash"])
        assert free == D((await cash(boss, vault_account))["available"])
        fits = int(free // 100)
        assert 0 < fits < 8
        before = await shares_of(v)
        outs = await asyncio.gather(*(withdraw(c, v, "100") for c in clients))
        kinds = sorted(o["__typename"] if o["__typename"] == "VaultMoved" else o["code"] for o in outs)
        assert kinds == ["VAULT_CASH_SHORT"] * (8 - fits) + ["VaultMoved"] * fits
        refused = [o for o in outs if o["__typename"] != "VaultMoved"]
        assert {(o["__typename"], o["field"]) for o in refused} == {("InsufficientFunds", "shares")}
        seen = await invariant(clients[0], v)
        assert D(seen["cash"]) == D(800) - 100 * fits
        assert D(seen["freeCash"]) == free - 100 * fits >= 0
        # A refused withdrawal left its position as it was.
        after = await shares_of(v)
        assert sum(1 for u, s in after.items() if s == before[u]) == 8 - fits
        # The order cancelled, racing deposits and withdrawals mixed, while a realized profit lands: the
        # invariant holds and every account's cash is what its own movements say.
        await boss.query("mutation($id: ID!) { cancelOrder(id: $id) { __typename } }", {"id": resting["id"]})
        holders = [i for i, o in enumerate(outs) if o["__typename"] != "VaultMoved"]
        jobs: list[Any] = []
        for i in holders:
            jobs.append(withdraw(clients[i], v, "10"))
            jobs.append(deposit(clients[i], v, accounts[i], "50"))
        jobs.append(trading_result(vault_account, D("77.77")))
        mixed = await asyncio.gather(*jobs)
        assert {r["__typename"] for r in mixed if r is not None} == {"VaultMoved"}
        await invariant(clients[0], v)
        for i in holders:
            (mine,) = [p for p in (await clients[i].query(MINE))["myVaultPositions"] if p["vaultId"] == v]
            total = D((await cash(clients[i], accounts[i]))["total"])
            assert total == D(1000) - D(mine["deposited"]) + D(mine["withdrawn"])
    finally:
        for c in clients:
            await c.http.aclose()


async def test_refusals_are_named_and_leave_nothing_behind(api: GraphQLClient, boss: GraphQLClient) -> None:
    for field, bad in (
        ("name", {"name": " "}),
        ("performanceFeeRate", {"performanceFeeRate": "0.51"}),
        ("performanceFeeRate", {"performanceFeeRate": "-0.1"}),
        ("minimumDeposit", {"minimumDeposit": "-1"}),
        ("venueId", {"venueId": "hyperliquid"}),
        ("venueId", {"venueId": "nowhere"}),
        ("managerBotId", {"managerBotId": "Qm90OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA"}),
    ):
        spec = {"name": _name(), "performanceFeeRate": "0.1", "feePeriod": "YEARLY", "minimumDeposit": "0", **bad}
        result = (await boss.query(CREATE, {"i": spec}))["createVault"]
        assert result["field"] == f"input.{field}", (field, result)
    taken = await create_vault(boss)
    again = (
        await boss.query(
            CREATE,
            {"i": {"name": taken["name"], "performanceFeeRate": "0", "feePeriod": "MONTHLY", "minimumDeposit": "0"}},
        )
    )["createVault"]
    assert (again["__typename"], again["field"]) == ("Conflict", "input.name")

    v = (await create_vault(boss, minimumDeposit="50"))["id"]
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        account = await paper_account(client, "100")
        before = await cash(client, account)
        for amount, code, field in (
            ("0", "INVALID_INPUT", "amount"),
            ("20", "BELOW_MINIMUM", "amount"),
            ("50.0000001", "INVALID_INPUT", "amount"),
            ("150", "INSUFFICIENT_FUNDS", "amount"),
        ):
            refused = await deposit(client, v, account, amount)
            assert (refused["code"], refused["field"]) == (code, field), refused
        assert await cash(client, account) == before
        assert await shares_of(v) == {}
        # Someone else's account, and the vault's own account, are not deposit sources.
        other = await register(api)
        async with as_user(api.base_url, other) as them:
            theirs = await paper_account(them, "1000")
        refused = await deposit(client, v, theirs, "60")
        assert (refused["__typename"], refused["field"]) == ("NotFound", "venueAccountId")
        vault_account = (await read_vault(client, v))["venueAccountId"]
        refused = await deposit(boss, v, vault_account, "60")
        assert (refused["code"], refused["field"]) == ("INVALID_INPUT", "venueAccountId")
        # Withdrawals: nothing held, then too many shares, bad share counts.
        assert (await withdraw(client, v, "1"))["field"] == "vaultId"
        assert (await deposit(client, v, account, "60"))["__typename"] == "VaultMoved"
        for shares, code in (("61", "INSUFFICIENT_SHARES"), ("0", "INVALID_INPUT"), ("0.000000001", "INVALID_INPUT")):
            refused = await withdraw(client, v, shares)
            assert (refused["code"], refused["field"]) == (code, "shares")
        assert (await shares_of(v)) == {user_pk(person): D(60)}
        missing = await deposit(client, "VmF1bHQ6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw", account, "60")
        assert (missing["__typename"], missing["field"]) == ("NotFound", "vaultId")


async def test_permissions_admins_create_traders_deposit_viewers_read(
    api: GraphQLClient, boss: GraphQLClient, trader: Account
) -> None:
    vault = await create_vault(boss)
    async with as_user(api.base_url, trader) as client:
        spec = {"name": _name(), "performanceFeeRate": "0", "feePeriod": "MONTHLY", "minimumDeposit": "0"}
        assert error_code(await client.execute(CREATE, {"i": spec})) == "FORBIDDEN"
        assert error_code(await client.execute(CRYSTALLIZE, {"v": vault["id"]})) == "FORBIDDEN"
        assert (await read_vault(client, vault["id"]))["name"] == vault["name"]
    viewer = await register(api)
    await boss.query(
        "mutation($id: ID!) { setUserRole(input: {id: $id, role: VIEWER}) { __typename } }", {"id": viewer.user_id}
    )
    async with as_user(api.base_url, viewer) as client:
        page = (await client.query("{ vaults(first: 50) { totalCount edges { node { id } } } }"))["vaults"]
        assert page["totalCount"] >= 1
        assert (await read_vault(client, vault["id"]))["id"] == vault["id"]
        assert (await client.query(MINE))["myVaultPositions"] == []
        body = await client.execute(DEPOSIT, {"v": vault["id"], "a": vault["venueAccountId"], "amount": "10"})
        assert error_code(body) == "FORBIDDEN"
    assert error_code(await api.execute("{ vaults { totalCount } }")) == "UNAUTHENTICATED"
    rows = await AuditEntry.filter(action="vault.create", target_id=pk(vault["id"])).values_list("outcome", flat=True)
    assert list(rows) == ["SUCCESS"]


async def test_a_bot_takes_its_vault_over(api: GraphQLClient, boss: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        own = await paper_account(client, "1000")
        strategy = (
            await client.query(
                "mutation($i: StrategyInput!) { createStrategy(input: $i) { ... on StrategyChanged { strategy { id } } } }",
                {"i": {"name": "vault bot", "type": "GRID"}},
            )
        )["createStrategy"]["strategy"]["id"]
        bot_input = {
            "name": "vault manager",
            "strategyId": strategy,
            "venueAccountId": own,
            "allocatedCapital": "100",
            "configuration": {"maxPositionSize": "10", "riskPerTrade": "1", "allowedPairs": ["BTC"], "interval": "1d"},
        }
        bot = (
            await client.query(
                "mutation($i: CreateBotInput!) { createBot(input: $i) { ... on BotChanged { bot { id } } } }",
                {"i": bot_input},
            )
        )["createBot"]["bot"]["id"]
        await client.query("mutation($id: ID!) { startBot(id: $id) { __typename } }", {"id": bot})
        running = (
            await boss.query(
                CREATE,
                {
                    "i": {
                        "name": _name(),
                        "managerBotId": bot,
                        "performanceFeeRate": "0.1",
                        "feePeriod": "QUARTERLY",
                        "minimumDeposit": "0",
                    }
                },
            )
        )["createVault"]
        assert (running["__typename"], running["field"]) == ("Conflict", "input.managerBotId")
        await client.query("mutation($id: ID!) { stopBot(id: $id) { __typename } }", {"id": bot})
        vault = await create_vault(boss, managerBotId=bot, feePeriod="QUARTERLY")
        assert (vault["managerBotId"], vault["managerUserId"], vault["venue"]) == (bot, trader.user_id, "binance")
        moved = (await client.query("query($id: ID!) { bot(id: $id) { venueAccountId } }", {"id": bot}))["bot"]
        assert moved["venueAccountId"] == vault["venueAccountId"]
        row = await VenueAccount.get(id=pk(vault["venueAccountId"]))
        assert str(row.user_id) == user_pk(trader) and row.starting_balance == 0
        # The quarter's end is when its fee crystallises next.
        assert vault["feeTerms"]["nextCrystallizationAt"][5:10] in ("01-01", "04-01", "07-01", "10-01")
        twice = (
            await boss.query(
                CREATE,
                {
                    "i": {
                        "name": _name(),
                        "managerBotId": bot,
                        "performanceFeeRate": "0",
                        "feePeriod": "YEARLY",
                        "minimumDeposit": "0",
                    }
                },
            )
        )["createVault"]
        assert (twice["__typename"], twice["field"]) == ("Conflict", "input.managerBotId")


async def test_the_fee_crystallises_by_itself_when_its_period_ends(
    api: GraphQLClient, boss: GraphQLClient, admin: Account
) -> None:
    """The feed leader crystallises every vault whose period ended. The test ends the period by moving the
    vault's scheduled crystallisation into the past, straight in the table; the rest is the running server."""
    vault = await create_vault(boss, performanceFeeRate="0.25", feePeriod="MONTHLY")
    v, vault_account = vault["id"], vault["venueAccountId"]
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        await deposit(client, v, await paper_account(client, "1000"), "400")
        # Profit 100: NAV 1.25; the fee is 25% of 0.25 × 400 = 25, i.e. 20 shares at 1.25.
        await trading_result(vault_account, D(100))
        await Vault.filter(id=pk(v)).update(next_crystallization_at=datetime.now(UTC) - timedelta(seconds=1))

        async def crystallized() -> bool:
            return (await read_vault(client, v))["feeTerms"]["lastCrystallizedAt"] is not None

        await wait_until(crystallized, timeout=30, interval=0.2)
        assert await shares_of(v) == {user_pk(person): D(380), user_pk(admin): D(20)}
        seen = await invariant(client, v)
        assert D(seen["highWaterMark"]) == D("1.25")
        # The next one is at the start of next month (UTC).
        now = datetime.now(UTC)
        following = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
        assert datetime.fromisoformat(seen["feeTerms"]["nextCrystallizationAt"]) == following
    rows = await AuditEntry.filter(action="vault.crystallize", target_id=pk(v)).values_list("actor_label", "outcome")
    assert list(rows) == [("system", "SUCCESS")]


async def test_deposits_from_a_perp_account_take_only_its_withdrawable_and_equity_is_recorded(
    api: GraphQLClient, boss: GraphQLClient
) -> None:
    vault = await create_vault(boss, performanceFeeRate="0", minimumDeposit="0")
    v = vault["id"]
    person = await register(api)
    async with as_user(api.base_url, person) as client:
        perp = await paper_account(client, "3000", venue="hyperliquid")
        await placed(client, perp, symbol="ETH", side="BUY", quantity="1")  # holds initial margin
        state = await client.query("query($a: ID!) { perpAccount(venueAccountId: $a) { withdrawable } }", {"a": perp})
        free = D(state["perpAccount"]["withdrawable"])
        assert free < D(3000)
        refused = await deposit(client, v, perp, "3000")
        assert (refused["__typename"], refused["field"]) == ("InsufficientFunds", "amount")
        assert D(refused["required"]) == D(3000) and D(refused["available"]) < D(3000)
        done = await deposit(client, v, perp, "500")
        assert (D(done["shares"]), D(done["position"]["deposited"])) == (D(500), D(500))
        # The perp account's ledger shows the transfer out, and its cash is the sum of its rows.
        kinds = await LedgerEntry.filter(account_id=pk(perp)).values_list("kind", "amount")
        assert (EntryKind.TRANSFER_OUT, D(-500)) in [(EntryKind(k), a) for k, a in kinds]
        assert sum((a for _, a in kinds), D(0)) == (await Balance.get(account_id=pk(perp))).total

        # The vault's equity is snapshotted with every paper account's: the history reaches 500.
        async def recorded() -> bool:
            points = (await read_vault(client, v))["equityHistory"]
            return bool(points) and D(points[-1]["equity"]) == D(500)

        await wait_until(recorded, timeout=30, interval=0.2)
