"""Domain logic the schema calls: permissions, validation, then models and engines. One module per domain."""
