"""Agents (copy trading): the agent, its performance and trades, subscriptions and their copy log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_api.pagination import paginate, to_global_id
from graphql_api.services import agents as actions
from models import agents as a

from .bots import BotPerformancePeriod
from .common import After, Conflict, Connection, First, InvalidInput, Node, NotFound, enum_from
from .orders import Side

if TYPE_CHECKING:
    from models.agents import AgentProfile, CopyKind, CopyStatus, SubscriptionStatus
else:
    AgentProfile = enum_from(
        a.AgentProfile,
        "How an agent trades, as the admin who published it describes it.",
        {
            "CONSERVATIVE": "Small positions, tight risk.",
            "MODERATE": "Balanced.",
            "AGGRESSIVE": "Large positions, wide risk.",
        },
    )
    SubscriptionStatus = enum_from(
        a.SubscriptionStatus,
        "Whether a subscription still copies its agent.",
        {"ACTIVE": "Every new fill of the agent is copied.", "ENDED": "Unsubscribed: nothing more is copied."},
        name="AgentSubscriptionStatus",
    )
    CopyKind = enum_from(
        a.CopyKind,
        "What a copy order is for.",
        {"MIRROR": "The copy of one fill of the agent.", "CLOSE": "Selling what the copies hold, at unsubscribe."},
    )
    CopyStatus = enum_from(
        a.CopyStatus,
        "Where a copy order is.",
        {
            "PENDING": "Waiting for a dispatcher.",
            "CLAIMED": "A dispatcher is placing it.",
            "PLACED": "Placed as a MARKET order on the subscriber's account (orderId).",
            "SKIPPED": "Not placed: below one lot, or nothing copied left to sell (message says which).",
            "REFUSED": "The order path refused it (code, message): funds, kill switch, compliance. An alert was "
            "raised.",
            "CANCELED": "The subscription ended before it was placed.",
        },
    )


@strawberry.type(
    description="An agent's performance over a period: its bot's, computed from the bot's own fills (average "
    "cost per symbol; fees subtracted when paid), so anyone can recompute it."
)
class AgentPerformance:
    period: BotPerformancePeriod = strawberry.field(description="The window, ending now.")
    profit_loss: Decimal = strawberry.field(description="realizedPnl + unrealizedPnl.")
    return_percent: Decimal = strawberry.field(description="profitLoss ÷ the agent's capital × 100.")
    realized_pnl: Decimal = strawberry.field(description="Σ realized PnL of sells in the window − fees in it.")
    unrealized_pnl: Decimal = strawberry.field(description="Open quantity × (mark − average cost), now.")
    win_rate: Decimal = strawberry.field(description="Percent of the window's sell orders that realized a profit.")
    total_trades: int = strawberry.field(description="Filled (or partly filled) orders in the window.")
    max_drawdown: Decimal = strawberry.field(
        description="Largest fall, in percent, of capital + cumulative realized PnL from its highest earlier value."
    )
    current_capital: Decimal = strawberry.field(description="Capital + profit and loss over all time.")


@strawberry.type(description="One fill of an agent.")
class AgentTrade:
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: Side = strawberry.field(description="Buy or sell.")
    price: Decimal = strawberry.field(description="Execution price.")
    quantity: Decimal = strawberry.field(description="Executed quantity.")
    fee: Decimal = strawberry.field(description="Fee paid, in the quote asset.")
    executed_at: datetime = strawberry.field(description="When it executed.")


@strawberry.type(description="A bot published for copy trading.")
class Agent(Node):
    name: str = strawberry.field(description="Its public name.")
    profile: AgentProfile = strawberry.field(description="CONSERVATIVE, MODERATE or AGGRESSIVE.")
    description: str = strawberry.field(description="What it does, in the publisher's words.")
    bot_id: strawberry.ID = strawberry.field(description="Global ID of the bot it copies (readable by its owner).")
    published: bool = strawberry.field(description="Listed and copied; false after unpublishAgent.")
    published_at: datetime = strawberry.field(description="When it was last published.")
    capital: Decimal = strawberry.field(
        description="Its bot's allocated capital: a subscriber's copies are allocation ÷ capital of its fills."
    )
    subscriber_count: int = strawberry.field(description="ACTIVE subscriptions.")
    agent_pk: strawberry.Private[str]

    @strawberry.field(description="Its performance over a period, from its bot's own fills.")
    async def performance(
        self,
        period: Annotated[BotPerformancePeriod, strawberry.argument(description="The window, ending now.")] = (
            BotPerformancePeriod.ALL
        ),
    ) -> AgentPerformance:
        done = await actions.agent_performance(await a.Agent.get(id=self.agent_pk), period.name)
        return AgentPerformance(
            period=period,
            profit_loss=done.profit_loss,
            return_percent=done.profit_loss_percent,
            realized_pnl=done.realized_pnl,
            unrealized_pnl=done.unrealized_pnl,
            win_rate=done.win_rate,
            total_trades=done.total_trades,
            max_drawdown=done.max_drawdown,
            current_capital=done.current_capital,
        )

    @strawberry.field(description="Its latest fills, newest first.")
    async def recent_trades(
        self, first: Annotated[int, strawberry.argument(description="How many (1–100).")] = 20
    ) -> list[AgentTrade]:
        trades = await actions.recent_trades(await a.Agent.get(id=self.agent_pk), max(1, min(first, 100)))
        return [
            AgentTrade(
                symbol=t.symbol, side=Side(t.side), price=t.price, quantity=t.quantity, fee=t.fee, executed_at=t.at
            )
            for t in trades
        ]


@strawberry.type(description="What a subscription's copies hold of one symbol.")
class CopiedHolding:
    symbol: str = strawberry.field(description="Instrument symbol.")
    quantity: Decimal = strawberry.field(description="Bought by copies and not sold by them.")


@strawberry.type(description="One copy order of a subscription: the copy log.")
class CopyTrade:
    id: strawberry.ID = strawberry.field(description="Its identifier (the copy order id, copy-<id> on the order).")
    kind: CopyKind = strawberry.field(description="MIRROR (a fill of the agent) or CLOSE (at unsubscribe).")
    status: CopyStatus = strawberry.field(description="Where it is.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: Side = strawberry.field(description="Buy or sell.")
    agent_fill_id: strawberry.ID | None = strawberry.field(
        description="The agent's fill it copies (the id of Order.fills); null for CLOSE."
    )
    agent_quantity: Decimal = strawberry.field(description="The agent's fill quantity (0 for CLOSE).")
    agent_price: Decimal = strawberry.field(description="The agent's fill price (0 for CLOSE).")
    quantity: Decimal = strawberry.field(
        description="allocation ÷ capital × agentQuantity, rounded down to the instrument's lot (0 for CLOSE)."
    )
    order_quantity: Decimal | None = strawberry.field(
        description="What was sent (a sell at most what the copies hold); null until sized."
    )
    order_id: strawberry.ID | None = strawberry.field(description="Global ID of the order placed, once PLACED.")
    filled_quantity: Decimal = strawberry.field(description="What that order filled.")
    code: str | None = strawberry.field(description="Why it was REFUSED (the order path's code).")
    message: str | None = strawberry.field(description="What happened, for people.")
    created_at: datetime = strawberry.field(description="When it was written (the agent's fill, or unsubscribe).")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: a.CopyOrder) -> CopyTrade:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=CopyKind(row.kind),
            status=CopyStatus(row.status),
            symbol=row.symbol,
            side=Side(row.side),
            agent_fill_id=strawberry.ID(str(row.fill_id)) if row.fill_id is not None else None,
            agent_quantity=row.agent_quantity,
            agent_price=row.agent_price,
            quantity=row.quantity,
            order_quantity=row.order_quantity,
            order_id=strawberry.ID(to_global_id("Order", row.order_id)) if row.order_id else None,
            filled_quantity=row.filled_quantity,
            code=row.code,
            message=row.message,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A user copying an agent into one of their venue accounts.")
class AgentSubscription(Node):
    agent: Agent = strawberry.field(description="The agent copied.")
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the account the copies trade.")
    allocation: Decimal = strawberry.field(description="Quote asset set against the agent's capital.")
    status: SubscriptionStatus = strawberry.field(description="ACTIVE or ENDED.")
    holdings: list[CopiedHolding] = strawberry.field(description="What the copies hold now, per symbol.")
    created_at: datetime = strawberry.field(description="When it began.")
    ended_at: datetime | None = strawberry.field(description="When it ended.")
    subscription_pk: strawberry.Private[str]

    @strawberry.field(description="Its copy orders, newest first.")
    async def copy_log(self, info: strawberry.Info, first: First = None, after: After = None) -> Connection[CopyTrade]:
        page = await paginate(
            a.CopyOrder.filter(subscription_id=self.subscription_pk),
            first=first,
            after=after,
            cap=info.context.settings.max_page_size,
            convert=CopyTrade.from_model,
            order=("-id",),
        )
        return Connection.of(page)


@strawberry.input(description="A bot to publish as an agent.")
class PublishAgentInput:
    bot_id: strawberry.ID = strawberry.field(description="Global ID of the bot (any user's).")
    name: str = strawberry.field(description="1–100 characters.")
    profile: AgentProfile = strawberry.field(description="CONSERVATIVE, MODERATE or AGGRESSIVE.")
    description: str = strawberry.field(default="", description="At most 1000 characters.")


@strawberry.input(description="Which agents to list.")
class AgentFilter:
    profile: AgentProfile | None = strawberry.field(default=None, description="Only agents of this profile.")
    include_unpublished: bool = strawberry.field(
        default=False, description="Admins: unpublished agents too (ignored for others)."
    )


@strawberry.type(description="The agent after the change.")
class AgentChanged:
    agent: Agent = strawberry.field(description="The agent.")


@strawberry.type(description="The subscription after the change.")
class AgentSubscriptionChanged:
    subscription: AgentSubscription = strawberry.field(description="The subscription.")


AgentResult = Annotated[
    AgentChanged | InvalidInput | NotFound | Conflict,
    strawberry.union(
        "AgentResult",
        description="The agent, or why not (INVALID_INPUT naming the field, NOT_FOUND, CONFLICT when the bot is "
        "already published, AGENT_NOT_PUBLISHED).",
    ),
]
AgentSubscriptionResult = Annotated[
    AgentSubscriptionChanged | InvalidInput | NotFound | Conflict,
    strawberry.union(
        "AgentSubscriptionResult",
        description="The subscription, or why not (INVALID_INPUT naming the field, NOT_FOUND, CONFLICT when the "
        "account already copies the agent, SUBSCRIPTION_ENDED).",
    ),
]

__all__ = [
    "Agent",
    "AgentChanged",
    "AgentFilter",
    "AgentPerformance",
    "AgentProfile",
    "AgentResult",
    "AgentSubscription",
    "AgentSubscriptionChanged",
    "AgentSubscriptionResult",
    "AgentTrade",
    "CopiedHolding",
    "CopyKind",
    "CopyStatus",
    "CopyTrade",
    "PublishAgentInput",
    "SubscriptionStatus",
]
