"""API keys: the Query / Mutation fields (the actions are graphql_api/services/apikeys.py; a key is
authenticated in graphql_api/auth.py and its scopes enforced in graphql_api/permissions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graphql_api.audit import Action
from graphql_api.auth import utcnow
from graphql_api.context import Info
from graphql_api.pagination import parse_id, to_global_id
from graphql_api.permissions import IsAuthenticated
from graphql_api.services import apikeys as actions
from models import apikeys as m
from schema.apikeys import ApiKey, ApiKeyCreated, ApiKeyRevoked, ApiKeyScope, CreateApiKeyResult, RevokeApiKeyResult
from schema.common import GlobalID

from .results import actor, audited, result


def api_key_view(row: m.ApiKey) -> ApiKey:
    expired = row.expires_at is not None and row.expires_at <= utcnow()
    return ApiKey(
        id=strawberry.ID(to_global_id("ApiKey", row.id)),
        name=row.name,
        prefix=row.prefix,
        scopes=[ApiKeyScope[s] for s in row.scopes],
        ip_allow_list=list(row.allowed_ips),
        expires_at=row.expires_at,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        active=row.revoked_at is None and not expired,
    )


async def api_keys(info: Info) -> list[ApiKey]:
    rows = await m.ApiKey.filter(user_id=actor(info).user.id).order_by("-created_at", "-id")
    return [api_key_view(r) for r in rows]


async def create_api_key(
    info: Info,
    name: Annotated[str, strawberry.argument(description="Your name for it (1 to 100 characters).")],
    scopes: Annotated[list[ApiKeyScope], strawberry.argument(description="READ and/or TRADE.")],
    ip_allow_list: Annotated[
        list[str] | None,
        strawberry.argument(description="Addresses or CIDR networks it may be used from (up to 50); none: any."),
    ] = None,
    expires_at: Annotated[
        datetime | None, strawberry.argument(description="When it stops working (future); null: never.")
    ] = None,
) -> CreateApiKeyResult:
    action = actions.create(
        actor(info), name, [m.ApiScope(s.name) for s in scopes], list(ip_allow_list or []), expires_at
    )
    return await result(action, lambda made: ApiKeyCreated(api_key=api_key_view(made.key), secret=made.secret))


async def revoke_api_key(info: Info, id: GlobalID) -> RevokeApiKeyResult:
    action = actions.revoke(info.context.bus, actor(info), parse_id(id, "ApiKey"))
    return await result(action, lambda row: ApiKeyRevoked(api_key=api_key_view(row)))


@strawberry.type
class Query:
    api_keys: list[ApiKey] = strawberry.field(
        resolver=api_keys, permission_classes=[IsAuthenticated], description="Your API keys, newest first."
    )


@strawberry.type
class Mutation:
    create_api_key: CreateApiKeyResult = strawberry.mutation(
        resolver=audited(Action.API_KEY_CREATE)(create_api_key),
        permission_classes=[IsAuthenticated],
        description="Make an API key; its secret is returned this once (only its SHA-256 is stored).",
    )
    revoke_api_key: RevokeApiKeyResult = strawberry.mutation(
        resolver=audited(Action.API_KEY_REVOKE)(revoke_api_key),
        permission_classes=[IsAuthenticated],
        description="Revoke one of your API keys: refused everywhere within a second, its sockets closed.",
    )
