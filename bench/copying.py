"""Copy trading at scale: N subscribers to one agent, time from the agent's fill to the last mirrored order.

`python -m bench.copying [--subscribers 1000] [--leg sqlite|postgres] [--fills 3]`

The app's lifespan runs in this process (feed, copy dispatcher; the bot runner off, so the agent's bot only
trades when the bench places its order), with its database set up through the domain actions: users,
funded paper accounts, a strategy and a RUNNING bot, the agent and its subscriptions. Each round places one
MARKET buy for the agent's bot through ``place_order``, as the bot runner would; its fill writes one copy
row per subscriber in its transaction, and the dispatcher places the copies. The figure is, from the
database's own timestamps, the time from the agent's fill to each copy order's creation (p50, p99, last).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg

from graphql_api.app import create_app
from graphql_api.audit import Action
from graphql_api.ownership import Actor
from graphql_api.services import agents, bots, strategies
from graphql_api.services.orders import OrderSpec, place_order
from graphql_api.services.venues import ConnectSpec, connect_venue
from graphql_api.settings import Settings
from models.agents import OPEN_COPIES, AgentProfile, CopyOrder
from models.bots import RiskLevel
from models.identity import Role, User
from models.market import LastPrice
from models.orders import Fill, Order, OrderType, Side
from models.strategies import StrategyType
from models.venues import Environment

from .console import progress
from .server import POSTGRES_ADMIN_URL, REDIS_URL, SECRET_KEY
from .stats import percentiles

DATABASE = "bench_copying"
CAPITAL = Decimal(10000)


async def _fresh_postgres() -> str:
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + DATABASE


async def _user(role: Role = Role.TRADER) -> Actor:
    tag = uuid.uuid4().hex[:12]
    user = await User.create(email=f"copy-{tag}@bench.example", role=role, referral_code=tag[:10].upper())
    return Actor(user, "bench")


async def _account(resources: object, actor: Actor, balance: str) -> str:
    spec = ConnectSpec(venue_id="binance", environment=Environment.PAPER, starting_balance=Decimal(balance))
    return str((await connect_venue(resources, actor, spec)).id)  # type: ignore[arg-type]


async def _until(done: Callable[[], Awaitable[bool]]) -> None:
    while True:
        if await done():
            return
        await asyncio.sleep(0.02)


async def _all_placed(fill_ids: list[int]) -> bool:
    return not await CopyOrder.filter(fill_id__in=fill_ids, status__in=list(OPEN_COPIES)).exists()


async def run(leg: str, subscribers: int, fills: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-copying-"))
    env = {
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": SECRET_KEY,
        "FEED_INTERVAL": "0.25",
        "BOTS_ENABLED": "false",
        "COPY_DISPATCH_INTERVAL": "0.05",
    }
    if leg == "postgres":
        env.update(DATABASE_URL=await _fresh_postgres(), BROADCAST_URL=REDIS_URL, BROADCAST_NAMESPACE="bench-copying")
    settings = Settings.from_env(env)
    app = create_app(settings)
    resources = app.state.resources
    async with app.router.lifespan_context(app):
        progress(f"[{leg}] setting up {subscribers} subscribers")
        admin = await _user(Role.ADMIN)
        owner = await _user()
        agent_account = await _account(resources, owner, "1000000")
        strategy = await strategies.create_strategy(
            owner, strategies.StrategySpec(name="bench", type=StrategyType.TREND_FOLLOWING)
        )
        bot = await bots.create_bot(
            resources,
            owner,
            bots.BotSpec(
                name="agent",
                strategy_id=str(strategy.id),
                account_id=agent_account,
                environment=Environment.PAPER,
                risk_level=RiskLevel.MEDIUM,
                allocated_capital=CAPITAL,
                max_position_size=CAPITAL,
                risk_per_trade=Decimal(10),
                allowed_pairs=["BTC"],
                interval="1d",
            ),
        )
        await bots.transition(resources, owner, str(bot.id), Action.BOT_START)
        agent = await agents.publish_agent(
            resources, admin, agents.AgentSpec(bot_id=str(bot.id), name="bench", profile=AgentProfile.MODERATE)
        )
        for n in range(subscribers):
            actor = await _user()
            account = await _account(resources, actor, "100000")
            await agents.subscribe(resources, actor, str(agent.id), account, Decimal(5000))
            if (n + 1) % 200 == 0:
                progress(f"[{leg}]   {n + 1} subscribed")
        await _until(LastPrice.exists)

        for round_ in range(fills):
            spec = OrderSpec(
                account_id=agent_account,
                symbol="BTC",
                side=Side.BUY,
                type=OrderType.MARKET,
                quantity=Decimal("0.01"),
                bot_id=str(bot.id),
            )
            started = time.perf_counter()
            placed = await place_order(resources, owner, spec)
            fill_ids = await Fill.filter(order_id=placed.order.id).values_list("id", flat=True)
            await _until(functools.partial(_all_placed, fill_ids))
            wall = time.perf_counter() - started
            fill_at = min(await Fill.filter(id__in=fill_ids).values_list("created_at", flat=True))
            order_ids = await CopyOrder.filter(fill_id__in=fill_ids).values_list("order_id", flat=True)
            created = await Order.filter(id__in=[o for o in order_ids if o]).values_list("created_at", flat=True)
            delays = sorted((at - fill_at).total_seconds() * 1000 for at in created)
            p = percentiles(delays, (50, 99))
            print(  # noqa: T201 - the figures
                f"{leg} round {round_ + 1}: {len(created)} of {subscribers} copies placed; fill → copy order "
                f"p50 {p['p50'] or 0:.0f} ms, p99 {p['p99'] or 0:.0f} ms, last {delays[-1]:.0f} ms "
                f"(wall {wall * 1000:.0f} ms)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--fills", type=int, default=3)
    parser.add_argument("--leg", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    asyncio.run(run(args.leg, args.subscribers, args.fills))


if __name__ == "__main__":
    main()
