"""API key types: the key as listed (never its secret), the secret shown once at creation, and results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import apikeys as k

from .common import InvalidInput, Node, NotFound, enum_from

if TYPE_CHECKING:
    from models.apikeys import ApiScope as ApiKeyScope
else:
    ApiKeyScope = enum_from(
        k.ApiScope,
        "What an API key may do.",
        {
            "READ": "Queries and subscriptions.",
            "TRADE": "The trading mutations: orders, positions, leverage, trading sessions, bots' lifecycle, the "
            "dead-man switch. No other mutation is open to a key.",
        },
        name="ApiKeyScope",
    )


@strawberry.type(
    description="A long-lived credential for a service or bot, sent as `Authorization: ApiKey <secret>` (HTTP) "
    "or as the connection_init payload's authorization (WebSocket)."
)
class ApiKey(Node):
    name: str = strawberry.field(description="Your name for it.")
    prefix: str = strawberry.field(description="The secret's first characters, to tell keys apart.")
    scopes: list[ApiKeyScope] = strawberry.field(description="What it may do.")
    ip_allow_list: list[str] = strawberry.field(
        description="Addresses or networks (CIDR) it may be used from; empty: any."
    )
    expires_at: datetime | None = strawberry.field(description="When it stops working (null: never).")
    created_at: datetime = strawberry.field(description="When it was made.")
    last_used_at: datetime | None = strawberry.field(description="When it was last used (to within 30 s).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")
    active: bool = strawberry.field(description="Neither revoked nor expired.")


@strawberry.type(description="The key was made; its secret is shown this once (only its hash is stored).")
class ApiKeyCreated:
    api_key: ApiKey = strawberry.field(description="The key.")
    secret: str = strawberry.field(description="The secret to send as `Authorization: ApiKey <secret>`.")


@strawberry.type(description="The key is revoked: every process refuses it within a second.")
class ApiKeyRevoked:
    api_key: ApiKey = strawberry.field(description="The key.")


CreateApiKeyResult = Annotated[
    ApiKeyCreated | InvalidInput, strawberry.union("CreateApiKeyResult", description="The key, or why not.")
]
RevokeApiKeyResult = Annotated[
    ApiKeyRevoked | NotFound, strawberry.union("RevokeApiKeyResult", description="The revoked key, or why not.")
]
