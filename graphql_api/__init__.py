"""One GraphQL API for trading platforms: `python -m graphql_api` serves it; `create_app` builds it."""
