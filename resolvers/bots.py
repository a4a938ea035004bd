"""Bots: the Query / Mutation / Subscription fields (the actions are graphql_api/services/bots.py; a running bot
is driven by graphql_api/engine/bots.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.auth import utcnow
from graphql_api.context import Context, Info
from graphql_api.events import channel_for, decode
from graphql_api.events.bots import BotLogged, BotStatusChanged
from graphql_api.ownership import Actor, load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.rejections import Missing
from graphql_api.services import bots as actions
from models import bots as m
from models.venues import Environment as EnvironmentRow
from models.venues import VenueAccount
from schema.bots import (
    Bot,
    BotChanged,
    BotConfiguration,
    BotConfigurationInput,
    BotDeleted,
    BotFilter,
    BotLogEntry,
    BotLogLevel,
    BotPerformance,
    BotPerformancePeriod,
    BotResult,
    BotRiskLevel,
    BotStatus,
    BotStatusUpdate,
    CreateBotInput,
    DeleteBotResult,
    TradingHours,
    UpdateBotInput,
)
from schema.common import After, Connection, First, GlobalID
from schema.venues import Environment

from .node import node_type
from .results import actor, audited, result


def _hhmm(minute: int | None) -> str | None:
    return None if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"


def bot_view(row: m.Bot, venue: str) -> Bot:
    running = row.status == m.BotStatus.RUNNING and row.started_at is not None
    return Bot(
        id=strawberry.ID(to_global_id("Bot", row.id)),
        name=row.name,
        status=BotStatus[row.status],
        status_reason=row.status_reason,
        entries_stopped=row.entries_stopped,
        strategy_id=strawberry.ID(to_global_id("Strategy", row.strategy_id)),
        venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
        venue=venue,
        route_via=row.route_via,
        environment=Environment[row.environment],
        risk_level=BotRiskLevel[row.risk_level],
        allocated_capital=row.allocated_capital,
        configuration=BotConfiguration(
            max_position_size=row.max_position_size,
            stop_loss=row.stop_loss,
            take_profit=row.take_profit,
            trailing_stop=row.trailing_stop,
            risk_per_trade=row.risk_per_trade,
            allowed_pairs=list(row.allowed_pairs),
            trading_hours=TradingHours(
                start=_hhmm(row.trading_start_minute), end=_hhmm(row.trading_end_minute), timezone=row.timezone
            ),
            rebalance_frequency=row.rebalance_frequency,
            interval=row.interval,
        ),
        started_at=row.started_at,
        uptime_seconds=int((utcnow() - row.started_at).total_seconds()) if running and row.started_at else 0,
        last_activity_at=row.last_activity_at,
        runner=row.runner if row.status == m.BotStatus.RUNNING else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _views(rows: list[m.Bot]) -> list[Bot]:
    ids = {row.account_id for row in rows}
    venues = dict(await VenueAccount.filter(id__in=list(ids)).values_list("id", "venue_id"))
    return [bot_view(row, venues[row.account_id]) for row in rows]


async def _view(row: m.Bot) -> Bot:
    return (await _views([row]))[0]


def log_view(row: m.BotLog) -> BotLogEntry:
    return BotLogEntry(
        id=strawberry.ID(to_global_id("BotLog", row.id)),
        bot_id=strawberry.ID(to_global_id("Bot", row.bot_id)),
        level=BotLogLevel[row.level],
        message=row.message,
        detail=row.detail,
        created_at=row.created_at,
    )


def _configuration(spec: actions.BotSpec, data: BotConfigurationInput) -> None:
    spec.max_position_size = data.max_position_size
    spec.trailing_stop = data.trailing_stop
    spec.risk_per_trade = data.risk_per_trade
    spec.allowed_pairs = data.allowed_pairs
    spec.rebalance_frequency = data.rebalance_frequency
    spec.interval = data.interval
    for name, attr, value in (
        ("stopLoss", "stop_loss", data.stop_loss),
        ("takeProfit", "take_profit", data.take_profit),
    ):
        if value is None:
            spec.clear.add(name)
        elif value is not strawberry.UNSET:
            setattr(spec, attr, value)
    hours = data.trading_hours
    if hours is None:
        spec.clear.add("tradingHours")
    elif hours is not strawberry.UNSET:
        spec.trading_start, spec.trading_end, spec.timezone = hours.start, hours.end, hours.timezone


def _create_spec(data: CreateBotInput) -> actions.BotSpec:
    spec = actions.BotSpec(
        name=data.name,
        strategy_id=parse_id(data.strategy_id, "Strategy", "input.strategyId"),
        account_id=parse_id(data.venue_account_id, "VenueAccount", "input.venueAccountId"),
        route_via=data.route_via,
        environment=EnvironmentRow(data.environment.value),
        risk_level=m.RiskLevel(data.risk_level.value),
        allocated_capital=data.allocated_capital,
    )
    _configuration(spec, data.configuration)
    return spec


def _update_spec(data: UpdateBotInput) -> actions.BotSpec:
    spec = actions.BotSpec(
        name=data.name,
        strategy_id=parse_id(data.strategy_id, "Strategy", "input.strategyId") if data.strategy_id else None,
        account_id=parse_id(data.venue_account_id, "VenueAccount", "input.venueAccountId")
        if data.venue_account_id
        else None,
        route_via=data.route_via,
        risk_level=m.RiskLevel(data.risk_level.value) if data.risk_level is not None else None,
        allocated_capital=data.allocated_capital,
    )
    if data.configuration is not None:
        _configuration(spec, data.configuration)
    return spec


async def _visible(info: Info, id: strawberry.ID, field: str = "id") -> m.Bot:
    row = await load_owned(m.Bot, parse_id(id, "Bot", field), actor(info))
    if row is None:
        raise Missing("no such bot", field=field)
    return row


# -- queries -------------------------------------------------------------------------------------------------


async def bots(
    info: Info,
    filter: Annotated[BotFilter | None, strawberry.argument(description="Status, strategy.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Bot]:
    viewer = actor(info)
    query = m.Bot.all() if viewer.is_admin else m.Bot.filter(user_id=viewer.user.id)
    if filter is not None:
        if filter.status is not None:
            query = query.filter(status=m.BotStatus(filter.status.value))
        if filter.strategy_id is not None:
            query = query.filter(strategy_id=parse_id(filter.strategy_id, "Strategy", "filter.strategyId"))
    page = await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=lambda r: r)
    views = await _views([row for _, row in page.items])
    page.items = [(cursor, view) for (cursor, _), view in zip(page.items, views, strict=True)]
    return Connection.of(page)


async def bot(info: Info, id: GlobalID) -> Bot | None:
    row = await load_owned(m.Bot, parse_id(id, "Bot"), actor(info))
    return await _view(row) if row is not None else None


@node_type("Bot", Bot)
async def bot_node(info: Info, pk: str) -> Bot | None:
    row = await load_owned(m.Bot, pk, actor(info))
    return await _view(row) if row is not None else None


async def bot_logs(
    info: Info,
    bot_id: GlobalID,
    level: Annotated[BotLogLevel | None, strawberry.argument(description="Only lines of this level.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[BotLogEntry]:
    row = await _visible(info, bot_id, "botId")
    query = m.BotLog.filter(bot_id=row.id)
    if level is not None:
        query = query.filter(level=m.LogLevel(level.value))
    return Connection.of(
        await paginate(
            query,
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=log_view,
            order=("-created_at", "-id"),
        )
    )


async def bot_performance(
    info: Info,
    bot_id: GlobalID,
    period: Annotated[BotPerformancePeriod, strawberry.argument(description="The window, ending now.")] = (
        BotPerformancePeriod.ALL
    ),
) -> BotPerformance:
    row = await _visible(info, bot_id, "botId")
    done = await actions.performance(row, period.name)
    return BotPerformance(bot_id=bot_id, period=period, **vars(done))


# -- mutations -----------------------------------------------------------------------------------------------


def _changed(row: m.Bot) -> Any:
    return row


async def _bot_result(action: Any) -> Any:
    answer = await result(action, _changed)
    if isinstance(answer, m.Bot):
        return BotChanged(bot=await _view(answer))
    return answer


async def create_bot(
    info: Info, input: Annotated[CreateBotInput, strawberry.argument(description="The bot.")]
) -> BotResult:
    return await _bot_result(actions.create_bot(info.context, actor(info), _create_spec(input)))


async def update_bot(
    info: Info, id: GlobalID, input: Annotated[UpdateBotInput, strawberry.argument(description="What changes.")]
) -> BotResult:
    return await _bot_result(actions.update_bot(info.context, actor(info), parse_id(id, "Bot"), _update_spec(input)))


async def delete_bot(info: Info, id: GlobalID) -> DeleteBotResult:
    return await result(
        actions.delete_bot(info.context, actor(info), parse_id(id, "Bot")), lambda _: BotDeleted(deleted_id=id)
    )


def _lifecycle(action: Action) -> Any:
    async def step(info: Info, id: GlobalID) -> BotResult:
        return await _bot_result(actions.transition(info.context, actor(info), parse_id(id, "Bot"), action))

    return audited(action)(step)


# -- streams -------------------------------------------------------------------------------------------------


async def bot_status_changed(
    info: Info,
    bot_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this bot (global ID).")] = None,
) -> AsyncGenerator[BotStatusUpdate, None]:
    only = (await _visible(info, bot_id, "botId")).id if bot_id is not None else None
    return _status_stream(info.context, actor(info), str(only) if only else None)


async def _status_stream(ctx: Context, viewer: Actor, only: str | None) -> AsyncGenerator[BotStatusUpdate, None]:
    async with ctx.bus.subscribe([channel_for(BotStatusChanged, viewer.user_id)]) as events:
        async for delivery in events:
            changed = decode(delivery)
            if not isinstance(changed, BotStatusChanged) or (only is not None and changed.bot_id != only):
                continue
            row = await m.Bot.get_or_none(id=changed.bot_id)
            if row is not None:
                yield BotStatusUpdate(bot=await _view(row))


async def bot_log(info: Info, bot_id: GlobalID) -> AsyncGenerator[BotLogEntry, None]:
    row = await _visible(info, bot_id, "botId")
    return _log_stream(info.context, str(row.id))


async def _log_stream(ctx: Context, bot_id: str) -> AsyncGenerator[BotLogEntry, None]:
    async with ctx.bus.subscribe([channel_for(BotLogged, bot_id)]) as events:
        async for delivery in events:
            logged = decode(delivery)
            if isinstance(logged, BotLogged):
                line = await m.BotLog.get_or_none(id=logged.log_id)
                if line is not None:
                    yield log_view(line)


@strawberry.type
class Query:
    bots: Connection[Bot] = strawberry.field(
        resolver=bots, permission_classes=[IsAuthenticated], description="Your bots (admins: everyone's), newest first."
    )
    bot: Bot | None = strawberry.field(
        resolver=bot, permission_classes=[IsAuthenticated], description="One bot, if it is yours (admins: any)."
    )
    bot_logs: Connection[BotLogEntry] = strawberry.field(
        resolver=bot_logs, permission_classes=[IsAuthenticated], description="A bot's log, newest first."
    )
    bot_performance: BotPerformance = strawberry.field(
        resolver=bot_performance,
        permission_classes=[IsAuthenticated],
        description="A bot's performance over a period, from its own orders and fills.",
    )


@strawberry.type
class Mutation:
    create_bot: BotResult = strawberry.mutation(
        resolver=audited(Action.BOT_CREATE)(create_bot),
        permission_classes=[IsTrader],
        description="Create a bot (STOPPED) running one of your strategies on one of your PAPER accounts.",
    )
    update_bot: BotResult = strawberry.mutation(
        resolver=audited(Action.BOT_UPDATE)(update_bot),
        permission_classes=[IsTrader],
        description="Change a bot's settings (strategy and account only while STOPPED); a running bot uses the new "
        "risk settings from its next tick.",
    )
    delete_bot: DeleteBotResult = strawberry.mutation(
        resolver=audited(Action.BOT_DELETE)(delete_bot),
        permission_classes=[IsTrader],
        description="Delete a STOPPED (or ERROR) bot and its log; its orders stay.",
    )
    start_bot: BotResult = strawberry.mutation(
        resolver=_lifecycle(Action.BOT_START),
        permission_classes=[IsTrader],
        description="STOPPED or ERROR → RUNNING: a process takes its lease within seconds and trades its strategy.",
    )
    stop_bot: BotResult = strawberry.mutation(
        resolver=_lifecycle(Action.BOT_STOP),
        permission_classes=[IsTrader],
        description="→ STOPPED: its working orders are cancelled in the same transaction; its positions stay.",
    )
    pause_bot: BotResult = strawberry.mutation(
        resolver=_lifecycle(Action.BOT_PAUSE),
        permission_classes=[IsTrader],
        description="RUNNING → PAUSED: it stops deciding; its working orders stay.",
    )
    resume_bot: BotResult = strawberry.mutation(
        resolver=_lifecycle(Action.BOT_RESUME),
        permission_classes=[IsTrader],
        description="PAUSED → RUNNING.",
    )
    stop_bot_entries: BotResult = strawberry.mutation(
        resolver=_lifecycle(Action.BOT_STOP_ENTRIES),
        permission_classes=[IsTrader],
        description="Keep managing open positions to their exits (stop-loss, take-profit, the strategy's sells) "
        "but open nothing new; startBot after stopBot clears it.",
    )


@strawberry.type
class Subscription:
    bot_status_changed: AsyncGenerator[BotStatusUpdate, None] = strawberry.subscription(
        resolver=bot_status_changed,
        permission_classes=[IsAuthenticated],
        description="Every status or configuration change of your bots (or of one).",
    )
    bot_log: AsyncGenerator[BotLogEntry, None] = strawberry.subscription(
        resolver=bot_log, permission_classes=[IsAuthenticated], description="Every new line of a bot's log."
    )
