"""Strategies: the Query / Mutation fields of a user's strategies (the actions are
graphql_api/services/strategies.py, the strategies themselves graphql_api/engine/strategies.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import load_owned
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated, IsTrader
from graphql_api.services import strategies as actions
from models import strategies as m
from schema.common import After, Connection, First, GlobalID
from schema.strategies import (
    DeleteStrategyResult,
    Strategy,
    StrategyChanged,
    StrategyDeleted,
    StrategyFilter,
    StrategyInput,
    StrategyResult,
    StrategyStatus,
    StrategyType,
    parameters_given,
    parameters_view,
)

from .node import node_type
from .results import actor, audited, result


def strategy_view(row: m.Strategy) -> Strategy:
    return Strategy(
        id=strawberry.ID(to_global_id("Strategy", row.id)),
        name=row.name,
        description=row.description,
        type=StrategyType[row.type],
        status=StrategyStatus[row.status],
        parameters=parameters_view(m.StrategyType(row.type), row.parameters),
        owner_id=strawberry.ID(to_global_id("User", row.user_id)),
        created_at=row.created_at,
        updated_at=row.updated_at,
        latest_backtest=str(row.latest_backtest_id) if row.latest_backtest_id else None,
    )


def _spec(data: StrategyInput) -> actions.StrategySpec:
    return actions.StrategySpec(
        name=data.name,
        type=m.StrategyType(data.type.name),
        status=m.StrategyStatus(data.status.name),
        description=data.description,
        parameters=parameters_given(data.parameters),
    )


async def strategies(
    info: Info,
    filter: Annotated[StrategyFilter | None, strawberry.argument(description="Type and status.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Strategy]:
    viewer = actor(info)
    query = m.Strategy.all() if viewer.is_admin else m.Strategy.filter(user_id=viewer.user.id)
    if filter is not None and filter.type is not None:
        query = query.filter(type=m.StrategyType(filter.type.name))
    if filter is not None and filter.status is not None:
        query = query.filter(status=m.StrategyStatus(filter.status.name))
    return Connection.of(
        await paginate(
            query,
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=strategy_view,
            order=("-created_at", "-id"),
        )
    )


async def _visible(info: Info, pk: str) -> Strategy | None:
    row = await load_owned(m.Strategy, pk, actor(info))
    return strategy_view(row) if row is not None else None


node_type("Strategy", Strategy)(_visible)


async def strategy(info: Info, id: GlobalID) -> Strategy | None:
    return await _visible(info, parse_id(id, "Strategy"))


async def create_strategy(
    info: Info, input: Annotated[StrategyInput, strawberry.argument(description="The strategy.")]
) -> StrategyResult:
    return await result(
        actions.create_strategy(actor(info), _spec(input)), lambda row: StrategyChanged(strategy=strategy_view(row))
    )


async def update_strategy(
    info: Info, id: GlobalID, input: Annotated[StrategyInput, strawberry.argument(description="The strategy, whole.")]
) -> StrategyResult:
    pk = parse_id(id, "Strategy")
    return await result(
        actions.update_strategy(actor(info), pk, _spec(input)), lambda row: StrategyChanged(strategy=strategy_view(row))
    )


async def delete_strategy(info: Info, id: GlobalID) -> DeleteStrategyResult:
    pk = parse_id(id, "Strategy")
    return await result(actions.delete_strategy(actor(info), pk), lambda _: StrategyDeleted(deleted_id=id))


@strawberry.type
class Query:
    strategies: Connection[Strategy] = strawberry.field(
        resolver=strategies,
        permission_classes=[IsAuthenticated],
        description="Strategies, newest first: your own (admins: everyone's).",
    )
    strategy: Strategy | None = strawberry.field(
        resolver=strategy,
        permission_classes=[IsAuthenticated],
        description="One strategy by global ID (null when it does not exist or is not yours).",
    )


@strawberry.type
class Mutation:
    create_strategy: StrategyResult = strawberry.mutation(
        resolver=audited(Action.STRATEGY_CREATE)(create_strategy),
        permission_classes=[IsTrader],
        description="Create a strategy; bad parameters are InvalidInput naming the field.",
    )
    update_strategy: StrategyResult = strawberry.mutation(
        resolver=audited(Action.STRATEGY_UPDATE)(update_strategy),
        permission_classes=[IsTrader],
        description="Replace one of your strategies' settings.",
    )
    delete_strategy: DeleteStrategyResult = strawberry.mutation(
        resolver=audited(Action.STRATEGY_DELETE)(delete_strategy),
        permission_classes=[IsTrader],
        description="Delete one of your strategies; refused (IN_USE) while a bot uses it.",
    )
