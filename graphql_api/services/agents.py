"""Agent actions (copy trading): publish and unpublish a bot as an agent, subscribe and unsubscribe.

Each action validates (each failure naming its field), writes and audits in one transaction. Mirroring the
agent's fills is graphql_api/engine/copying.py: the copy rows are written in each fill's transaction and
placed by the dispatcher; unsubscribing with closePositions writes CLOSE rows the same dispatcher places.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.agents import (
    Agent,
    AgentProfile,
    AgentSubscription,
    CopyKind,
    CopyOrder,
    CopyStatus,
    SubscriptionStatus,
)
from models.audit import Outcome
from models.bots import Bot
from models.orders import Fill, Side
from models.venues import AccountStatus, Environment

from .. import audit
from ..audit import Action
from ..auth import utcnow
from ..engine.matching import lock_account
from ..engine.perps import PERP_VENUE
from ..ownership import Actor
from ..rejections import Conflict, Invalid, Missing
from .bots import Performance, performance
from .deps import Deps
from .orders import trading_account

ZERO = Decimal(0)


@dataclass
class AgentSpec:
    bot_id: str
    name: str
    profile: AgentProfile
    description: str | None = None


async def publish_agent(deps: Deps, actor: Actor, spec: AgentSpec) -> Agent:
    """Publish a bot (any user's) as an agent; a bot whose agent was unpublished is published again."""
    async with audit.refusals(actor, Action.AGENT_PUBLISH, target_type="Agent", detail={"botId": spec.bot_id}):
        name = spec.name.strip()
        if not 1 <= len(name) <= 100:
            raise Invalid("name must be 1 to 100 characters", field="input.name")
        description = (spec.description or "").strip()
        if len(description) > 1000:
            raise Invalid("description must be at most 1000 characters", field="input.description")
        bot = await Bot.get_or_none(id=spec.bot_id)
        if bot is None:
            raise Missing("no such bot", field="input.botId")
        try:
            async with in_transaction() as conn:
                agent = await Agent.filter(bot_id=bot.id).using_db(conn).select_for_update().first()
                if agent is not None and agent.published:
                    raise Conflict("this bot is already published as an agent", field="input.botId")
                if agent is None:
                    agent = Agent(bot_id=bot.id)
                agent.name, agent.profile, agent.description = name, spec.profile, description
                agent.published, agent.published_by, agent.published_at = True, actor.user.id, utcnow()
                await agent.save(using_db=conn)
                await audit.by(
                    actor,
                    Action.AGENT_PUBLISH,
                    Outcome.SUCCESS,
                    target_type="Agent",
                    target_id=agent.id,
                    detail={"botId": str(bot.id), "profile": spec.profile.value},
                    conn=conn,
                )
        except IntegrityError:
            # Two publishes of one bot raced past the check (SQLite has no row to lock yet): one stands.
            raise Conflict("this bot is already published as an agent", field="input.botId") from None
    return agent


async def unpublish_agent(deps: Deps, actor: Actor, agent_id: str) -> Agent:
    """Take an agent off the catalog: its fills are no longer copied (subscriptions stay, and resume if it is
    published again); nobody can subscribe to it."""
    async with (
        audit.refusals(actor, Action.AGENT_UNPUBLISH, target_type="Agent", target_id=agent_id),
        in_transaction() as conn,
    ):
        agent = await Agent.filter(id=agent_id).using_db(conn).select_for_update().first()
        if agent is None:
            raise Missing("no such agent", field="id")
        if not agent.published:
            raise Invalid("the agent is not published", code="AGENT_NOT_PUBLISHED", field="id")
        agent.published = False
        await agent.save(using_db=conn)
        await audit.by(
            actor, Action.AGENT_UNPUBLISH, Outcome.SUCCESS, target_type="Agent", target_id=agent.id, conn=conn
        )
    return agent


async def subscribe(deps: Deps, actor: Actor, agent_id: str, account_id: str, allocation: Decimal) -> AgentSubscription:
    """Copy an agent into one of the caller's PAPER spot accounts from now on, in proportion allocation ÷ the
    agent's capital."""
    async with audit.refusals(actor, Action.AGENT_SUBSCRIBE, target_type="Agent", target_id=agent_id):
        agent = await Agent.get_or_none(id=agent_id, published=True)
        if agent is None:
            raise Missing("no such agent", field="agentId")
        account = await trading_account(actor, account_id, field="venueAccountId")
        if account.environment != Environment.PAPER or account.venue_id == PERP_VENUE:
            raise Invalid("copies trade a PAPER spot account", field="venueAccountId")
        if account.status != AccountStatus.CONNECTED:
            raise Invalid("the venue account is not connected", code="ACCOUNT_DISCONNECTED", field="venueAccountId")
        bot = await Bot.get(id=agent.bot_id)
        if bot.account_id == account.id:
            raise Invalid("the agent itself trades this account: copy into another", field="venueAccountId")
        if not allocation.is_finite() or allocation <= 0:
            raise Invalid("allocation must be positive", field="allocation")
        async with in_transaction() as conn:
            # The account lock makes "one active copy of an agent per account" exact under racing requests.
            await lock_account(conn, str(account.id))
            if await (
                AgentSubscription.filter(agent_id=agent.id, account_id=account.id, status=SubscriptionStatus.ACTIVE)
                .using_db(conn)
                .exists()
            ):
                raise Conflict("this account already copies the agent", field="agentId")
            sub = await AgentSubscription.create(
                agent_id=agent.id,
                user_id=actor.user.id,
                account_id=account.id,
                allocation=allocation,
                holdings={},
                using_db=conn,
            )
            await audit.by(
                actor,
                Action.AGENT_SUBSCRIBE,
                Outcome.SUCCESS,
                target_type="AgentSubscription",
                target_id=sub.id,
                detail={"agentId": str(agent.id), "venueAccountId": str(account.id), "allocation": str(allocation)},
                conn=conn,
            )
    return sub


async def unsubscribe(
    deps: Deps, actor: Actor, subscription_id: str | None, agent_id: str | None, close_positions: bool
) -> AgentSubscription:
    """End one of the caller's subscriptions: copies not yet placed are cancelled; with ``close_positions``
    what the copies hold is sold at market (CLOSE rows of the copy log, placed by the dispatcher)."""
    target = subscription_id or agent_id or ""
    async with audit.refusals(actor, Action.AGENT_UNSUBSCRIBE, target_type="AgentSubscription", target_id=target):
        sub = await _own_subscription(actor, subscription_id, agent_id)
        async with in_transaction() as conn:
            locked = await AgentSubscription.filter(id=sub.id).using_db(conn).select_for_update().get()
            if locked.status != SubscriptionStatus.ACTIVE:
                field = "subscriptionId" if subscription_id else "agentId"
                raise Invalid("the subscription already ended", code="SUBSCRIPTION_ENDED", field=field)
            locked.status, locked.ended_at = SubscriptionStatus.ENDED, utcnow()
            await locked.save(using_db=conn)
            cancelled = await (
                CopyOrder.filter(subscription_id=locked.id, status=CopyStatus.PENDING)
                .using_db(conn)
                .update(status=CopyStatus.CANCELED, message="the subscription ended")
            )
            closing = []
            if close_positions:
                # One row per symbol held or being copied now: the dispatcher sells what is held when it gets
                # there, after every earlier copy of this subscription finished.
                claimed = await (
                    CopyOrder.filter(subscription_id=locked.id, status=CopyStatus.CLAIMED)
                    .using_db(conn)
                    .values_list("symbol", flat=True)
                )
                for symbol in sorted(set(locked.holdings or {}) | set(claimed)):
                    closing.append(
                        CopyOrder(
                            kind=CopyKind.CLOSE,
                            fill_id=None,
                            subscription_id=locked.id,
                            agent_id=locked.agent_id,
                            user_id=locked.user_id,
                            account_id=locked.account_id,
                            symbol=symbol,
                            side=Side.SELL.value,
                            agent_quantity=ZERO,
                            agent_price=ZERO,
                            quantity=ZERO,
                            status=CopyStatus.PENDING,
                        )
                    )
                if closing:
                    await CopyOrder.bulk_create(closing, using_db=conn)
            await audit.by(
                actor,
                Action.AGENT_UNSUBSCRIBE,
                Outcome.SUCCESS,
                target_type="AgentSubscription",
                target_id=locked.id,
                detail={"closePositions": close_positions, "cancelledCopies": cancelled, "closing": len(closing)},
                conn=conn,
            )
    return locked


async def _own_subscription(actor: Actor, subscription_id: str | None, agent_id: str | None) -> AgentSubscription:
    if subscription_id is not None:
        sub = await AgentSubscription.get_or_none(id=subscription_id, user_id=actor.user.id)
        if sub is None:
            raise Missing("no such subscription of yours", field="subscriptionId")
        return sub
    if agent_id is None:
        raise Invalid("give subscriptionId or agentId", field="subscriptionId")
    active = await AgentSubscription.filter(
        agent_id=agent_id, user_id=actor.user.id, status=SubscriptionStatus.ACTIVE
    ).limit(2)
    if not active:
        raise Missing("you do not copy this agent", field="agentId")
    if len(active) > 1:
        raise Invalid("you copy this agent into several accounts: give subscriptionId", field="agentId")
    return active[0]


# -- reads ----------------------------------------------------------------------------------------------------


@dataclass
class Trade:
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    at: datetime


async def agent_performance(agent: Agent, period: str) -> Performance:
    """The agent's figures over ``period``: its bot's, from the bot's own fills."""
    return await performance(await Bot.get(id=agent.bot_id), period)


async def recent_trades(agent: Agent, limit: int) -> list[Trade]:
    rows = await Fill.filter(order__bot_id=agent.bot_id).order_by("-id").limit(limit)
    return [Trade(r.symbol, Side(r.side), r.price, r.quantity, r.fee, r.created_at) for r in rows]


async def subscriber_counts(agent_ids: list[str]) -> dict[str, int]:
    rows = await AgentSubscription.filter(agent_id__in=agent_ids, status=SubscriptionStatus.ACTIVE).values_list(
        "agent_id", flat=True
    )
    counts: dict[str, int] = {}
    for agent_id in rows:
        counts[str(agent_id)] = counts.get(str(agent_id), 0) + 1
    return counts


async def capitals(bot_ids: list[str]) -> dict[str, Decimal]:
    return {str(k): v for k, v in await Bot.filter(id__in=bot_ids).values_list("id", "allocated_capital")}
