"""Trading sessions: the Query / Mutation / Subscription fields of Alura's sessions (actions in
graphql_api/services/trading_sessions.py, the engine in graphql_api/engine/trading_sessions.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.ratelimit import TRADING, RateLimit
from graphql_api.services import trading_sessions as actions
from models import trading_sessions as m
from schema.common import After, Connection, First
from schema.trading_sessions import (
    CreateAdvancedTradingSessionInput,
    CreateQuickTradingSessionInput,
    CreateTradingSessionResult,
    SessionLogEntry,
    SessionLogValue,
    SessionPosition,
    SessionTrade,
    TradingSession,
    TradingSessionCreated,
)

from .node import node_type
from .results import actor, audited, result

SessionArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of a trading session of yours.")]
TradeArg = Annotated[strawberry.ID, strawberry.argument(description="Global ID of a session trade of yours.")]


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
