"""T+0 reconciliation: a clean account reconciles with zero breaks; each break type injected into the books (rows
changed straight in the database) or into a drop copy is reported exactly, with the values worked out here from
what the test changed; drop copies are validated row by row; breaks resolve once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id
from models.orders import Fill, Liquidity, Order
from models.positions import Position
from models.reconciliation import DropCopyExecution
from models.venues import Balance

from .accounts import Account, as_user, register
from .perps import perp_account
from .trading import cash, paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

BREAK_FIELDS = "id type executionId orderId symbol expected actual difference status description"
RUN = f"""mutation($a: ID!, $at: DateTime, $s: ReconciliationSource) {{
  runReconciliation(venueAccountId: $a, asOf: $at, source: $s) {{ __typename
    ... on ReconciliationRan {{
      reconciliation {{ id source clean breakCount tradesCompared tradesMatched booksCash venueCash asOf
        trades(first: 100) {{ totalCount edges {{ node {{ executionId orderId symbol side quantity price
          settlementDate settlement }} }} }} }}
      breaks {{ {BREAK_FIELDS} }} }}
    ... on UserError {{ message code field }} }} }}"""
UPLOAD = """mutation($i: UploadDropCopyInput!) { uploadDropCopy(input: $i) { __typename
  ... on DropCopyUploaded { id rows } ... on UserError { message code field } } }"""
RESOLVE = f"""mutation($id: ID!, $n: String!) {{ resolveBreak(id: $id, note: $n) {{ __typename
  ... on BreakResolved {{ break {{ {BREAK_FIELDS} resolutionNote resolvedAt }} }}
  ... on UserError {{ message code field }} }} }}"""
BREAKS = f"""query($f: ReconciliationBreakFilter) {{ reconciliationBreaks(filter: $f, first: 100) {{
  totalCount edges {{ node {{ {BREAK_FIELDS} }} }} }} }}"""
RUNS = "query($a: ID) { reconciliations(venueAccountId: $a, first: 50) { totalCount edges { node { id clean } } } }"


def pk(global_id: str) -> str:
    return from_global_id(global_id)[1]


async def run(client: GraphQLClient, account: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await client.query(RUN, {"a": account, **variables}))["runReconciliation"]
    return result


async def ran(client: GraphQLClient, account: str, **variables: Any) -> dict[str, Any]:
    result = await run(client, account, **variables)
    assert result["__typename"] == "ReconciliationRan", result
    return result


def found(result: dict[str, Any]) -> set[tuple[Any, ...]]:
    """Each break as (type, execution, order, symbol, expected, actual), numbers as Decimals."""
    return {
        (
            b["type"],
            b["executionId"],
            b["orderId"],
            b["symbol"],
            None if b["expected"] is None else Decimal(b["expected"]),
            None if b["actual"] is None else Decimal(b["actual"]),
        )
        for b in result["breaks"]
    }


async def trade_some(client: GraphQLClient, account: str) -> list[dict[str, Any]]:
    """A buy of BTC, a buy of ETH and a partial sell of the BTC: three orders with fills."""
    return [
        await placed(client, account, symbol="BTC", quantity="0.02"),
        await placed(client, account, symbol="ETH", quantity="0.5"),
        await placed(client, account, symbol="BTC", side="SELL", quantity="0.01"),
    ]


def fill_ids(orders: list[dict[str, Any]]) -> list[str]:
    return [f["id"] for o in orders for f in o["fills"]]


async def test_a_clean_account_reconciles_with_zero_breaks_and_settles_t0(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        orders = await trade_some(client, account)
        await placed(client, account, symbol="BTC", type="LIMIT", quantity="0.01", price="1000")  # rests, no fill
        result = await ran(client, account)
        recon = result["reconciliation"]
        assert result["breaks"] == [] and recon["clean"] is True and recon["breakCount"] == 0
        assert recon["source"] == "JOURNAL"
        ids = fill_ids(orders)
        assert recon["tradesCompared"] == recon["tradesMatched"] == len(ids) == recon["trades"]["totalCount"]
        trades = [e["node"] for e in recon["trades"]["edges"]]
        assert sorted(t["executionId"] for t in trades) == sorted(ids)
        today = datetime.now(UTC).date().isoformat()
        assert {(t["settlement"], t["settlementDate"]) for t in trades} == {("SETTLED", today)}
        balance = await cash(client, account)
        assert Decimal(recon["booksCash"]) == Decimal(recon["venueCash"]) == balance["total"]


async def test_each_break_injected_into_the_books_is_reported_exactly(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        orders = await trade_some(client, account)
        btc_buy, eth_buy, btc_sell = (o["fills"][0] for o in orders)
        account_pk = pk(account)
        # A fill's quantity and another's price are changed; a third fill disappears from the books; a fill the
        # venue never made appears; the cash and the ETH position are edited.
        await Fill.filter(id=int(btc_buy["id"])).update(quantity=Decimal(btc_buy["quantity"]) + Decimal("0.001"))
        await Fill.filter(id=int(eth_buy["id"])).update(price=Decimal(eth_buy["price"]) + Decimal("1"))
        await Fill.filter(id=int(btc_sell["id"])).delete()
        resting = await placed(client, account, symbol="BTC", type="LIMIT", quantity="0.01", price="1000")
        ghost = await Fill.create(
            order_id=pk(resting["id"]),
            account_id=account_pk,
            symbol="BTC",
            side="BUY",
            price=Decimal("1000"),
            quantity=Decimal("0.01"),
            fee=Decimal(0),
            liquidity=Liquidity.MAKER,
        )
        books_cash = (await cash(client, account))["total"]
        await Balance.filter(account_id=account_pk).update(total=books_cash - Decimal("5"))
        eth = await Position.get(account_id=account_pk, symbol="ETH")
        await Position.filter(id=eth.id).update(quantity=eth.quantity + Decimal("0.1"))

        result = await ran(client, account)
        btc_order, eth_order, sell_order = (pk(o["id"]) for o in orders)
        assert found(result) == {
            (
                "QUANTITY_MISMATCH",
                btc_buy["id"],
                btc_order,
                "BTC",
                Decimal(btc_buy["quantity"]) + Decimal("0.001"),
                Decimal(btc_buy["quantity"]),
            ),
            (
                "PRICE_MISMATCH",
                eth_buy["id"],
                eth_order,
                "ETH",
                Decimal(eth_buy["price"]) + 1,
                Decimal(eth_buy["price"]),
            ),
            ("MISSING_IN_BOOKS", btc_sell["id"], sell_order, "BTC", None, Decimal(btc_sell["quantity"])),
            ("MISSING_AT_VENUE", str(ghost.id), pk(resting["id"]), "BTC", Decimal("0.01"), None),
            ("CASH_MISMATCH", None, None, "USDC", books_cash - 5, books_cash),
            ("POSITION_MISMATCH", None, None, "ETH", eth.quantity + Decimal("0.1"), eth.quantity),
        }
        recon = result["reconciliation"]
        assert recon["clean"] is False and recon["breakCount"] == 6
        settlement = {e["node"]["executionId"]: e["node"]["settlement"] for e in recon["trades"]["edges"]}
        failed = {btc_buy["id"], eth_buy["id"], btc_sell["id"], str(ghost.id)}
        assert settlement == {i: "FAILED" if i in failed else "SETTLED" for i in [*fill_ids(orders), str(ghost.id)]}
        by_type = {b["type"]: b for b in result["breaks"]}
        assert Decimal(by_type["CASH_MISMATCH"]["difference"]) == Decimal(5)


async def test_an_order_whose_filled_quantity_was_edited_breaks_on_the_order(
    api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        order = await placed(client, account, symbol="SOL", quantity="2")
        await Order.filter(id=pk(order["id"])).update(filled_quantity=Decimal("1.5"))
        result = await ran(client, account)
        assert found(result) == {("QUANTITY_MISMATCH", None, pk(order["id"]), "SOL", Decimal("1.5"), Decimal("2"))}


async def test_as_of_limits_the_trades_and_may_not_be_in_the_future(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        before = datetime.now(UTC) - timedelta(seconds=1)
        await trade_some(client, account)
        early = await ran(client, account, at=before.isoformat())
        assert early["reconciliation"]["tradesCompared"] == 0 and early["breaks"] == []
        future = await run(client, account, at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
        assert (future["__typename"], future["field"]) == ("InvalidInput", "asOf")


async def test_a_perp_account_reconciles_its_journaled_cash(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await perp_account(client)
        await placed(client, account, symbol="ETH", quantity="1")
        await placed(client, account, symbol="ETH", side="SELL", quantity="1")
        result = await ran(client, account)
        assert result["breaks"] == [] and result["reconciliation"]["tradesCompared"] == 2
        balance = await cash(client, account)
        assert Decimal(result["reconciliation"]["venueCash"]) == balance["total"]
        await Balance.filter(account_id=pk(account)).update(total=balance["total"] + Decimal("0.5"))
        assert found(await ran(client, account)) == {
            ("CASH_MISMATCH", None, None, "USDC", balance["total"] + Decimal("0.5"), balance["total"])
        }


def _csv(rows: list[dict[str, str]]) -> str:
    header = list(rows[0])
    return "\n".join([",".join(header)] + [",".join(r[c] for c in header) for r in rows]) + "\n"


def _reports(orders: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The drop copy a venue would send for these orders: one execution report per fill."""
    return [
        {
            "ExecID": f["id"],
            "OrderID": pk(o["id"]),
            "Symbol": o["symbol"],
            "Side": "1" if o["side"] == "BUY" else "2",
            "LastQty": f["quantity"],
            "LastPx": f["price"],
            "Commission": f["fee"],
            "TransactTime": f["createdAt"],
        }
        for o in orders
        for f in o["fills"]
    ]


async def upload(client: GraphQLClient, account: str, fmt: str, content: str) -> dict[str, Any]:
    result: dict[str, Any] = (
        await client.query(UPLOAD, {"i": {"venueAccountId": account, "format": fmt, "content": content}})
    )["uploadDropCopy"]
    return result


async def test_a_drop_copy_is_the_venue_side_and_its_differences_are_breaks(
    api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        orders = await trade_some(client, account)
        reports = _reports(orders)
        stored = await upload(client, account, "CSV", _csv(reports))
        assert (stored["__typename"], stored["rows"]) == ("DropCopyUploaded", len(reports))
        clean = await ran(client, account, s="DROP_COPY")
        assert clean["breaks"] == [] and clean["reconciliation"]["source"] == "DROP_COPY"

        # The venue corrects one execution's price and reports another to settle tomorrow (JSON this time).
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
        first, second = reports[0], reports[1]
        corrected = {**first, "LastPx": str(Decimal(first["LastPx"]) + Decimal("0.5"))}
        later = {**second, "SettlDate": tomorrow.strftime("%Y%m%d")}
        assert (await upload(client, account, "JSON", orjson.dumps([corrected, later]).decode()))["rows"] == 2
        result = await ran(client, account, s="DROP_COPY")
        # Cash at the venue moves by the corrected notional: a buy of LastQty at 0.5 more costs LastQty × 0.5 more.
        books_cash = (await cash(client, account))["total"]
        venue_cash = books_cash - Decimal(first["LastQty"]) * Decimal("0.5")
        assert found(result) == {
            (
                "PRICE_MISMATCH",
                first["ExecID"],
                first["OrderID"],
                first["Symbol"],
                Decimal(first["LastPx"]),
                Decimal(corrected["LastPx"]),
            ),
            ("CASH_MISMATCH", None, None, "USDC", books_cash, venue_cash),
        }
        settlement = {
            e["node"]["executionId"]: (e["node"]["settlement"], e["node"]["settlementDate"])
            for e in result["reconciliation"]["trades"]["edges"]
        }
        today = datetime.now(UTC).date().isoformat()
        assert settlement[first["ExecID"]] == ("FAILED", today)
        assert settlement[second["ExecID"]] == ("PENDING", tomorrow.isoformat())
        assert settlement[reports[2]["ExecID"]] == ("SETTLED", today)


async def test_a_tokenized_venue_reconciles_by_drop_copy_by_default(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client, "1000", venue="bx-digital")
        report = {
            "ExecID": "BX-1",
            "OrderID": "BX-ORDER-1",
            "ClOrdID": "mine-1",
            "Symbol": "SPXT",
            "Side": "BUY",
            "LastQty": "3",
            "LastPx": "101.25",
            "Commission": "0.15",
            "TransactTime": "20260101-09:30:00.125",
        }
        assert (await upload(client, account, "CSV", _csv([report])))["__typename"] == "DropCopyUploaded"
        result = await ran(client, account)
        # The books never saw the trade: it is missing in them, and the venue's cash is 1000 − 3 × 101.25 − 0.15.
        assert result["reconciliation"]["source"] == "DROP_COPY"
        assert found(result) == {
            ("MISSING_IN_BOOKS", "BX-1", "BX-ORDER-1", "SPXT", None, Decimal(3)),
            ("CASH_MISMATCH", None, None, "USDC", Decimal(1000), Decimal("696.10")),
            ("POSITION_MISMATCH", None, None, "SPXT", Decimal(0), Decimal(3)),
        }


@pytest.mark.parametrize(
    ("fmt", "content", "field"),
    [
        ("CSV", "ExecID,Symbol,Side,LastQty,LastPx\n1,BTC,1,1,1\n", "content[0].TransactTime"),
        (
            "CSV",
            "ExecID,Symbol,Side,LastQty,LastPx,TransactTime\n1,BTC,1,1,1,2026-01-01T00:00:00Z\n"
            "2,BTC,1,abc,1,2026-01-01T00:00:00Z\n",
            "content[2].LastQty",
        ),
        (
            "CSV",
            "ExecID,Symbol,Side,LastQty,LastPx,TransactTime\n1,BTC,1,1,1,2026-01-01T00:00:00Z\n"
            "2,BTC,BUY,1,0,2026-01-01T00:00:00Z\n3,BTC,X,1,1,2026-01-01T00:00:00Z\n",
            "content[2].LastPx",
        ),
        (
            "JSON",
            '[{"ExecID":"1","Symbol":"BTC","Side":"SELL","LastQty":"1","LastPx":"1","TransactTime":"2026-01-01T00:00:00Z"},'
            '{"ExecID":"2","Symbol":"BTC","Side":"SELL","LastQty":"1","LastPx":"1","TransactTime":"2026-01-01T00:00:00Z"},'
            '{"ExecID":"3","Symbol":"BTC","Side":"SELL","LastQty":"1","LastPx":"1"}]',
            "content[3].TransactTime",
        ),
        (
            "JSON",
            '[{"ExecID":"1","Symbol":"BTC","Side":"SELL","LastQty":"1","LastPx":"1","TransactTime":"2026-01-01T00:00:00Z"},'
            '{"ExecID":"1","Symbol":"BTC","Side":"SELL","LastQty":"1","LastPx":"1","TransactTime":"2026-01-01T00:00:00Z"}]',
            "content[2].ExecID",
        ),
        ("JSON", '{"ExecID":"1"}', "content"),
        (
            "CSV",
            "ExecID,Symbol,Side,LastQty,LastPx,TransactTime,SettlDate\n1,BTC,1,1,1,2026-01-02T00:00:00Z,20260101\n",
            "content[1].SettlDate",
        ),
    ],
)
async def test_a_bad_drop_copy_names_its_row_and_column_and_stores_nothing(
    api: GraphQLClient, trader: Account, fmt: str, content: str, field: str
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        result = await upload(client, account, fmt, content)
        assert (result["__typename"], result["field"]) == ("InvalidInput", field), result
        assert await DropCopyExecution.filter(account_id=pk(account)).count() == 0


async def test_breaks_resolve_once_and_only_for_their_owner(
    api: GraphQLClient, trader: Account, admin: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        await placed(client, account, symbol="BTC", quantity="0.01")
        await Balance.filter(account_id=pk(account)).update(total=Decimal("1"))
        result = await ran(client, account)
        (broken,) = result["breaks"]
        other = await register(api)
        async with as_user(api.base_url, other) as stranger:
            refused = (await stranger.query(RESOLVE, {"id": broken["id"], "n": "mine now"}))["resolveBreak"]
            assert refused["__typename"] == "NotFound"
            assert (await stranger.query(BREAKS, {"f": None}))["reconciliationBreaks"]["totalCount"] == 0
            foreign = await run(stranger, account)
            assert (foreign["__typename"], foreign["field"]) == ("NotFound", "venueAccountId")
        empty = (await client.query(RESOLVE, {"id": broken["id"], "n": "  "}))["resolveBreak"]
        assert (empty["__typename"], empty["field"]) == ("InvalidInput", "note")
        done = (await client.query(RESOLVE, {"id": broken["id"], "n": "balance restored by ops"}))["resolveBreak"]
        assert done["__typename"] == "BreakResolved"
        assert (done["break"]["status"], done["break"]["resolutionNote"]) == ("RESOLVED", "balance restored by ops")
        again = (await client.query(RESOLVE, {"id": broken["id"], "n": "again"}))["resolveBreak"]
        assert (again["__typename"], again["code"]) == ("InvalidInput", "INVALID_TRANSITION")
        mine = await client.query(BREAKS, {"f": {"venueAccountId": account, "status": "RESOLVED"}})
        assert [e["node"]["id"] for e in mine["reconciliationBreaks"]["edges"]] == [broken["id"]]
        runs = (await client.query(RUNS, {"a": account}))["reconciliations"]
        assert runs["totalCount"] == 1 and runs["edges"][0]["node"]["clean"] is False
    async with as_user(api.base_url, admin) as boss:
        seen = (await boss.query(BREAKS, {"f": {"venueAccountId": account}}))["reconciliationBreaks"]
        assert seen["totalCount"] == 1
