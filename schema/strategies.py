"""Strategies: the strategy type, its typed parameters (generated from the engine's parameter classes, so
defaults and bounds are written once), its performance, inputs and results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Union

import strawberry
from strawberry.dataloader import DataLoader

from graphql_api.engine.strategies import PARAMETERS, bounds_of
from graphql_api.pagination import to_global_id
from graphql_api.services.strategies import PARAMETER_FIELDS
from models import backtests as b
from models import strategies as s

from .common import InvalidInput, Node, NotFound, enum_from

if TYPE_CHECKING:
    from models.strategies import StrategyStatus, StrategyType
else:
    StrategyType = enum_from(
        s.StrategyType,
        "What a strategy does (its exact rule is on its parameters type).",
        {
            "TREND_FOLLOWING": "EMA crossover with optional stop-loss and take-profit.",
            "MEAN_REVERSION": "Buy below the lower Bollinger band, sell at the middle band.",
            "GRID": "Limit buys on a grid below a centre, each sold one step above.",
            "MARKET_MAKING": "Limit quotes on both sides of each close, inventory capped.",
            "ARBITRAGE": "Buy on the cheapest paper venue, sell on the dearest, when the spread pays.",
        },
    )
    StrategyStatus = enum_from(
        s.StrategyStatus,
        "Where a strategy is in its use.",
        {
            "ACTIVE": "In use (bots may run it).",
            "INACTIVE": "Kept, not in use.",
            "TESTING": "Being backtested before use.",
        },
    )


def _words(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _generated(kind: type[Any], *, as_input: bool) -> Any:
    """The GraphQL type (or input) of one engine parameter class: one field per parameter, its default and
    bounds in its description (and, on the input, as its default value)."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    for name, default, bounds in bounds_of(kind):
        annotations[name] = int if isinstance(default, int) else Decimal
        text = f"{bounds.doc} Default {default}; {bounds.minimum} to {bounds.maximum}."
        namespace[name] = (
            strawberry.field(default=default, description=text) if as_input else strawberry.field(description=text)
        )
    doc = " ".join((kind.__doc__ or "").split())
    name = f"{kind.__name__}Parameters{'Input' if as_input else ''}"
    made = type(name, (), namespace)
    return strawberry.input(made, description=doc) if as_input else strawberry.type(made, description=doc)


PARAMETER_TYPES: dict[s.StrategyType, Any] = {t: _generated(kind, as_input=False) for t, kind in PARAMETERS.items()}
_PARAMETER_INPUTS: dict[s.StrategyType, Any] = {t: _generated(kind, as_input=True) for t, kind in PARAMETERS.items()}

if TYPE_CHECKING:
    StrategyParameters = Any
else:
    StrategyParameters = Annotated[
        Union[tuple(PARAMETER_TYPES.values())],  # noqa: UP007  (a union built from the generated types)
        strawberry.union("StrategyParameters", description="A strategy's parameters: the type of its strategy type."),
    ]


def _parameters_input() -> Any:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    for t, kind in _PARAMETER_INPUTS.items():
        key = PARAMETER_FIELDS[t]
        annotations[key] = kind | None
        namespace[key] = strawberry.field(
            default=None, description=f"{t.value} only; omitted, every parameter takes its default."
        )
    made = type("StrategyParametersInput", (), namespace)
    return strawberry.input(
        made, description="The parameters of the strategy's type, in its own field (any other field is refused)."
    )


if TYPE_CHECKING:
    StrategyParametersInput = Any
else:
    StrategyParametersInput = _parameters_input()


def parameters_view(strategy_type: s.StrategyType, stored: dict[str, Any]) -> Any:
    """The stored parameters as their GraphQL type; a parameter the stored document predates reads as its default."""
    values: dict[str, Any] = {name: default for name, default, _ in bounds_of(PARAMETERS[strategy_type])}
    values.update(stored)
    kind = PARAMETER_TYPES[strategy_type]
    return kind(**{name: (value if isinstance(value, int) else Decimal(value)) for name, value in values.items()})


def parameters_given(data: Any) -> dict[str, dict[str, Any] | None]:
    """The input's parameter groups as the service takes them: field -> {snake_case name: value}."""
    if data is None:
        return {}
    given: dict[str, dict[str, Any] | None] = {}
    for key in PARAMETER_FIELDS.values():
        group = getattr(data, key)
        given[key] = None if group is None else {name: getattr(group, name) for name in vars(group)}
    return given


@strawberry.type(
    description="A strategy's performance: the metrics of its latest backtest that finished DONE (exact "
    "definitions on `BacktestMetrics`)."
)
class StrategyPerformance:
    backtest_id: strawberry.ID = strawberry.field(description="Global ID of that backtest.")
    total_return: Decimal = strawberry.field(description="Final equity / initial capital − 1.")
    sharpe: Decimal | None = strawberry.field(description="Annualised Sharpe ratio of per-candle returns.")
    max_drawdown: Decimal = strawberry.field(description="Largest fall from a peak, a share of the peak.")
    win_rate: Decimal | None = strawberry.field(description="Winning / closed trades.")
    profit_factor: Decimal | None = strawberry.field(description="Gross profit / gross loss (null: no loss).")
    average_win: Decimal | None = strawberry.field(description="Mean PnL of the winning trades.")
    average_loss: Decimal | None = strawberry.field(description="Mean PnL of the losing trades (≤ 0).")
    total_trades: int = strawberry.field(description="Closed trades.")


class BacktestByIdLoader(DataLoader[str, b.Backtest | None]):
    """Backtests by id in one query (a strategy page's performances)."""

    def __init__(self, *, cache: bool = True) -> None:
        super().__init__(load_fn=self._load, cache=cache)

    @staticmethod
    async def _load(keys: Sequence[str]) -> list[b.Backtest | None]:
        rows = {str(row.id): row for row in await b.Backtest.filter(id__in=list(keys))}
        return [rows.get(key) for key in keys]


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def performance_of(row: b.Backtest, global_id: str) -> StrategyPerformance:
    m = row.metrics
    return StrategyPerformance(
        backtest_id=strawberry.ID(global_id),
        total_return=Decimal(m["total_return"]),
        sharpe=_decimal(m["sharpe"]),
        max_drawdown=Decimal(m["max_drawdown"]),
        win_rate=_decimal(m["win_rate"]),
        profit_factor=_decimal(m["profit_factor"]),
        average_win=_decimal(m["average_win"]),
        average_loss=_decimal(m["average_loss"]),
        total_trades=m["total_trades"],
    )


@strawberry.type(description="A trading strategy of its owner: a type and its parameters.")
class Strategy(Node):
    name: str = strawberry.field(description="Its owner's name for it.")
    description: str = strawberry.field(description="Free text.")
    type: StrategyType = strawberry.field(description="What it does.")
    status: StrategyStatus = strawberry.field(description="ACTIVE, INACTIVE or TESTING.")
    parameters: StrategyParameters = strawberry.field(description="Every parameter, defaults filled in.")
    owner_id: strawberry.ID = strawberry.field(description="Global ID of the owning user.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    latest_backtest: strawberry.Private[str | None]

    @strawberry.field(description="From its latest backtest that finished DONE; null before one has.")
    async def performance(self, info: strawberry.Info) -> StrategyPerformance | None:
        if self.latest_backtest is None:
            return None
        row = await info.context.loaders.get(BacktestByIdLoader).load(self.latest_backtest)
        if row is None or row.metrics is None:
            return None
        return performance_of(row, to_global_id("Backtest", row.id))


@strawberry.input(description="A strategy, whole (create, or replace on update).")
class StrategyInput:
    name: str = strawberry.field(description="1–100 characters.")
    type: StrategyType = strawberry.field(description="What it does.")
    status: StrategyStatus = strawberry.field(
        default=StrategyStatus.INACTIVE, description="ACTIVE, INACTIVE or TESTING."
    )
    description: str = strawberry.field(default="", description="At most 2000 characters.")
    parameters: StrategyParametersInput | None = strawberry.field(
        default=None, description="The type's parameters; omitted, every one takes its default."
    )


@strawberry.input(description="Narrow the strategies listed.")
class StrategyFilter:
    type: StrategyType | None = strawberry.field(default=None, description="Only this type.")
    status: StrategyStatus | None = strawberry.field(default=None, description="Only this status.")


@strawberry.type(description="The strategy after the change.")
class StrategyChanged:
    strategy: Strategy = strawberry.field(description="The strategy.")


@strawberry.type(description="The strategy was deleted (its backtests stay).")
class StrategyDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Global ID of the deleted strategy.")


StrategyResult = Annotated[
    StrategyChanged | InvalidInput | NotFound,
    strawberry.union("StrategyResult", description="The strategy, or why not."),
]
DeleteStrategyResult = Annotated[
    StrategyDeleted | InvalidInput | NotFound,
    strawberry.union("DeleteStrategyResult", description="The deleted strategy's ID, or why not (IN_USE by a bot)."),
]
