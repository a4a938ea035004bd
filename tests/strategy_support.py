"""GraphQL documents and helpers for strategies and backtests."""

from __future__ import annotations

from typing import Any

from graphql_api.client import GraphQLClient

PARAMETERS = """
parameters {
  __typename
  ... on TrendFollowingParameters { fastPeriod slowPeriod positionSize stopLoss takeProfit }
  ... on MeanReversionParameters { period deviations positionSize }
  ... on GridParameters { levels spacing orderSize }
  ... on MarketMakingParameters { spread orderSize maxInventory }
  ... on ArbitrageParameters { minSpread positionSize feeRate }
}"""
STRATEGY_FIELDS = f"""id name description type status ownerId {PARAMETERS}
performance {{ backtestId totalReturn sharpe maxDrawdown winRate profitFactor averageWin averageLoss totalTrades }}"""
RESULT = f"""__typename ... on StrategyChanged {{ strategy {{ {STRATEGY_FIELDS} }} }}
... on UserError {{ message code field }}"""
CREATE = f"mutation($i: StrategyInput!) {{ createStrategy(input: $i) {{ {RESULT} }} }}"
UPDATE = f"mutation($id: ID!, $i: StrategyInput!) {{ updateStrategy(id: $id, input: $i) {{ {RESULT} }} }}"
DELETE = """mutation($id: ID!) { deleteStrategy(id: $id) { __typename ... on StrategyDeleted { deletedId }
... on UserError { message code field } } }"""
STRATEGY = f"query($id: ID!) {{ strategy(id: $id) {{ {STRATEGY_FIELDS} }} }}"
STRATEGIES = f"""query($f: StrategyFilter, $first: Int, $after: String) {{ strategies(filter: $f, first: $first, after: $after) {{
  totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {STRATEGY_FIELDS} }} }} }} }}"""


async def create_strategy(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    """The createStrategy result (success or error member) for an input with sensible defaults."""
    data = await client.query(CREATE, {"i": {"name": "trend", "type": "TREND_FOLLOWING", **fields}})
    result: dict[str, Any] = data["createStrategy"]
    return result


async def strategy_id(client: GraphQLClient, **fields: Any) -> str:
    created = await create_strategy(client, **fields)
    assert created["__typename"] == "StrategyChanged", created
    sid: str = created["strategy"]["id"]
    return sid
