"""Agents (copy trading): the Query / Mutation fields (the actions are graphql_api/services/agents.py; the copies
are placed by graphql_api/engine/copying.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import strawberry

from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.ownership import Actor
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import IsAdmin, IsAuthenticated, IsTrader
from graphql_api.services import agents as actions
from models import agents as m
from schema.agents import (
    Agent,
    AgentChanged,
    AgentFilter,
    AgentProfile,
    AgentResult,
    AgentSubscription,
    AgentSubscriptionChanged,
    AgentSubscriptionResult,
    CopiedHolding,
    PublishAgentInput,
    SubscriptionStatus,
)
from schema.common import After, Connection, First, GlobalID

from .node import node_type
from .results import actor, audited, result


async def agent_views(rows: list[m.Agent]) -> list[Agent]:
    """Views of agents, their capitals and subscriber counts read in one query each."""
    capitals = await actions.capitals([str(r.bot_id) for r in rows])
    counts = await actions.subscriber_counts([str(r.id) for r in rows])
    return [
        Agent(
            id=strawberry.ID(to_global_id("Agent", row.id)),
            name=row.name,
            profile=AgentProfile[row.profile],
            description=row.description,
            bot_id=strawberry.ID(to_global_id("Bot", row.bot_id)),
            published=row.published,
            published_at=row.published_at,
            capital=capitals.get(str(row.bot_id), Decimal(0)),
            subscriber_count=counts.get(str(row.id), 0),
            agent_pk=str(row.id),
        )
        for row in rows
    ]


async def _agent_view(row: m.Agent) -> Agent:
    return (await agent_views([row]))[0]


async def subscription_views(rows: list[m.AgentSubscription]) -> list[AgentSubscription]:
    agents = {str(r.id): r for r in await m.Agent.filter(id__in=list({str(s.agent_id) for s in rows}))}
    views = {v.agent_pk: v for v in await agent_views(list(agents.values()))}
    return [
        AgentSubscription(
            id=strawberry.ID(to_global_id("AgentSubscription", row.id)),
            agent=views[str(row.agent_id)],
            venue_account_id=strawberry.ID(to_global_id("VenueAccount", row.account_id)),
            allocation=row.allocation,
            status=SubscriptionStatus[row.status],
            holdings=[
                CopiedHolding(symbol=symbol, quantity=Decimal(str(quantity)))
                for symbol, quantity in sorted((row.holdings or {}).items())
            ],
            created_at=row.created_at,
            ended_at=row.ended_at,
            subscription_pk=str(row.id),
        )
        for row in rows
    ]


def _may_see_agent(viewer: Actor, row: m.Agent) -> bool:
    return row.published or viewer.is_admin


async def _load_agent(viewer: Actor, pk: str) -> m.Agent | None:
    row = await m.Agent.get_or_none(id=pk)
    return row if row is not None and _may_see_agent(viewer, row) else None


async def _load_subscription(viewer: Actor, pk: str) -> m.AgentSubscription | None:
    row = await m.AgentSubscription.get_or_none(id=pk)
    if row is None or not (str(row.user_id) == viewer.user_id or viewer.is_admin):
        return None
    return row


# -- queries -------------------------------------------------------------------------------------------------


async def agents(
    info: Info,
    filter: Annotated[AgentFilter | None, strawberry.argument(description="Profile; unpublished (admins).")] = None,
    first: First = None,
    after: After = None,
) -> Connection[Agent]:
    viewer = actor(info)
    query = m.Agent.all()
    if filter is None or not (filter.include_unpublished and viewer.is_admin):
        query = query.filter(published=True)
    if filter is not None and filter.profile is not None:
        query = query.filter(profile=m.AgentProfile(filter.profile.value))
    page = await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=lambda r: r)
    views = await agent_views([row for _, row in page.items])
    page.items = [(cursor, view) for (cursor, _), view in zip(page.items, views, strict=True)]
    return Connection.of(page)


async def agent(info: Info, id: GlobalID) -> Agent | None:
    row = await _load_agent(actor(info), parse_id(id, "Agent"))
    return await _agent_view(row) if row is not None else None


@node_type("Agent", Agent)
async def agent_node(info: Info, pk: str) -> Agent | None:
    row = await _load_agent(actor(info), pk)
    return await _agent_view(row) if row is not None else None


@node_type("AgentSubscription", AgentSubscription)
async def subscription_node(info: Info, pk: str) -> AgentSubscription | None:
    row = await _load_subscription(actor(info), pk)
    return (await subscription_views([row]))[0] if row is not None else None


async def my_agent_subscriptions(
    info: Info,
    active_only: Annotated[bool, strawberry.argument(description="Only ACTIVE subscriptions.")] = False,
    first: First = None,
    after: After = None,
) -> Connection[AgentSubscription]:
    query = m.AgentSubscription.filter(user_id=actor(info).user.id)
    if active_only:
        query = query.filter(status=m.SubscriptionStatus.ACTIVE)
    page = await paginate(query, first=first, after=after, cap=info.context.settings.max_page_size, convert=lambda r: r)
    views = await subscription_views([row for _, row in page.items])
    page.items = [(cursor, view) for (cursor, _), view in zip(page.items, views, strict=True)]
    return Connection.of(page)


# -- mutations -----------------------------------------------------------------------------------------------


async def _agent_result(action: Any) -> Any:
    answer = await result(action, lambda row: row)
    if isinstance(answer, m.Agent):
        return AgentChanged(agent=await _agent_view(answer))
    return answer


async def _subscription_result(action: Any) -> Any:
    answer = await result(action, lambda row: row)
    if isinstance(answer, m.AgentSubscription):
        return AgentSubscriptionChanged(subscription=(await subscription_views([answer]))[0])
    return answer


async def publish_agent(
    info: Info, input: Annotated[PublishAgentInput, strawberry.argument(description="The bot and how to list it.")]
) -> AgentResult:
    spec = actions.AgentSpec(
        bot_id=parse_id(input.bot_id, "Bot", "input.botId"),
        name=input.name,
        profile=m.AgentProfile(input.profile.value),
        description=input.description,
    )
    return await _agent_result(actions.publish_agent(info.context, actor(info), spec))


async def unpublish_agent(info: Info, id: GlobalID) -> AgentResult:
    return await _agent_result(actions.unpublish_agent(info.context, actor(info), parse_id(id, "Agent")))


async def subscribe_to_agent(
    info: Info,
    agent_id: Annotated[strawberry.ID, strawberry.argument(description="Global ID of a published agent.")],
    venue_account_id: Annotated[
        strawberry.ID, strawberry.argument(description="Global ID of your PAPER spot account the copies trade.")
    ],
    allocation: Annotated[
        Decimal, strawberry.argument(description="Positive, in the quote asset: copies are allocation ÷ capital.")
    ],
) -> AgentSubscriptionResult:
    return await _subscription_result(
        actions.subscribe(
            info.context,
            actor(info),
            parse_id(agent_id, "Agent", "agentId"),
            parse_id(venue_account_id, "VenueAccount", "venueAccountId"),
            allocation,
        )
    )


async def unsubscribe_from_agent(
    info: Info,
    subscription_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Global ID of your subscription.")
    ] = None,
    agent_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Or the agent's, when you copy it into one account.")
    ] = None,
    close_positions: Annotated[
        bool, strawberry.argument(description="Sell what the copies hold, at market (CLOSE rows of the copy log).")
    ] = False,
) -> AgentSubscriptionResult:
    return await _subscription_result(
        actions.unsubscribe(
            info.context,
            actor(info),
            parse_id(subscription_id, "AgentSubscription", "subscriptionId") if subscription_id else None,
            parse_id(agent_id, "Agent", "agentId") if agent_id else None,
            close_positions,
        )
    )


@strawberry.type
class Query:
    agents: Connection[Agent] = strawberry.field(
        resolver=agents,
        permission_classes=[IsAuthenticated],
        description="Published agents (copy trading), newest first.",
    )
    agent: Agent | None = strawberry.field(
        resolver=agent, permission_classes=[IsAuthenticated], description="One agent, if published (admins: any)."
    )
    my_agent_subscriptions: Connection[AgentSubscription] = strawberry.field(
        resolver=my_agent_subscriptions,
        permission_classes=[IsAuthenticated],
        description="Your subscriptions to agents with their copy logs, newest first.",
    )


@strawberry.type
class Mutation:
    publish_agent: AgentResult = strawberry.mutation(
        resolver=audited(Action.AGENT_PUBLISH)(publish_agent),
        permission_classes=[IsAdmin],
        description="Admins: publish a bot as an agent that users can copy (again, if it was unpublished).",
    )
    unpublish_agent: AgentResult = strawberry.mutation(
        resolver=audited(Action.AGENT_UNPUBLISH)(unpublish_agent),
        permission_classes=[IsAdmin],
        description="Admins: take an agent off the catalog; its fills are no longer copied.",
    )
    subscribe_to_agent: AgentSubscriptionResult = strawberry.mutation(
        resolver=audited(Action.AGENT_SUBSCRIBE)(subscribe_to_agent),
        permission_classes=[IsTrader],
        description="Copy an agent from now on: each of its fills is placed on your account as a MARKET order of "
        "allocation ÷ its capital × the fill's quantity (whole lots), through the normal order path.",
    )
    unsubscribe_from_agent: AgentSubscriptionResult = strawberry.mutation(
        resolver=audited(Action.AGENT_UNSUBSCRIBE)(unsubscribe_from_agent),
        permission_classes=[IsTrader],
        description="Stop copying (by subscriptionId, or agentId); closePositions sells what the copies hold.",
    )
