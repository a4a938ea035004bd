"""Tortoise models, one module per domain. Nothing here imports from the API layers."""

# Every module listed here belongs to the single tortoise app "trading" (see graphql_api.db).
MODEL_MODULES = [
    "models.market",
    "models.identity",
    "models.audit",
    "models.venues",
    "models.orders",
    "models.positions",
    "models.portfolio",
    "models.killswitch",
    "models.alerts",
    "models.indicators",
    "models.compliance",
    "models.perps",
    "models.funds",
    "models.leaderboard",
    "models.referrals",
    "models.strategies",
    "models.backtests",
    "models.reconciliation",
    "models.preferences",
    "models.apikeys",
    "models.trading_sessions",
    "models.bots",
    "models.vaults",
    "models.agents",
]

# Model docstrings become table comments in migrations, and tortoise does not escape quotes or backticks
# in them on SQLite (and splits on semicolons): keep model docstrings free of ' ` and ; characters.
