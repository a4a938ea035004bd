"""The strategy engine: five strategy types, their validated parameters, and the runner that feeds them.

Pure and GraphQL-free. A strategy sees closed candles and what it holds, and returns *intents* (orders it
wants); whoever drives it decides the fills. The same ``StrategyRunner`` is driven two ways, through the
same code path:

- a backtest (``engine/backtest.py``) calls ``on_candle`` once per stored bar and fills the intents
  against the next bar by its documented rule;
- a bot calls ``on_tick`` with the open candle after every feed tick: the runner folds the tick into the
  candle and, when a tick opens a new candle, decides on the one just closed — the very bar a backtest of
  the same series would have given it — and the bot places the intents through the normal order path.

So given the same candles and parameters, a backtest and a live replay ask for the same orders.

Intents live until the next decision: a driver cancels what did not fill when the next candle closes.
A BUY's ``fraction`` is the share of free cash to spend, fees included; a SELL's is the share of the
position to sell; both are resolved into a quantity (whole lots, rounded down) at the fill price, so a
market order sized now fills sensibly at the next open.

Indicators are ``engine.indicators`` (talipp, TA-Lib definitions). Every price an intent carries is on
the instrument's tick grid; every quantity in whole lots. Positions are long-only, like the paper venue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from models.orders import Side
from models.strategies import StrategyType

from .candles import Bar, to_tick
from .indicators import IndicatorSet, InvalidParameter, Kind, Spec

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class Bounds:
    """A parameter's range, both ends included, and what it means (shown on the schema)."""

    minimum: int | Decimal
    maximum: int | Decimal
    doc: str


def param(default: int | Decimal, minimum: int | Decimal, maximum: int | Decimal, doc: str) -> Any:
    return field(default=default, metadata={"bounds": Bounds(minimum, maximum, doc)})


@dataclass(frozen=True)
class TrendFollowing:
    """EMA crossover. BUY (``position_size`` of free cash) when the fast EMA closes above the slow one
    after closing at or below it; SELL everything when it closes below after closing at or above, or when
    the close reaches the stop-loss or take-profit distance from the average entry (0 turns one off)."""

    fast_period: int = param(12, 2, 500, "Period of the fast EMA, in candles; shorter than slowPeriod.")
    slow_period: int = param(26, 3, 1000, "Period of the slow EMA, in candles.")
    position_size: Decimal = param(Decimal("0.95"), Decimal("0.01"), ONE, "Share of free cash one entry spends.")
    stop_loss: Decimal = param(ZERO, ZERO, Decimal("0.5"), "Exit when the close is this share below the entry; 0: off.")
    take_profit: Decimal = param(ZERO, ZERO, Decimal(5), "Exit when the close is this share above the entry; 0: off.")

    def check(self) -> None:
        if self.fast_period >= self.slow_period:
            raise InvalidParameter("fast_period", "fastPeriod must be shorter than slowPeriod")


@dataclass(frozen=True)
class MeanReversion:
    """Bollinger bands. BUY (``position_size`` of free cash) when a close falls below the lower band while
    flat; SELL everything when a close reaches the middle band (the SMA)."""

    period: int = param(20, 2, 500, "Period of the bands' SMA and standard deviation, in candles.")
    deviations: Decimal = param(Decimal(2), Decimal("0.5"), Decimal(5), "Band width in population standard deviations.")
    position_size: Decimal = param(Decimal("0.95"), Decimal("0.01"), ONE, "Share of free cash one entry spends.")

    def check(self) -> None:
        return None


@dataclass(frozen=True)
class Grid:
    """A grid of ``levels`` limit buys below a centre, ``spacing`` apart (centre × (1 − k × spacing)), each
    spending ``order_size`` of the starting equity; a level bought is sold by a limit one spacing above its
    price. The centre is the first close, and moves to the close when a close leaves the grid while no level
    is held."""

    levels: int = param(5, 1, 50, "Buy levels below the centre.")
    spacing: Decimal = param(
        Decimal("0.005"), Decimal("0.0005"), Decimal("0.2"), "Gap between levels, a share of the centre."
    )
    order_size: Decimal = param(Decimal("0.1"), Decimal("0.001"), ONE, "Share of the starting equity each level buys.")

    def check(self) -> None:
        if self.levels * self.spacing >= ONE:
            raise InvalidParameter("spacing", "levels × spacing must stay below 1 (the grid would reach zero)")


@dataclass(frozen=True)
class MarketMaking:
    """Quotes both sides around each close: a limit buy at close × (1 − spread/2) while the inventory's value
    is under ``max_inventory`` of equity, and a limit sell of up to one order's quantity of the inventory at
    close × (1 + spread/2). Each order is ``order_size`` of equity at the close."""

    spread: Decimal = param(
        Decimal("0.002"), Decimal("0.0001"), Decimal("0.1"), "Width between the quotes, a share of the close."
    )
    order_size: Decimal = param(Decimal("0.05"), Decimal("0.001"), ONE, "Share of equity one quote is worth.")
    max_inventory: Decimal = param(Decimal("0.5"), Decimal("0.01"), ONE, "Most of equity held in the asset.")

    def check(self) -> None:
        return None


@dataclass(frozen=True)
class Arbitrage:
    """Cross-venue basis: every paper venue prices the feed with a small deterministic basis
    (``engine/basis.py``). At each close, with the cheapest and the dearest venue's prices, when the spread
    (dear − cheap) / cheap exceeds ``min_spread`` plus two fees' worth: while flat, BUY ``position_size`` of
    free cash on the cheap venue; while holding, SELL it all on the dear venue. Inventory is treated as
    movable between venues at no cost (a paper simplification, stated)."""

    min_spread: Decimal = param(Decimal("0.0001"), ZERO, Decimal("0.05"), "Spread beyond costs an entry or exit needs.")
    position_size: Decimal = param(Decimal("0.5"), Decimal("0.01"), ONE, "Share of free cash one entry spends.")
    fee_rate: Decimal = param(Decimal("0.0002"), ZERO, Decimal("0.01"), "Fee per fill the spread must pay for.")

    def check(self) -> None:
        return None


Parameters = TrendFollowing | MeanReversion | Grid | MarketMaking | Arbitrage

PARAMETERS: dict[StrategyType, type[Any]] = {
    StrategyType.TREND_FOLLOWING: TrendFollowing,
    StrategyType.MEAN_REVERSION: MeanReversion,
    StrategyType.GRID: Grid,
    StrategyType.MARKET_MAKING: MarketMaking,
    StrategyType.ARBITRAGE: Arbitrage,
}


def bounds_of(kind: type[Any]) -> list[tuple[str, Any, Bounds]]:
    """(name, default, bounds) of each parameter of a parameter class, in declaration order."""
    return [(f.name, f.default, f.metadata["bounds"]) for f in fields(kind) if f.default is not MISSING]


def parameters_of(strategy_type: StrategyType, given: Mapping[str, Any]) -> Parameters:
    """The validated parameters of ``strategy_type`` from ``given`` (absent or None: the default).

    Raises InvalidParameter naming the parameter (snake_case) that the type does not take, that is out of
    bounds, or that breaks a rule between parameters."""
    kind = PARAMETERS[strategy_type]
    known = {name: bounds for name, _, bounds in bounds_of(kind)}
    values: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in known:
            raise InvalidParameter(name, f"{strategy_type.value} takes no {name}")
        bounds = known[name]
        number = Decimal(value) if isinstance(bounds.minimum, Decimal) else value
        if isinstance(number, Decimal) and not number.is_finite():
            raise InvalidParameter(name, f"{name} must be a number")
        if not bounds.minimum <= number <= bounds.maximum:
            raise InvalidParameter(name, f"{name} must be between {bounds.minimum} and {bounds.maximum}")
        values[name] = number
    params: Parameters = kind(**values)
    params.check()
    return params


def to_json(params: Parameters) -> dict[str, int | str]:
    """Stored form: integers as they are, decimals as strings (no float ever)."""
    return {f.name: v if isinstance(v := getattr(params, f.name), int) else str(v) for f in fields(params)}


def from_json(strategy_type: StrategyType, stored: Mapping[str, Any]) -> Parameters:
    return parameters_of(strategy_type, stored)


# -- what a strategy sees and says ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Intent:
    """An order a strategy wants: market when ``limit`` is None; sized by ``quantity`` or by ``fraction``
    (BUY: of free cash, fees included; SELL: of the position), resolved at the fill. ``venue`` names the
    paper venue for cross-venue strategies; ``tag`` comes back on the fill."""

    side: Side
    quantity: Decimal | None = None
    fraction: Decimal | None = None
    limit: Decimal | None = None
    venue: str | None = None
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """An intent filled (wholly or in part) by the driver."""

    time: datetime
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    tag: str = ""
    venue: str | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """What the strategy holds when it decides, and the fills since its previous decision."""

    quantity: Decimal
    average_price: Decimal
    cash: Decimal
    fills: tuple[Fill, ...] = ()

    def equity(self, price: Decimal) -> Decimal:
        return self.cash + self.quantity * price


@dataclass(frozen=True)
class Instrument:
    """The grid a strategy's prices and quantities must sit on."""

    symbol: str
    tick: Decimal
    lot: Decimal

    def lots(self, quantity: Decimal) -> Decimal:
        return (quantity / self.lot).to_integral_value(rounding=ROUND_DOWN) * self.lot


# A venue's price for the feed's ``price`` of ``symbol`` at ``time`` (the paper venues' basis).
VenuePrice = Callable[[str, str, datetime, Decimal], Decimal]


class Strategy(Protocol):
    def decide(self, bar: Bar, holding: Holding) -> list[Intent]: ...


# -- the five strategies ------------------------------------------------------------------------------------


class _TrendFollowing:
    def __init__(self, p: TrendFollowing, instrument: Instrument) -> None:
        self.p = p
        self.indicators = IndicatorSet(
            [Spec.of(Kind.EMA, period=p.fast_period), Spec.of(Kind.EMA, period=p.slow_period)]
        )
        self.previous: tuple[Decimal, Decimal] | None = None

    def decide(self, bar: Bar, holding: Holding) -> list[Intent]:
        fast, slow = (r.value for r in self.indicators.push(bar))
        previous, self.previous = self.previous, (fast, slow) if fast is not None and slow is not None else None
        if fast is None or slow is None or previous is None:
            return []
        was_fast, was_slow = previous
        if holding.quantity <= 0:
            if fast > slow and was_fast <= was_slow:
                return [Intent(Side.BUY, fraction=self.p.position_size, tag="entry")]
            return []
        if fast < slow and was_fast >= was_slow:
            return [Intent(Side.SELL, fraction=ONE, tag="exit")]
        entry = holding.average_price
        if self.p.stop_loss and bar.close <= entry * (ONE - self.p.stop_loss):
            return [Intent(Side.SELL, fraction=ONE, tag="stop-loss")]
        if self.p.take_profit and bar.close >= entry * (ONE + self.p.take_profit):
            return [Intent(Side.SELL, fraction=ONE, tag="take-profit")]
        return []


class _MeanReversion:
    def __init__(self, p: MeanReversion, instrument: Instrument) -> None:
        self.p = p
        self.indicators = IndicatorSet([Spec.of(Kind.BBANDS, period=p.period, deviations=p.deviations)])

    def decide(self, bar: Bar, holding: Holding) -> list[Intent]:
        (bands,) = self.indicators.push(bar)
        if bands.value is None or bands.lower is None:
            return []
        if holding.quantity <= 0 and bar.close < bands.lower:
            return [Intent(Side.BUY, fraction=self.p.position_size, tag="entry")]
        if holding.quantity > 0 and bar.close >= bands.value:
            return [Intent(Side.SELL, fraction=ONE, tag="exit")]
        return []


class _Grid:
    def __init__(self, p: Grid, instrument: Instrument) -> None:
        self.p = p
        self.instrument = instrument
        self.centre: Decimal | None = None
        self.budget: Decimal | None = None
        self.held: dict[int, tuple[Decimal, Decimal]] = {}  # level -> (quantity, buy price)

    def _price(self, level: int) -> Decimal:
        assert self.centre is not None
        return to_tick(self.centre * (ONE - level * self.p.spacing), self.instrument.tick, ROUND_FLOOR)

    def _inside(self, price: Decimal) -> bool:
        assert self.centre is not None
        return self._price(self.p.levels) < price < self.centre * (ONE + self.p.spacing)

    def decide(self, bar: Bar, holding: Holding) -> list[Intent]:
        for fill in holding.fills:
            level = int(fill.tag.split(":")[1])
            if fill.side is Side.BUY:
                quantity = self.held[level][0] if level in self.held else ZERO
                self.held[level] = (quantity + fill.quantity, fill.price)
            elif level in self.held:
                left = self.held[level][0] - fill.quantity
                if left > 0:
                    self.held[level] = (left, self.held[level][1])
                else:
                    del self.held[level]
        if self.budget is None:
            self.budget = holding.equity(bar.close) * self.p.order_size
        if self.centre is None or (not self.held and not self._inside(bar.close)):
            self.centre = bar.close
        intents: list[Intent] = []
        for level in range(1, self.p.levels + 1):
            if level in self.held:
                quantity, bought = self.held[level]
                sell = to_tick(bought * (ONE + self.p.spacing), self.instrument.tick, ROUND_CEILING)
                intents.append(Intent(Side.SELL, quantity=quantity, limit=sell, tag=f"grid:{level}"))
            else:
                price = self._price(level)
                quantity = self.instrument.lots(self.budget / price) if price > 0 else ZERO
                if quantity > 0:
                    intents.append(Intent(Side.BUY, quantity=quantity, limit=price, tag=f"grid:{level}"))
        return intents


class _MarketMaking:
    def __init__(self, p: MarketMaking, instrument: Instrument) -> None:
        self.p = p
        self.instrument = instrument

    def decide(self, bar: Bar, holding: Holding) -> list[Intent]:
        half = self.p.spread / 2
        equity = holding.equity(bar.close)
        size = self.instrument.lots(equity * self.p.order_size / bar.close)
        intents: list[Intent] = []
        if size > 0 and (holding.quantity + size) * bar.close <= equity * self.p.max_inventory:
            bid = to_tick(bar.close * (ONE - half), self.instrument.tick, ROUND_FLOOR)
            intents.append(Intent(Side.BUY, quantity=size, limit=bid, tag="bid"))
        if holding.quantity > 0:
            ask = to_tick(bar.close * (ONE + half), self.instrument.tick, ROUND_CEILING)
            intents.append(
                Intent(Side.SELL, quantity=min(size, holding.quantity) or holding.quantity, limit=ask, tag="ask")
            )
        return intents


class _Arbitrage:
    def __init__(self, p: Arbitrage, instrument: Instrument, venues: tuple[str, ...], price: VenuePrice) -> None:
        self.p = p
        self.instrument = instrument
        self.venues = venues
        self.price = price

    def decide(self, bar: Bar, holding: Holding) -> list[Intent]:
        quotes = sorted((self.price(v, self.instrument.symbol, bar.open_time, bar.close), v) for v in self.venues)
        (cheap, cheap_venue), (dear, dear_venue) = quotes[0], quotes[-1]
        if (dear - cheap) / cheap <= self.p.min_spread + 2 * self.p.fee_rate:
            return []
        if holding.quantity <= 0:
            return [Intent(Side.BUY, fraction=self.p.position_size, venue=cheap_venue, tag="buy-cheap")]
        return [Intent(Side.SELL, fraction=ONE, venue=dear_venue, tag="sell-dear")]


def build(
    strategy_type: StrategyType,
    params: Parameters,
    instrument: Instrument,
    *,
    venues: tuple[str, ...] = (),
    venue_price: VenuePrice | None = None,
) -> Strategy:
    """The strategy object for a type and its validated parameters (arbitrage also needs the venues it
    trades across and how each prices the feed)."""
    if strategy_type is StrategyType.ARBITRAGE:
        assert isinstance(params, Arbitrage) and venue_price is not None and len(venues) >= 2
        return _Arbitrage(params, instrument, venues, venue_price)
    classes: dict[StrategyType, Callable[[Any, Instrument], Strategy]] = {
        StrategyType.TREND_FOLLOWING: _TrendFollowing,
        StrategyType.MEAN_REVERSION: _MeanReversion,
        StrategyType.GRID: _Grid,
        StrategyType.MARKET_MAKING: _MarketMaking,
    }
    return classes[strategy_type](params, instrument)


class StrategyRunner:
    """Drives one strategy over one symbol's candles: bar by bar (``on_candle``, a backtest) or tick by
    tick (``on_tick``, a bot) — both end in the same ``on_candle`` decision on a closed candle."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self._open: Bar | None = None

    def on_candle(self, bar: Bar, holding: Holding) -> list[Intent]:
        """The intents after ``bar`` closed."""
        return self.strategy.decide(bar, holding)

    def on_tick(self, candle: Bar, holding: Holding) -> list[Intent]:
        """``candle`` is the open candle after a tick. When it is a new one, the previous candle has
        closed: decide on it (exactly as a backtest would); otherwise nothing is decided yet."""
        previous, self._open = self._open, candle
        if previous is None or candle.open_time <= previous.open_time:
            return []
        return self.on_candle(previous, holding)
