"""Domain actions, one module per domain: check, write, audit and publish in one place, with no GraphQL.

A resolver maps its input to one of these calls; a bot, a trading session or a copy-trading mirror calls
the same function with an ``Actor`` and the process's ``Deps``. Refusals are raised as typed
``graphql_api.rejections`` and every action writes its audit row (success or refusal) itself.
"""
