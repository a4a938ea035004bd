"""The trading session engine and the owner's closes: a pass opens a position from the signal within the
budget at the session's leverage; closeSessionPosition / closeTrade / closePositionByAsset close through
reduce-only market orders; the EIP-712 close signature is checked with eth-account against the linked
wallet, single use. Figures are computed here from the orders' fills."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account as EthAccount

from graphql_api.client import GraphQLClient, GraphQLWSClient
from graphql_api.pagination import to_global_id
from models.audit import AuditEntry

from .accounts import Account, as_user, error_code, register
from .perps import d, perp_account, state
from .sessions import (
    ASSETS,
    CLOSE_ASSET,
    CLOSE_POSITION,
    CLOSE_SIGNED,
    CLOSE_TRADE,
    CURRENT,
    QUICK,
    RUN,
    SIGNATURE,
    TAKER_FEE,
    UPDATES,
    Opened,
    fills,
    logs_of,
    lots,
    moving_signal,
    open_session,
    run_engine,
    sign_typed,
    wallet_user,
)
from .support import LegConfig, ServerHandle, holds_for, migrate, own_database, spawn_servers, wait_until
from .trading import market

pytestmark = pytest.mark.usefixtures("admin")


@pytest.fixture
async def boss(api: GraphQLClient, admin: Account) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, admin) as c:
        yield c


@pytest.fixture
async def client(api: GraphQLClient) -> AsyncIterator[GraphQLClient]:
    async with as_user(api.base_url, await register(api)) as c:
        yield c


# -- the engine's first pass -------------------------------------------------------------------------------


async def test_a_pass_opens_a_position_from_the_signal_within_the_budget(
    client: GraphQLClient, boss: GraphQLClient
) -> None:
    opened = await open_session(client, boss)
    side = {"BUY": "LONG", "SELL": "SHORT"}[opened.signal["action"]]
    assert (opened.trade["side"], opened.position["side"], opened.position["status"]) == (side, side, "OPEN")
    logs = await logs_of(client, opened.session["id"])
    assert [entry["kind"] for entry in logs] == ["SESSION_STARTED", "SIGNAL", "POSITION_OPENED"]
    signal = logs[1]["detail"]
    assert (signal["interval"], signal["action"]) == ("5m", opened.signal["action"])
    assert signal["candleOpenTime"] == opened.signal["candleOpenTime"].replace("Z", "+00:00")
    # Size: the whole budget (one position) at 2x, at the mark the engine logged, net of the taker fee.
    opening = logs[2]["detail"]
    _, _, lot = await market(client, opened.signal["symbol"])
    mark = d(opening["mark"])
    assert d(opened.position["size"]) == lots(Decimal(100) * 2 / (mark * (1 + TAKER_FEE)), lot)
    quantity, notional, fees = await fills(client, opened.position["openOrderId"])
    assert quantity == d(opened.position["size"])
    assert d(opened.position["entryPrice"]) == (notional / quantity).quantize(Decimal("1e-12"))
    assert d(opened.position["fees"]) == fees
    # The account's perp position carries the session's leverage.
    (held,) = (await state(client, opened.account))["positions"]
    assert (held["leverage"], d(held["size"])) == (2, quantity if side == "LONG" else -quantity)
    # Another pass on the same candle has nothing new to decide: nothing is written.
    again = await run_engine(boss, opened.session["id"])
    assert (again["opened"], again["closed"]) == (0, 0)
    assert len(await logs_of(client, opened.session["id"])) == 3


async def test_run_session_engine_once_is_for_admins(client: GraphQLClient, boss: GraphQLClient) -> None:
    body = await client.execute(RUN, {"s": None})
    assert error_code(body) == "FORBIDDEN"
    missing = await run_engine(boss, "VHJhZGluZ1Nlc3Npb246MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw")
    assert (missing["__typename"], missing["field"]) == ("NotFound", "sessionId")


# -- the owner's closes ---------------------------------------------------------------------------------------


async def test_close_session_position_closes_with_a_reduce_only_order_and_the_session_goes_on(
    client: GraphQLClient, boss: GraphQLClient
) -> None:
    opened = await open_session(client, boss)
    closed = (await client.query(CLOSE_POSITION, {"p": opened.position["id"]}))["closeSessionPosition"]
    assert closed["__typename"] == "SessionPositionsClosed", closed
    (lot,) = closed["positions"]
    sign = 1 if lot["side"] == "LONG" else -1
    _, entry_notional, open_fees = await fills(client, lot["openOrderId"])
    quantity, exit_notional, close_fees = await fills(client, lot["closeOrderId"])
    assert (lot["status"], quantity, lot["closeReason"]) == ("CLOSED", d(lot["size"]), "closed by its owner")
    realized = sign * (exit_notional - entry_notional)
    assert d(lot["realizedPnl"]) == realized
    session = closed["session"]
    assert (session["status"], session["openPositions"], session["fills"] >= 2) == ("ACTIVE", 0, True)
    assert (d(session["realizedPnl"]), d(session["fees"])) == (realized, open_fees + close_fees)
    assert d(session["pnl"]) == realized - open_fees - close_fees
    # The closing order reduced the account's position to nothing.
    assert (await state(client, opened.account))["positions"] == []
    rows = await AuditEntry.filter(action="trading_session.close_position", target_type="Order").order_by("-id")
    assert rows and rows[0].target_id == _pk(lot["closeOrderId"]) and rows[0].outcome == "SUCCESS"
    # Closing it again is a conflict, and writes nothing.
    again = (await client.query(CLOSE_POSITION, {"p": opened.position["id"]}))["closeSessionPosition"]
    assert (again["__typename"], again["code"], again["field"]) == ("Conflict", "POSITION_CLOSED", "positionId")


async def test_close_trade_and_close_by_asset_end_the_session(
    api: GraphQLClient, client: GraphQLClient, boss: GraphQLClient
) -> None:
    opened = await open_session(client, boss)
    # Not yours looks like not found.
    async with as_user(api.base_url, await register(api)) as other:
        refused = (await other.query(CLOSE_TRADE, {"t": opened.trade["id"]}))["closeTrade"]
        assert (refused["__typename"], refused["field"]) == ("NotFound", "tradeId")
        refused = (await other.query(CLOSE_POSITION, {"p": opened.position["id"]}))["closeSessionPosition"]
        assert (refused["__typename"], refused["field"]) == ("NotFound", "positionId")
    closed = (await client.query(CLOSE_TRADE, {"t": opened.trade["id"]}))["closeTrade"]
    assert closed["__typename"] == "SessionPositionsClosed", closed
    assert (closed["session"]["status"], closed["session"]["endReason"]) == ("ENDED", "CLOSED_BY_USER")
    assert [p["status"] for p in closed["positions"]] == ["CLOSED"]
    assert (await client.query(CURRENT, {"s": opened.session["id"]}))["currentTrade"] is None
    kinds = [entry["kind"] for entry in await logs_of(client, opened.session["id"])]
    assert kinds[-3:] == ["POSITION_CLOSED", "TRADE_CLOSED", "SESSION_ENDED"]
    again = (await client.query(CLOSE_TRADE, {"t": opened.trade["id"]}))["closeTrade"]
    assert (again["__typename"], again["code"]) == ("Conflict", "TRADE_CLOSED")

    second = await open_session(client, boss)
    asset = ASSETS[second.signal["symbol"]]
    missing = (await client.query(CLOSE_ASSET, {"a": (asset + 1) % 10}))["closePositionByAsset"]
    assert (missing["__typename"], missing["field"]) == ("NotFound", "assetIndex")
    by_asset = (await client.query(CLOSE_ASSET, {"a": asset}))["closePositionByAsset"]
    assert by_asset["__typename"] == "SessionPositionsClosed", by_asset
    assert (by_asset["session"]["status"], by_asset["session"]["endReason"]) == ("ENDED", "CLOSED_BY_USER")
    (lot,) = by_asset["positions"]
    sign = 1 if lot["side"] == "LONG" else -1
    _, entry_notional, open_fees = await fills(client, lot["openOrderId"])
    _, exit_notional, close_fees = await fills(client, lot["closeOrderId"])
    assert d(by_asset["session"]["pnl"]) == sign * (exit_notional - entry_notional) - open_fees - close_fees
    assert (await state(client, second.account))["positions"] == []
    # The asset is free again: a new session on it starts.
    fresh = await client.query(
        QUICK, {"i": {"budget": "10", "profitTarget": "5", "assetIndex": asset, "venueAccountId": second.account}}
    )
    assert fresh["createQuickTradingSession"]["__typename"] == "TradingSessionCreated"


# -- the EIP-712 close signature ------------------------------------------------------------------------------


async def test_close_with_signature_good_forged_replayed_and_superseded(
    api: GraphQLClient, boss: GraphQLClient, server: ServerHandle
) -> None:
    key, token = await wallet_user(api)
    async with as_user(api.base_url, token) as client:
        opened = await open_session(client, boss)
        position = opened.position["id"]
        issued = (await client.query(SIGNATURE, {"p": position}))["closePositionSignature"]
        assert issued["__typename"] == "ClosePositionTypedData", issued
        typed = json.loads(issued["typedData"])
        assert issued["primaryType"] == typed["primaryType"] == "ClosePosition"
        assert issued["domain"] == {"name": "Alura", "version": "1", "chainId": server.settings.siwe_chain_id}
        message = issued["signedMessage"]
        assert (message["positionId"], message["side"], d(message["size"])) == (
            position,
            opened.position["side"],
            d(opened.position["size"]),
        )
        assert typed["message"]["nonce"] == message["nonce"] and len(message["nonce"]) == 66
        assert 0 < message["expiry"] - time.time() <= 300
        assert [t["name"] for t in issued["types"]] == ["EIP712Domain", "ClosePosition"]

        # A signature by another key (forged) is refused, and the position stays open.
        forged = sign_typed(EthAccount.create(), typed)
        refused = (await client.query(CLOSE_SIGNED, {"p": position, "s": forged}))["closePositionWithSignature"]
        assert (refused["__typename"], refused["code"], refused["field"]) == (
            "InvalidSignature",
            "WRONG_SIGNER",
            "signature",
        )
        # So is the wallet's signature of other values (a bigger size than asked).
        tampered = {**typed, "message": {**typed["message"], "size": "1000"}}
        refused = (await client.query(CLOSE_SIGNED, {"p": position, "s": sign_typed(key, tampered)}))[
            "closePositionWithSignature"
        ]
        assert refused["code"] == "WRONG_SIGNER"
        garbage = (await client.query(CLOSE_SIGNED, {"p": position, "s": "0x1234"}))["closePositionWithSignature"]
        assert (garbage["__typename"], garbage["code"]) == ("InvalidSignature", "INVALID_SIGNATURE")

        # A newer request replaces the nonce: the first typed data's signature no longer closes.
        first = sign_typed(key, typed)
        newer = json.loads((await client.query(SIGNATURE, {"p": position}))["closePositionSignature"]["typedData"])
        assert newer["message"]["nonce"] != typed["message"]["nonce"]
        stale = (await client.query(CLOSE_SIGNED, {"p": position, "s": first}))["closePositionWithSignature"]
        assert stale["code"] == "WRONG_SIGNER"
        assert (await client.query(CURRENT, {"s": opened.session["id"]}))["currentTrade"]["positions"][0][
            "status"
        ] == "OPEN"

        good = sign_typed(key, newer)
        closed = (await client.query(CLOSE_SIGNED, {"p": position, "s": good}))["closePositionWithSignature"]
        assert closed["__typename"] == "SessionPositionsClosed", closed
        (lot,) = closed["positions"]
        assert (lot["status"], lot["closeReason"]) == ("CLOSED", "closed by its owner's signature")
        _, entry_notional, _ = await fills(client, lot["openOrderId"])
        _, exit_notional, _ = await fills(client, lot["closeOrderId"])
        sign = 1 if lot["side"] == "LONG" else -1
        assert d(lot["realizedPnl"]) == sign * (exit_notional - entry_notional)

        # Replayed: the nonce was consumed with the close.
        replayed = (await client.query(CLOSE_SIGNED, {"p": position, "s": good}))["closePositionWithSignature"]
        assert (replayed["__typename"], replayed["code"]) == ("InvalidSignature", "NONCE_USED")
        after = (await client.query(SIGNATURE, {"p": position}))["closePositionSignature"]
        assert (after["__typename"], after["code"]) == ("Conflict", "POSITION_CLOSED")
    denied = await AuditEntry.filter(action="trading_session.close_position_with_signature", outcome="DENIED").count()
    assert denied >= 5


async def test_a_user_without_a_wallet_cannot_ask_for_a_close_signature(
    client: GraphQLClient, boss: GraphQLClient
) -> None:
    opened = await open_session(client, boss)
    refused = (await client.query(SIGNATURE, {"p": opened.position["id"]}))["closePositionSignature"]
    assert (refused["__typename"], refused["code"], refused["field"]) == ("InvalidInput", "NO_WALLET", "positionId")


# -- the stream -------------------------------------------------------------------------------------------------


async def test_trading_session_updates_snapshot_then_decisions(
    server: ServerHandle, api: GraphQLClient, boss: GraphQLClient
) -> None:
    trader = await register(api)
    async with as_user(api.base_url, trader) as client:
        account = await perp_account(client, "1000")
        signal = await moving_signal(client)
        inputs = {
            "budget": "100",
            "profitTarget": "500",
            "lossThreshold": "100",
            "assetIndex": ASSETS[signal["symbol"]],
            "venueAccountId": account,
        }
        created = (await client.query(QUICK, {"i": inputs}))["createQuickTradingSession"]["session"]
        ws = GraphQLWSClient(server.ws_url, connection_params={"authorization": f"Bearer {trader.access_token}"})
        async with ws:
            sub = await ws.subscribe(UPDATES)
            snapshot = await sub.next(timeout=10)
            assert snapshot is not None
            first = snapshot["data"]["tradingSessionUpdates"]
            assert (first["sequence"], first["session"]["id"], first["decisions"]) == (1, created["id"], [])
            await run_engine(boss, created["id"])
            update = await sub.next(timeout=10)
            assert update is not None
            changed = update["data"]["tradingSessionUpdates"]
            assert (changed["sequence"], changed["session"]["openPositions"]) == (2, 1)
            assert [x["kind"] for x in changed["decisions"]] == ["SIGNAL", "POSITION_OPENED"]
            await client.query(CLOSE_ASSET, {"a": ASSETS[signal["symbol"]]})
            ended = await sub.next(timeout=10)
            assert ended is not None
            last = ended["data"]["tradingSessionUpdates"]
            assert (last["sequence"], last["session"]["status"]) == (3, "ENDED")
            assert [x["kind"] for x in last["decisions"]] == ["POSITION_CLOSED", "TRADE_CLOSED", "SESSION_ENDED"]


def _pk(global_id: str) -> str:
    from graphql_api.pagination import from_global_id

    return from_global_id(global_id)[1]


# -- the engine's exits, tick by tick ----------------------------------------------------------------------------


async def _walk_to_exit(
    client: GraphQLClient, boss: GraphQLClient, seed: int, profit: str, loss: str
) -> tuple[Opened, str, int, Decimal]:
    """Open a session with this target and threshold; wait for the engine to end it; return it with the exit
    the seeded walk predicts: the first step after the opening fill whose price takes the PnL (computed here
    from the fills) to +profit % or −loss % of the budget of 100."""
    from graphql_api.engine.feed import next_price
    from models.market import Instrument

    opened = await open_session(client, boss, profitTarget=profit, lossThreshold=loss)
    opening = (await logs_of(client, opened.session["id"]))[2]["detail"]
    quantity, entry_notional, open_fees = await fills(client, opened.position["openOrderId"])
    sign = 1 if opened.position["side"] == "LONG" else -1
    target, floor = Decimal(profit), -Decimal(loss)  # percent of 100 USDC: the same number in USDC
    instrument = await Instrument.get(symbol=opened.signal["symbol"])
    start, price = int(opening["step"]), d(opening["oraclePrice"])
    expected: tuple[str, int, Decimal] | None = None
    for at in range(start + 1, start + 3000):
        price = next_price(seed, instrument.symbol, at, price, instrument.tick_size, instrument.volatility)
        pnl = sign * (quantity * price - entry_notional) - open_fees
        if pnl >= target or pnl <= floor:
            expected = ("PROFIT_TARGET" if pnl >= target else "LOSS_THRESHOLD", at, price)
            break
    assert expected is not None, "the walk reaches neither the target nor the threshold within 3000 steps"

    async def ended() -> bool:
        node = (await client.query(SESSION_NODE, {"id": opened.session["id"]}))["node"]
        return bool(node["status"] == "ENDED")

    await wait_until(ended, timeout=60 + (expected[1] - start) * 0.2)
    return opened, *expected


SESSION_NODE = """query($id: ID!) { node(id: $id) { ... on TradingSession {
  status endReason realizedPnl unrealizedPnl fees pnl openPositions
} } }"""


async def _check_exit(client: GraphQLClient, opened: Opened, reason: str, at: int, price: Decimal) -> None:
    session = (await client.query(SESSION_NODE, {"id": opened.session["id"]}))["node"]
    assert (session["status"], session["endReason"], session["openPositions"]) == ("ENDED", reason, 0)
    logs = await logs_of(client, opened.session["id"])
    assert [entry["kind"] for entry in logs] == [
        "SESSION_STARTED",
        "SIGNAL",
        "POSITION_OPENED",
        "POSITION_CLOSED",
        "TRADE_CLOSED",
        "SESSION_ENDED",
    ]
    end = logs[-1]["detail"]
    # Acted on at the first tick that reached it, not one later.
    assert (end["reason"], int(end["step"]), d(end["price"])) == (reason, at, price)
    trade = (await client.query(CURRENT, {"s": opened.session["id"]}))["currentTrade"]
    assert trade is None
    closing = logs[3]["detail"]
    _, entry_notional, open_fees = await fills(client, opened.position["openOrderId"])
    quantity, exit_notional, close_fees = await fills(client, to_global_id("Order", closing["orderId"]))
    assert quantity == d(opened.position["size"])
    sign = 1 if opened.position["side"] == "LONG" else -1
    realized = sign * (exit_notional - entry_notional)
    assert (d(session["realizedPnl"]), d(session["unrealizedPnl"]), d(session["fees"])) == (
        realized,
        0,
        open_fees + close_fees,
    )
    assert d(session["pnl"]) == d(end["pnl"]) == realized - open_fees - close_fees
    assert (await state(client, opened.account))["positions"] == []


async def test_a_session_runs_to_its_profit_target(
    client: GraphQLClient, boss: GraphQLClient, server: ServerHandle
) -> None:
    # A target just above the opening fee and spread, a threshold out of reach.
    opened, reason, at, price = await _walk_to_exit(client, boss, server.settings.feed_seed, "0.05", "100")
    assert reason == "PROFIT_TARGET"
    await _check_exit(client, opened, reason, at, price)


async def test_a_session_runs_to_its_loss_threshold(
    client: GraphQLClient, boss: GraphQLClient, server: ServerHandle
) -> None:
    opened, reason, at, price = await _walk_to_exit(client, boss, server.settings.feed_seed, "500", "0.5")
    assert reason == "LOSS_THRESHOLD"
    await _check_exit(client, opened, reason, at, price)


# -- once per session across the cluster ------------------------------------------------------------------------


@pytest.mark.legs("postgres")
async def test_two_processes_step_each_session_once(leg: LegConfig, tmp_path: Path) -> None:
    """Two API processes, each with a session runner stepping the sessions it leases every second, and admins
    firing runSessionEngineOnce at both at once: every session decides its candle once — one SIGNAL, one
    position, though each may hold three."""
    env = leg.env(
        DATABASE_URL=await own_database(leg, tmp_path, "sessions"),
        BROADCAST_NAMESPACE="test-sessions",
        DATA_DIR=str(tmp_path),
        SESSION_ENGINE_INTERVAL="1",
        SESSION_LEASE_TTL="2",
        SESSION_LEASE_RENEW="0.3",
    )
    migrate(env)
    async with spawn_servers([env, env], tmp_path) as procs:
        for proc in procs:
            await proc.wait_ready()
        async with GraphQLClient(procs[0].url) as anonymous:
            admin = await register(anonymous)  # the database's first user: its admin
            traders = [await register(anonymous) for _ in range(4)]
        session_ids = []
        async with as_user(procs[0].url, traders[0]) as first:
            # Well inside a 5-minute candle: the whole test decides on one candle.
            await wait_until(lambda: 2 <= time.time() % 300 <= 200, timeout=120, interval=0.5)
            signal = await moving_signal(first)
        for trader in traders:
            async with as_user(procs[0].url, trader) as client:
                account = await perp_account(client, "1000")
                inputs = {
                    "budget": "100",
                    "profitTarget": "500",
                    "lossThreshold": "100",
                    "maxPositions": 3,
                    "assetIndex": ASSETS[signal["symbol"]],
                    "venueAccountId": account,
                }
                created = (await client.query(QUICK, {"i": inputs}))["createQuickTradingSession"]
                session_ids.append(created["session"]["id"])
        async with as_user(procs[0].url, admin) as boss0, as_user(procs[1].url, admin) as boss1:
            passes = await asyncio.gather(*(run_engine(boss) for boss in (boss0, boss1) * 3))
        assert {p["__typename"] for p in passes} == {"SessionEnginePass"}

        async def decided(trader: Account, session: str) -> list[str]:
            async with as_user(procs[1].url, trader) as client:
                return [entry["kind"] for entry in await logs_of(client, session)]

        async def all_opened() -> bool:
            kinds = [await decided(t, s) for t, s in zip(traders, session_ids, strict=True)]
            return all("POSITION_OPENED" in k for k in kinds)

        await wait_until(all_opened, timeout=30, interval=0.2)

        async def once_each() -> bool:
            for trader, session in zip(traders, session_ids, strict=True):
                if await decided(trader, session) != ["SESSION_STARTED", "SIGNAL", "POSITION_OPENED"]:
                    return False
            return True

        # And it stays so while both runners keep stepping every second.
        await holds_for(once_each, seconds=3, interval=0.5)
