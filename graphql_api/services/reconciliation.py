"""T+0 reconciliation: compare a venue account's books (fills, orders, positions, cash) with the venue's own
records — the paper venue's execution journal (``engine/journal.py``) or an uploaded drop copy — and list
every difference as a typed break with what the books say (expected) and what the venue says (actual).

The rules, per run (all under the account lock, so the books cannot move while they are read):
- Trades executed at or before ``asOf`` are matched by execution id (the fill's id is the venue's ExecID):
  a fill the venue lacks is MISSING_AT_VENUE, a venue execution without a fill is MISSING_IN_BOOKS, a
  matched pair whose quantity or price differs is QUANTITY_MISMATCH / PRICE_MISMATCH (one break each).
- An order's filled quantity against the sum of the venue's executions of it: QUANTITY_MISMATCH (order).
- Cash: the books' balance of the quote asset against the venue's cash (starting balance + the cash effect
  of every venue execution + every other venue cash movement): CASH_MISMATCH.
- Spot positions: the books' quantity per symbol against the venue's net executed quantity:
  POSITION_MISMATCH. (Perp positions also move by liquidations, which the venue journals as cash only.)
Cash and positions are the current state, so they are compared with every venue record, not only those
before ``asOf``. Settlement is T+0: a trade with no break settles on its trade date (the drop copy's
SettlDate when it gives one): SETTLED once that date is reached at ``asOf``, PENDING before, FAILED when
the trade has a break.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.orders import Fill, Order, Side
from models.positions import Position
from models.reconciliation import (
    BreakStatus,
    BreakType,
    DropCopy,
    DropCopyExecution,
    DropCopyFormat,
    ReconciledTrade,
    Reconciliation,
    ReconciliationBreak,
    RecordSource,
    Settlement,
    VenueCashMovement,
    VenueExecution,
)
from models.venues import Balance, Venue, VenueAccount, VenueType

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.journal import spot_cash_effect
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE
from ..ownership import Actor, may_see, require_owned
from ..rejections import Invalid, Missing

ZERO = Decimal(0)
MAX_DROP_COPY_ROWS = 10_000
_PLACES = Decimal("1e-12")


@dataclass(frozen=True)
class Trade:
    """One execution as one side records it."""

    exec_id: str
    order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    executed_at: datetime
    settlement_date: date


@dataclass
class Found:
    """A break before it is written."""

    type: BreakType
    description: str
    exec_id: str | None = None
    order_id: str | None = None
    symbol: str | None = None
    expected: Decimal | None = None
    actual: Decimal | None = None


def default_source(venue: Venue) -> RecordSource:
    """Tokenized venues report by drop copy; the paper venue keeps its journal."""
    return RecordSource.DROP_COPY if venue.type == VenueType.TOKENIZED else RecordSource.JOURNAL


async def _account(actor: Actor, account_id: str) -> VenueAccount:
    """The caller's venue account (admins: any), as the one owner rule reads it."""
    return await require_owned(VenueAccount, account_id, actor, field="venueAccountId", what="venue account", act=False)


# -- reading both sides --------------------------------------------------------------------------------------


async def _books_trades(conn: BaseDBAsyncClient, account_id: str, as_of: datetime) -> list[Trade]:
    fills = await Fill.filter(account_id=account_id, created_at__lte=as_of).using_db(conn).order_by("id")
    return [
        Trade(str(f.id), str(f.order_id), f.symbol, f.side, f.price, f.quantity, f.created_at, f.created_at.date())
        for f in fills
    ]


async def _venue_rows(conn: BaseDBAsyncClient, account_id: str, source: RecordSource) -> list[Any]:
    model: Any = VenueExecution if source == RecordSource.JOURNAL else DropCopyExecution
    rows: list[Any] = await model.filter(account_id=account_id).using_db(conn).order_by("executed_at", "id")
    return rows


def _venue_trade(row: Any) -> Trade:
    settles = getattr(row, "settlement_date", None) or row.executed_at.date()
    return Trade(row.exec_id, row.order_id, row.symbol, row.side, row.price, row.quantity, row.executed_at, settles)


async def _venue_cash(conn: BaseDBAsyncClient, account: VenueAccount, rows: list[Any], source: RecordSource) -> Decimal:
    cash = account.starting_balance + sum((r.cash_delta for r in rows), ZERO)
    if source == RecordSource.JOURNAL:
        moved = await VenueCashMovement.filter(account_id=account.id).using_db(conn).values_list("amount", flat=True)
        cash += sum((Decimal(m) for m in moved), ZERO)
    return cash


# -- comparing ---------------------------------------------------------------------------------------------


def compare_trades(books: list[Trade], venue: list[Trade]) -> list[Found]:
    """Trade-level breaks, matched by execution id."""
    at_venue = {t.exec_id: t for t in venue}
    in_books = {t.exec_id: t for t in books}
    found: list[Found] = []
    for mine in books:
        theirs = at_venue.get(mine.exec_id)
        where: dict[str, Any] = {"exec_id": mine.exec_id, "order_id": mine.order_id, "symbol": mine.symbol}
        if theirs is None:
            found.append(
                Found(
                    BreakType.MISSING_AT_VENUE,
                    f"fill {mine.exec_id} ({mine.side.value} {mine.quantity} {mine.symbol} @ {mine.price}) is not "
                    "in the venue records",
                    expected=mine.quantity,
                    **where,
                )
            )
            continue
        if theirs.quantity != mine.quantity:
            found.append(
                Found(
                    BreakType.QUANTITY_MISMATCH,
                    f"execution {mine.exec_id}: the books have quantity {mine.quantity}, the venue {theirs.quantity}",
                    expected=mine.quantity,
                    actual=theirs.quantity,
                    **where,
                )
            )
        if theirs.price != mine.price:
            found.append(
                Found(
                    BreakType.PRICE_MISMATCH,
                    f"execution {mine.exec_id}: the books have price {mine.price}, the venue {theirs.price}",
                    expected=mine.price,
                    actual=theirs.price,
                    **where,
                )
            )
    for theirs in venue:
        if theirs.exec_id not in in_books:
            found.append(
                Found(
                    BreakType.MISSING_IN_BOOKS,
                    f"venue execution {theirs.exec_id} ({theirs.side.value} {theirs.quantity} {theirs.symbol} @ "
                    f"{theirs.price}) has no fill in the books",
                    exec_id=theirs.exec_id,
                    order_id=theirs.order_id,
                    symbol=theirs.symbol,
                    actual=theirs.quantity,
                )
            )
    return found


async def _order_breaks(conn: BaseDBAsyncClient, account_id: str, as_of: datetime, venue: list[Trade]) -> list[Found]:
    executed: dict[str, Decimal] = defaultdict(Decimal)
    for t in venue:
        if t.order_id is not None:
            executed[t.order_id] += t.quantity
    orders = await (
        Order.filter(account_id=account_id, created_at__lte=as_of)
        .using_db(conn)
        .values_list("id", "symbol", "filled_quantity")
    )
    found = []
    for order_id, symbol, filled in orders:
        venue_filled = executed.get(str(order_id), ZERO)
        if venue_filled != filled:
            found.append(
                Found(
                    BreakType.QUANTITY_MISMATCH,
                    f"order {order_id}: the books have {filled} filled, the venue executed {venue_filled}",
                    order_id=str(order_id),
                    symbol=symbol,
                    expected=filled,
                    actual=venue_filled,
                )
            )
    return found


async def _position_breaks(conn: BaseDBAsyncClient, account_id: str, venue: list[Trade]) -> list[Found]:
    net: dict[str, Decimal] = defaultdict(Decimal)
    for t in venue:
        net[t.symbol] += t.quantity if t.side == Side.BUY else -t.quantity
    held = dict(await Position.filter(account_id=account_id).using_db(conn).values_list("symbol", "quantity"))
    found = []
    for symbol in sorted(set(net) | set(held)):
        books, theirs = held.get(symbol, ZERO), net.get(symbol, ZERO)
        if books != theirs:
            found.append(
                Found(
                    BreakType.POSITION_MISMATCH,
                    f"{symbol}: the books hold {books}, the venue's executions net to {theirs}",
                    symbol=symbol,
                    expected=books,
                    actual=theirs,
                )
            )
    return found


def _settlement(trade: Trade, broken: set[str], as_of: datetime) -> Settlement:
    if trade.exec_id in broken:
        return Settlement.FAILED
    return Settlement.SETTLED if trade.settlement_date <= as_of.date() else Settlement.PENDING


def _trades(books: list[Trade], venue: list[Trade]) -> list[Trade]:
    """Every trade of the run once: the books' version settling when the venue says, or the venue's for one
    the books lack."""
    at_venue = {t.exec_id: t for t in venue}
    seen = {t.exec_id for t in books}
    mine = [
        replace(t, settlement_date=at_venue[t.exec_id].settlement_date) if t.exec_id in at_venue else t for t in books
    ]
    return mine + [t for t in venue if t.exec_id not in seen]


# -- the run -----------------------------------------------------------------------------------------------


@dataclass
class Ran:
    run: Reconciliation
    breaks: list[ReconciliationBreak]


async def run(actor: Actor, account_id: str, as_of: datetime | None, source: RecordSource | None) -> Ran:
    """Reconcile one venue account as of a time (default now), writing the run, its trades and its breaks."""
    action = Action.RECONCILIATION_RUN
    async with audit.refusals(actor, action, target_type="VenueAccount", target_id=account_id):
        now = utcnow()
        as_of = as_of or now
        if as_of.tzinfo is None:
            raise Invalid("asOf must carry a time zone (UTC)", field="asOf")
        if as_of > now:
            raise Invalid("asOf may not be in the future", field="asOf")
        account = await _account(actor, account_id)
        venue = await Venue.get(id=account.venue_id)
        source = source or default_source(venue)
        async with in_transaction() as conn:
            await lock_account(conn, str(account.id))
            rows = await _venue_rows(conn, str(account.id), source)
            venue_all = [_venue_trade(r) for r in rows]
            venue_trades = [t for t in venue_all if t.executed_at <= as_of]
            books = await _books_trades(conn, str(account.id), as_of)
            found = compare_trades(books, venue_trades)
            found += await _order_breaks(conn, str(account.id), as_of, venue_all)
            books_cash = await Balance.filter(account_id=account.id, asset=account.quote_asset).using_db(conn).first()
            mine = books_cash.total if books_cash is not None else ZERO
            theirs = await _venue_cash(conn, account, rows, source)
            if mine != theirs:
                found.append(
                    Found(
                        BreakType.CASH_MISMATCH,
                        f"{account.quote_asset}: the books hold {mine}, the venue {theirs}",
                        symbol=account.quote_asset,
                        expected=mine,
                        actual=theirs,
                    )
                )
            if account.venue_id != PERP_VENUE:
                found += await _position_breaks(conn, str(account.id), venue_all)
            trades = _trades(books, venue_trades)
            broken = {f.exec_id for f in found if f.exec_id is not None}
            recon = await Reconciliation.create(
                account_id=account.id,
                user_id=account.user_id,
                source=source,
                as_of=as_of,
                trades_compared=len(trades),
                trades_matched=sum(1 for t in trades if t.exec_id not in broken),
                breaks=len(found),
                books_cash=mine,
                venue_cash=theirs,
                run_by=actor.user.id,
                using_db=conn,
            )
            await _write(conn, recon, account, trades, found, broken, as_of)
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="Reconciliation",
                target_id=recon.id,
                detail={"source": source.value, "breaks": len(found), "account": str(account.id)},
                conn=conn,
            )
        return Ran(recon, await ReconciliationBreak.filter(reconciliation_id=recon.id).order_by("created_at", "id"))


async def _write(
    conn: BaseDBAsyncClient,
    recon: Reconciliation,
    account: VenueAccount,
    trades: list[Trade],
    found: list[Found],
    broken: set[str],
    as_of: datetime,
) -> None:
    await ReconciledTrade.bulk_create(
        [
            ReconciledTrade(
                reconciliation_id=recon.id,
                exec_id=t.exec_id,
                order_id=t.order_id,
                symbol=t.symbol,
                side=t.side,
                quantity=t.quantity,
                price=t.price,
                executed_at=t.executed_at,
                settlement_date=t.settlement_date,
                settlement=_settlement(t, broken, as_of),
            )
            for t in trades
        ],
        using_db=conn,
    )
    await ReconciliationBreak.bulk_create(
        [
            ReconciliationBreak(
                reconciliation_id=recon.id,
                account_id=account.id,
                user_id=account.user_id,
                type=f.type,
                exec_id=f.exec_id,
                order_id=f.order_id,
                symbol=f.symbol,
                expected=f.expected,
                actual=f.actual,
                description=f.description,
            )
            for f in found
        ],
        using_db=conn,
    )


async def resolve_break(actor: Actor, break_id: str, note: str) -> ReconciliationBreak:
    """OPEN → RESOLVED with a note, by the account's owner or an admin."""
    action = Action.RECONCILIATION_RESOLVE_BREAK
    async with audit.refusals(actor, action, target_type="ReconciliationBreak", target_id=break_id):
        note = note.strip()
        if not 1 <= len(note) <= 2000:
            raise Invalid("note must be 1 to 2000 characters", field="note")
        async with in_transaction() as conn:
            row = await ReconciliationBreak.filter(id=break_id).using_db(conn).select_for_update().first()
            if row is None or not may_see(actor, row.user_id):
                raise Missing("no such reconciliation break", field="id")
            if row.status == BreakStatus.RESOLVED:
                raise Invalid("the break is already RESOLVED", code="INVALID_TRANSITION", field="id")
            row.status, row.resolved_at, row.resolved_by = BreakStatus.RESOLVED, utcnow(), actor.user.id
            row.resolution_note = note
            await row.save(using_db=conn)
            await audit.by(
                actor, action, Outcome.SUCCESS, target_type="ReconciliationBreak", target_id=row.id, conn=conn
            )
        return row


# -- drop copies -------------------------------------------------------------------------------------------

# FIX execution-report fields of a drop-copy row (tag numbers in the README); the others are optional.
REQUIRED = ("ExecID", "Symbol", "Side", "LastQty", "LastPx", "TransactTime")
OPTIONAL = ("OrderID", "ClOrdID", "Commission", "SettlDate")
_SIDES = {"BUY": Side.BUY, "1": Side.BUY, "SELL": Side.SELL, "2": Side.SELL}


def _rows(fmt: DropCopyFormat, content: str) -> list[dict[str, Any]]:
    """The rows of the document, each a mapping of column to raw value."""
    if fmt == DropCopyFormat.CSV:
        reader = csv.DictReader(io.StringIO(content))
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise Invalid(f"the header lacks the column {missing[0]}", field=f"content[0].{missing[0]}")
        return list(reader)
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"content is not JSON: {error}", field="content") from None
    if not isinstance(data, list):
        raise Invalid("content must be a JSON array of execution reports", field="content")
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise Invalid(f"row {number} is not an object", field=f"content[{number}]")
    return data


def _text(row: dict[str, Any], number: int, column: str, *, required: bool, limit: int = 64) -> str | None:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f"row {number}: {column} is required", field=f"content[{number}].{column}")
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise Invalid(f"row {number}: {column} is longer than {limit} characters", field=f"content[{number}].{column}")
    return text


def _decimal(row: dict[str, Any], number: int, column: str, *, positive: bool) -> Decimal:
    raw = _text(row, number, column, required=positive)
    where = f"content[{number}].{column}"
    if raw is None:
        return ZERO
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Invalid(f"row {number}: {column} is not a decimal number", field=where) from None
    if not value.is_finite() or (value <= 0 if positive else value < 0):
        raise Invalid(f"row {number}: {column} must be {'positive' if positive else 'zero or more'}", field=where)
    if value != value.quantize(_PLACES):
        raise Invalid(f"row {number}: {column} has more than 12 decimal places", field=where)
    return value


def _time(row: dict[str, Any], number: int) -> datetime:
    raw = _text(row, number, "TransactTime", required=True)
    assert raw is not None
    where = f"content[{number}].TransactTime"
    for layout in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):  # FIX UTCTimestamp
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"row {number}: TransactTime is not a UTC timestamp", field=where) from None
    if moment.tzinfo is None:
        raise Invalid(f"row {number}: TransactTime must carry a time zone", field=where)
    return moment.astimezone(UTC)


def _settle_date(row: dict[str, Any], number: int, executed: datetime) -> date:
    raw = _text(row, number, "SettlDate", required=False)
    if raw is None:
        return executed.date()  # T+0
    for layout in ("%Y%m%d", "%Y-%m-%d"):
        try:
            settles = datetime.strptime(raw, layout).date()
            break
        except ValueError:
            pass
    else:
        raise Invalid(f"row {number}: SettlDate is not a date (YYYYMMDD)", field=f"content[{number}].SettlDate")
    if settles < executed.date():
        raise Invalid(f"row {number}: SettlDate is before the trade date", field=f"content[{number}].SettlDate")
    return settles


def parse_drop_copy(fmt: DropCopyFormat, content: str) -> list[dict[str, Any]]:
    """Every row validated, in order; the first bad one is refused naming its row (from 1) and column."""
    rows = _rows(fmt, content)
    if not rows:
        raise Invalid("the drop copy has no execution reports", field="content")
    if len(rows) > MAX_DROP_COPY_ROWS:
        raise Invalid(f"a drop copy may hold at most {MAX_DROP_COPY_ROWS} rows", field="content")
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        exec_id = _text(row, number, "ExecID", required=True)
        assert exec_id is not None
        if exec_id in seen:
            raise Invalid(f"row {number}: ExecID {exec_id} repeats an earlier row", field=f"content[{number}].ExecID")
        seen.add(exec_id)
        side = _SIDES.get((_text(row, number, "Side", required=True) or "").upper())
        if side is None:
            raise Invalid(f"row {number}: Side must be BUY, SELL, 1 or 2", field=f"content[{number}].Side")
        symbol = (_text(row, number, "Symbol", required=True, limit=32) or "").upper()
        quantity = _decimal(row, number, "LastQty", positive=True)
        price = _decimal(row, number, "LastPx", positive=True)
        fee = _decimal(row, number, "Commission", positive=False)
        executed = _time(row, number)
        parsed.append(
            dict(
                exec_id=exec_id,
                order_id=_text(row, number, "OrderID", required=False),
                client_order_id=_text(row, number, "ClOrdID", required=False),
                symbol=symbol,
                side=side,
                price=price,
                quantity=quantity,
                fee=fee,
                cash_delta=spot_cash_effect(side, price, quantity, fee),
                executed_at=executed,
                settlement_date=_settle_date(row, number, executed),
            )
        )
    return parsed


async def upload_drop_copy(actor: Actor, account_id: str, fmt: DropCopyFormat, content: str) -> DropCopy:
    """Store a drop copy's executions as the venue side of the account: all rows or none; an ExecID
    uploaded before is replaced by this upload's row."""
    action = Action.RECONCILIATION_UPLOAD_DROP_COPY
    async with audit.refusals(actor, action, target_type="VenueAccount", target_id=account_id):
        account = await _account(actor, account_id)
        rows = parse_drop_copy(fmt, content)
        async with in_transaction() as conn:
            copy = await DropCopy.create(
                account_id=account.id, user_id=actor.user.id, format=fmt, rows=len(rows), using_db=conn
            )
            await (
                DropCopyExecution.filter(account_id=account.id, exec_id__in=[r["exec_id"] for r in rows])
                .using_db(conn)
                .delete()
            )
            await DropCopyExecution.bulk_create(
                [DropCopyExecution(drop_copy_id=copy.id, account_id=account.id, **r) for r in rows], using_db=conn
            )
            await audit.by(
                actor,
                action,
                Outcome.SUCCESS,
                target_type="DropCopy",
                target_id=copy.id,
                detail={"rows": len(rows), "format": fmt.value, "account": str(account.id)},
                conn=conn,
            )
        return copy


def visible(query: Any, actor: Actor) -> Any:
    """Reconciliation rows the caller may read: their own, every one for admins."""
    return query if actor.is_admin else query.filter(user_id=actor.user.id)
