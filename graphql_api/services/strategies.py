"""Strategy actions: create, replace and delete a user's strategies, each in one audited transaction.

Parameters are validated by the engine's parameter classes (``engine/strategies.py``): a parameter the type
does not take, one out of bounds or one breaking a rule between parameters is refused naming it
(``parameters.<typeField>.<parameter>``, camelCase as on the schema).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.strategies import Strategy, StrategyStatus, StrategyType

from .. import audit
from ..audit import Action
from ..engine.indicators import InvalidParameter
from ..engine.strategies import parameters_of, to_json
from ..ownership import Actor, require_owned
from ..rejections import Invalid

# The input field holding each type's parameters.
PARAMETER_FIELDS: dict[StrategyType, str] = {
    StrategyType.TREND_FOLLOWING: "trendFollowing",
    StrategyType.MEAN_REVERSION: "meanReversion",
    StrategyType.GRID: "grid",
    StrategyType.MARKET_MAKING: "marketMaking",
    StrategyType.ARBITRAGE: "arbitrage",
}

# Who else uses a strategy (the bots domain registers a count of the bots running one): deleting a
# strategy that any of these counts is refused. Each takes the strategy id and the transaction.
InUse = Callable[[str, BaseDBAsyncClient], Awaitable[int]]
IN_USE: list[InUse] = []


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class StrategySpec:
    """A strategy as asked for. ``parameters`` maps each type's parameter field to its given values."""

    name: str
    type: StrategyType
    status: StrategyStatus = StrategyStatus.INACTIVE
    description: str = ""
    parameters: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _validated(spec: StrategySpec) -> dict[str, Any]:
    name = spec.name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("name must be 1 to 100 characters", field="name")
    if len(spec.description) > 2000:
        raise Invalid("description must be at most 2000 characters", field="description")
    own = PARAMETER_FIELDS[spec.type]
    for key, values in spec.parameters.items():
        if values is not None and key != own:
            raise Invalid(f"a {spec.type.value} strategy takes parameters.{own}, not {key}", field=f"parameters.{key}")
    try:
        params = parameters_of(spec.type, spec.parameters.get(own) or {})
    except InvalidParameter as bad:
        message = str(bad).replace(bad.name, camel(bad.name))
        raise Invalid(message, field=f"parameters.{own}.{camel(bad.name)}") from None
    return {
        "name": name,
        "description": spec.description,
        "type": spec.type,
        "status": spec.status,
        "parameters": to_json(params),
    }


async def create_strategy(actor: Actor, spec: StrategySpec) -> Strategy:
    async with audit.refusals(actor, Action.STRATEGY_CREATE, target_type="Strategy"):
        values = _validated(spec)
        async with in_transaction() as conn:
            row = await Strategy.create(**values, user_id=actor.user.id, using_db=conn)
            await audit.by(
                actor,
                Action.STRATEGY_CREATE,
                Outcome.SUCCESS,
                target_type="Strategy",
                target_id=row.id,
                detail={"type": row.type.value},
                conn=conn,
            )
        return row


async def update_strategy(actor: Actor, strategy_id: str, spec: StrategySpec) -> Strategy:
    """Replace a strategy's settings whole (its id, backtests and performance stay)."""
    async with audit.refusals(actor, Action.STRATEGY_UPDATE, target_type="Strategy", target_id=strategy_id):
        row = await require_owned(Strategy, strategy_id, actor, field="id", what="strategy")
        values = _validated(spec)
        async with in_transaction() as conn:
            await Strategy.filter(id=row.id).using_db(conn).update(**values)
            await audit.by(
                actor,
                Action.STRATEGY_UPDATE,
                Outcome.SUCCESS,
                target_type="Strategy",
                target_id=row.id,
                detail={"type": spec.type.value, "status": spec.status.value},
                conn=conn,
            )
        return await Strategy.get(id=row.id)


async def delete_strategy(actor: Actor, strategy_id: str) -> None:
    """Delete a strategy no bot uses (its backtests stay, with the parameters they ran with)."""
    async with audit.refusals(actor, Action.STRATEGY_DELETE, target_type="Strategy", target_id=strategy_id):
        row = await require_owned(Strategy, strategy_id, actor, field="id", what="strategy")
        async with in_transaction() as conn:
            await Strategy.filter(id=row.id).using_db(conn).select_for_update().first()
            for count in IN_USE:
                if await count(str(row.id), conn):
                    raise Invalid("the strategy is in use by a bot; stop and remove the bot first", "IN_USE", "id")
            await Strategy.filter(id=row.id).using_db(conn).delete()
            await audit.by(
                actor, Action.STRATEGY_DELETE, Outcome.SUCCESS, target_type="Strategy", target_id=row.id, conn=conn
            )
