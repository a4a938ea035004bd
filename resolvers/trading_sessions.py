"""Trading sessions: the Query / Mutation / Subscription fields of Alura's sessions (actions in
graphql_api/services/trading_sessions.py, the engine in graphql_api/engine/trading_sessions.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Context, Info
from graphql_api.events import channel_for, decode
from graphql_api.events.trading_sessions import TradingSessionChanged
from graphql_api.ownership import Actor, load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAdmin, IsAuthenticated, IsTrader
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import trading_sessions as actions
from models import trading_sessions as m
from schema.common import After, Connection, First
from schema.trading_sessions import (
    ClosePositionMessage,
    ClosePositionSignatureResult,
    ClosePositionTypedData,
    CloseSessionResult,
    CreateAdvancedTradingSessionInput,
    CreateQuickTradingSessionInput,
    CreateTradingSessionResult,
    Eip712Domain,
    Eip712Field,
    Eip712Type,
    RunSessionEngineResult,
    SessionEnginePass,
    SessionLogEntry,
    SessionLogValue,
    SessionPosition,
    SessionPositionsClosed,
    SessionTrade,
    TradingSession,
    TradingSessionCreated,
    TradingSessionUpdate,
)

from .node import node_type
from .results import actor, audited, result

SessionArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of a trading session of yours.")]
TradeArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of a session trade of yours.")]
PositionArg = Annotated[
    strawberry.ID, strawberry.argument(description="Global ID of an open position of one of your sessions.")
]


def _gid(kind: str, pk: Any) -> strawberry.ID:
    return strawberry.ID(to_global_id(kind, pk))


def session_view(row: m.TradingSession, stats: actions.Stats) -> TradingSession:
    return TradingSession(
        id=_gid("TradingSession", row.id),
        venue_account_id=_gid("VenueAccount", row.account_id),
        kind=row.kind,
        asset_index=row.asset_index,
        symbol=row.symbol,
        budget=row.budget,
        profit_target=row.profit_target,
        loss_threshold=row.loss_threshold,
        max_positions=row.max_positions,
        execution_strategy=row.execution_strategy,
        strategy_duration=row.strategy_duration,
        max_wallet_budget=row.max_wallet_budget,
        leverage=row.leverage,
        status=row.status,
        end_reason=row.end_reason,
        ends_at=row.ends_at,
        ended_at=row.ended_at,
        created_at=row.created_at,
        realized_pnl=stats.realized_pnl,
        unrealized_pnl=stats.unrealized_pnl,
        fees=stats.fees,
        pnl=stats.pnl,
        pnl_percent=stats.pnl * 100 / row.budget,
        volume=stats.volume,
        fills=stats.fills,
        open_positions=stats.open_positions,
    )


def position_view(lot: m.SessionPosition, asset_index: int) -> SessionPosition:
    return SessionPosition(
        id=_gid("SessionPosition", lot.id),
        session_id=_gid("TradingSession", lot.session_id),
        trade_id=_gid("SessionTrade", lot.trade_id),
        symbol=lot.symbol,
        asset_index=asset_index,
        side=lot.side,
        size=lot.size,
        entry_price=lot.entry_price,
        exit_price=lot.exit_price,
        status=lot.status,
        realized_pnl=lot.realized_pnl,
        fees=lot.open_fees + lot.close_fees,
        open_order_id=_gid("Order", lot.open_order_id),
        close_order_id=_gid("Order", lot.close_order_id) if lot.close_order_id else None,
        close_reason=lot.close_reason,
        opened_at=lot.opened_at,
        closed_at=lot.closed_at,
    )


async def trade_view(trade: m.SessionTrade) -> SessionTrade:
    session = await m.TradingSession.get(id=trade.session_id)
    lots = await m.SessionPosition.filter(trade_id=trade.id).order_by("opened_at", "id")
    return SessionTrade(
        id=_gid("SessionTrade", trade.id),
        session_id=_gid("TradingSession", trade.session_id),
        symbol=trade.symbol,
        side=trade.side,
        status=trade.status,
        close_reason=trade.close_reason,
        opened_at=trade.opened_at,
        closed_at=trade.closed_at,
        positions=[position_view(lot, session.asset_index) for lot in lots],
    )


def log_view(row: m.SessionLog) -> SessionLogEntry:
    return SessionLogEntry(
        id=strawberry.ID(str(row.id)),
        session_id=_gid("TradingSession", row.session_id),
        trade_id=_gid("SessionTrade", row.trade_id) if row.trade_id else None,
        kind=row.kind,
        message=row.message,
        detail=[SessionLogValue(name=k, value=str(v)) for k, v in dict(row.detail).items()],
        created_at=row.created_at,
    )


async def sessions_view(info: Info, rows: list[m.TradingSession]) -> list[TradingSession]:
    stats = await actions.stats_of(info.context, rows)
    return [session_view(r, stats[str(r.id)]) for r in rows]


# -- queries ---------------------------------------------------------------------------------------------


async def active_trading_sessions(info: Info) -> list[TradingSession]:
    rows = await m.TradingSession.filter(user_id=actor(info).user.id, status=m.SessionStatus.ACTIVE).order_by(
        "-created_at", "-id"
    )
    return await sessions_view(info, list(rows))


async def current_trade(
    info: Info,
    session_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this session's trade; default any of yours.")
    ] = None,
) -> SessionTrade | None:
    query = m.SessionTrade.filter(user_id=actor(info).user.id, status=m.LotStatus.OPEN)
    if session_id is not None:
        query = query.filter(session_id=parse_id(session_id, "TradingSession", "sessionId"))
    trade = await query.order_by("-opened_at", "-id").first()
    return await trade_view(trade) if trade is not None else None


async def _log_page(info: Info, query: Any, first: int | None, after: str | None) -> Connection[SessionLogEntry]:
    page = await paginate(
        query, first=first, after=after, cap=info.context.settings.max_page_size, convert=log_view, order=("-id",)
    )
    return Connection.of(page)


async def trading_session_logs(
    info: Info, session_id: SessionArg, first: First = None, after: After = None
) -> Connection[SessionLogEntry]:
    session = await load_owned(m.TradingSession, parse_id(session_id, "TradingSession", "sessionId"), actor(info))
    return await _log_page(info, m.SessionLog.filter(session_id=session.id if session else None), first, after)


async def trade_logs(
    info: Info, trade_id: TradeArg, first: First = None, after: After = None
) -> Connection[SessionLogEntry]:
    trade = await load_owned(m.SessionTrade, parse_id(trade_id, "SessionTrade", "tradeId"), actor(info))
    return await _log_page(info, m.SessionLog.filter(trade_id=trade.id if trade else None), first, after)


@node_type("TradingSession", TradingSession)
async def session_node(info: Info, pk: str) -> TradingSession | None:
    row = await load_owned(m.TradingSession, pk, actor(info))
    return (await sessions_view(info, [row]))[0] if row is not None else None


@node_type("SessionTrade", SessionTrade)
async def trade_node(info: Info, pk: str) -> SessionTrade | None:
    row = await load_owned(m.SessionTrade, pk, actor(info))
    return await trade_view(row) if row is not None else None


# -- mutations -------------------------------------------------------------------------------------------


async def _created(info: Info, row: m.TradingSession) -> TradingSessionCreated:
    return TradingSessionCreated(session=(await sessions_view(info, [row]))[0])


async def create_quick_trading_session(
    info: Info, input: Annotated[CreateQuickTradingSessionInput, strawberry.argument(description="The session.")]
) -> CreateTradingSessionResult:
    spec = actions.QuickSpec(
        budget=input.budget,
        profit_target=input.profit_target,
        asset_index=input.asset_index,
        loss_threshold=input.loss_threshold,
        max_positions=input.max_positions,
        account_id=parse_id(input.venue_account_id, "VenueAccount", "input.venueAccountId")
        if input.venue_account_id
        else None,
    )
    return await _start(info, spec, Action.TRADING_SESSION_CREATE_QUICK)


async def create_advanced_trading_session(
    info: Info, input: Annotated[CreateAdvancedTradingSessionInput, strawberry.argument(description="The session.")]
) -> CreateTradingSessionResult:
    spec = actions.AdvancedSpec(
        amount=input.amount,
        execution_strategy=m.ExecutionStrategy(input.execution_strategy.value),
        strategy_duration=m.StrategyDuration(input.strategy_duration.value),
        asset_index=input.asset_index,
        max_wallet_budget=input.max_wallet_budget,
        account_id=parse_id(input.venue_account_id, "VenueAccount", "input.venueAccountId")
        if input.venue_account_id
        else None,
    )
    return await _start(info, spec, Action.TRADING_SESSION_CREATE_ADVANCED)


async def _start(info: Info, spec: actions.QuickSpec | actions.AdvancedSpec, action: Action) -> Any:
    started = actions.start(info.context, actor(info), spec, action)
    created = await result(started, lambda row: row)
    return await _created(info, created) if isinstance(created, m.TradingSession) else created


async def _closed(info: Info, closed: actions.Closed) -> SessionPositionsClosed:
    await closed.session.refresh_from_db()
    return SessionPositionsClosed(
        session=(await sessions_view(info, [closed.session]))[0],
        positions=[position_view(lot, closed.session.asset_index) for lot in closed.lots],
    )


async def _close(info: Info, action: Any) -> CloseSessionResult:
    found = await result(action, lambda closed: closed)
    return await _closed(info, found) if isinstance(found, actions.Closed) else found


async def close_session_position(info: Info, position_id: PositionArg) -> CloseSessionResult:
    pk = parse_id(position_id, "SessionPosition", "positionId")
    return await _close(info, actions.close_session_position(info.context, actor(info), pk))


async def close_trade(info: Info, trade_id: TradeArg) -> CloseSessionResult:
    pk = parse_id(trade_id, "SessionTrade", "tradeId")
    return await _close(info, actions.close_trade(info.context, actor(info), pk))


async def close_position_by_asset(
    info: Info,
    asset_index: Annotated[int, strawberry.argument(description="Hyperliquid asset index of your active session.")],
) -> CloseSessionResult:
    return await _close(info, actions.close_position_by_asset(info.context, actor(info), asset_index))


async def close_position_with_signature(
    info: Info,
    position_id: PositionArg,
    signature: Annotated[
        str, strawberry.argument(description="0x-hex signature of closePositionSignature's typed data by your wallet.")
    ],
) -> CloseSessionResult:
    pk = parse_id(position_id, "SessionPosition", "positionId")
    return await _close(info, actions.close_position_with_signature(info.context, actor(info), pk, signature))


def typed_data_view(data: dict[str, Any]) -> ClosePositionTypedData:
    domain, message = data["domain"], data["message"]
    return ClosePositionTypedData(
        domain=Eip712Domain(name=domain["name"], version=domain["version"], chain_id=domain["chainId"]),
        types=[
            Eip712Type(name=name, fields=[Eip712Field(name=f["name"], type=f["type"]) for f in members])
            for name, members in data["types"].items()
        ],
        primary_type=data["primaryType"],
        signed_message=ClosePositionMessage(
            position_id=strawberry.ID(message["positionId"]),
            symbol=message["symbol"],
            side=message["side"],
            size=message["size"],
            nonce=message["nonce"],
            expiry=message["expiry"],
        ),
        typed_data=json.dumps(data, separators=(",", ":")),
    )


async def close_position_signature(info: Info, position_id: PositionArg) -> ClosePositionSignatureResult:
    pk = parse_id(position_id, "SessionPosition", "positionId")
    return await result(actions.close_position_signature(info.context, actor(info), pk), typed_data_view)


async def run_session_engine_once(
    info: Info,
    session_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this session (global ID); default all active."),
    ] = None,
) -> RunSessionEngineResult:
    pk = parse_id(session_id, "TradingSession", "sessionId") if session_id is not None else None
    return await result(
        actions.run_engine_once(info.context, actor(info), pk),
        lambda done: SessionEnginePass(
            sessions=done.sessions, skipped=done.skipped, opened=done.opened, closed=done.closed, ended=done.ended
        ),
    )


# -- stream ----------------------------------------------------------------------------------------------------


async def trading_session_updates(info: Info) -> AsyncGenerator[TradingSessionUpdate, None]:
    return _updates(info.context, actor(info))


async def _updates(ctx: Context, viewer: Actor) -> AsyncGenerator[TradingSessionUpdate, None]:
    """A snapshot of the viewer's active sessions, then one update per change with the decisions since."""
    async with ctx.bus.subscribe([channel_for(TradingSessionChanged, viewer.user_id)]) as events:
        sequence = 0
        latest = await m.SessionLog.all().order_by("-id").first()
        start = latest.id if latest is not None else 0
        seen: dict[str, int] = {}
        rows = await m.TradingSession.filter(user_id=viewer.user.id, status=m.SessionStatus.ACTIVE).order_by(
            "created_at", "id"
        )
        for row in rows:
            sequence += 1
            stats = await actions.stats_of(ctx, [row])
            yield TradingSessionUpdate(sequence=sequence, session=session_view(row, stats[str(row.id)]), decisions=[])
        async for delivery in events:
            changed = decode(delivery)
            if not isinstance(changed, TradingSessionChanged):
                continue
            found = await m.TradingSession.get_or_none(id=changed.session_id, user_id=viewer.user.id)
            if found is None:
                continue
            since = seen.get(str(found.id), start)
            logs = list(await m.SessionLog.filter(session_id=found.id, id__gt=since).order_by("id"))
            if logs:
                seen[str(found.id)] = logs[-1].id
            stats = await actions.stats_of(ctx, [found])
            sequence += 1
            yield TradingSessionUpdate(
                sequence=sequence,
                session=session_view(found, stats[str(found.id)]),
                decisions=[log_view(x) for x in logs],
            )


@strawberry.type
class Query:
    active_trading_sessions: list[TradingSession] = strawberry.field(
        resolver=active_trading_sessions,
        permission_classes=[IsAuthenticated],
        description="Your active trading sessions, newest first, with their PnL, volume and fills.",
    )
    current_trade: SessionTrade | None = strawberry.field(
        resolver=current_trade,
        permission_classes=[IsAuthenticated],
        description="Your most recently opened trade that is still open, with its positions (null if none).",
    )
    trading_session_logs: Connection[SessionLogEntry] = strawberry.field(
        resolver=trading_session_logs,
        permission_classes=[IsAuthenticated],
        description="A session's decisions with their reasons, newest first.",
    )
    trade_logs: Connection[SessionLogEntry] = strawberry.field(
        resolver=trade_logs,
        permission_classes=[IsAuthenticated],
        description="The decisions concerning one trade, newest first.",
    )
    close_position_signature: ClosePositionSignatureResult = strawberry.field(
        resolver=close_position_signature,
        permission_classes=[IsTrader],
        description="Alura's close signature: the EIP-712 typed data your linked wallet signs to authorise closing "
        "a session position (a fresh single-use nonce each call, valid five minutes).",
    )


@strawberry.type
class Mutation:
    create_quick_trading_session: CreateTradingSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CREATE_QUICK)(create_quick_trading_session),
        permission_classes=[IsTrader],
        description="Start Alura's quick trade: one session per asset (a second active one is a Conflict).",
    )
    create_advanced_trading_session: CreateTradingSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CREATE_ADVANCED)(create_advanced_trading_session),
        permission_classes=[IsTrader],
        description="Start Alura's advanced trade: the strategy and duration set how it trades and when it ends.",
    )
    close_session_position: CloseSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CLOSE_POSITION)(close_session_position),
        permission_classes=[IsTrader],
        description="Close one position of one of your sessions with a reduce-only market order; the session goes on.",
    )
    close_trade: CloseSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CLOSE_TRADE)(close_trade),
        permission_classes=[IsTrader],
        description="Close every position of one of your open trades (reduce-only market orders); its session ends "
        "(CLOSED_BY_USER).",
    )
    close_position_by_asset: CloseSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CLOSE_ASSET)(close_position_by_asset),
        permission_classes=[IsTrader],
        description="Close the positions of your active session on an asset (reduce-only market orders); the "
        "session ends (CLOSED_BY_USER).",
    )
    close_position_with_signature: CloseSessionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=audited(Action.TRADING_SESSION_CLOSE_SIGNED)(close_position_with_signature),
        permission_classes=[IsTrader],
        description="Close a session position once your linked wallet signed closePositionSignature's typed data: "
        "the signer must be your wallet, the nonce unused (single-use) and the expiry not passed.",
    )
    run_session_engine_once: RunSessionEngineResult = strawberry.mutation(
        resolver=audited(Action.TRADING_SESSION_ENGINE_RUN)(run_session_engine_once),
        permission_classes=[IsAdmin],
        description="Admins: one engine pass over every active session (or one), synchronously, as Alura's "
        "trigger-cron does; sessions another process is stepping are skipped.",
    )


@strawberry.type
class Subscription:
    trading_session_updates: AsyncGenerator[TradingSessionUpdate, None] = strawberry.subscription(
        resolver=trading_session_updates,
        permission_classes=[IsAuthenticated],
        description="Your trading sessions: a snapshot of the active ones, then every change (status, PnL) with the "
        "decisions logged since.",
    )
