"""API keys, GraphQL-free: create (the secret shown once, only its SHA-256 stored), revoke, and the checks a
request presenting one goes through (``graphql_api.auth.principal_from_api_key``).

A key is ``tak_`` followed by 43 URL-safe characters (256 random bits): a fast hash is enough to store it,
as nobody can guess such a secret. Scopes: READ lets the key run queries and subscriptions, TRADE the
trading mutations (``graphql_api.permissions.TRADE_MUTATIONS``); no other mutation is open to a key, so a key
cannot make keys, change the account or move funds.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from models.apikeys import ApiKey, ApiScope
from models.audit import Outcome

from .. import audit
from ..audit import Action
from ..auth import API_KEYS, token_hash, utcnow
from ..ownership import Actor
from ..pubsub import Bus
from ..rejections import Invalid, Missing
from ..sessions import announce_session_ended

PREFIX = "tak_"
MAX_KEYS = 20


@dataclass
class CreatedKey:
    key: ApiKey
    secret: str


def _networks(entries: list[str]) -> list[str]:
    checked = []
    for i, entry in enumerate(entries):
        try:
            checked.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise Invalid(f"{entry!r} is not an IP address or network", field=f"ipAllowList.{i}") from None
    return checked


async def create(
    actor: Actor, name: str, scopes: list[ApiScope], ip_allow_list: list[str], expires_at: datetime | None
) -> CreatedKey:
    async with audit.refusals(actor, Action.API_KEY_CREATE, target_type="ApiKey"):
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise Invalid("name must be 1 to 100 characters", field="name")
        if not scopes:
            raise Invalid("a key needs at least one scope (READ, TRADE)", field="scopes")
        if len(ip_allow_list) > 50:
            raise Invalid("at most 50 addresses or networks", field="ipAllowList")
        allowed = _networks(ip_allow_list)
        if expires_at is not None and expires_at <= utcnow():
            raise Invalid("expiresAt must be in the future", field="expiresAt")
        secret = PREFIX + secrets.token_urlsafe(32)
        async with in_transaction() as conn:
            live = ApiKey.filter(user_id=actor.user.id, revoked_at=None).using_db(conn)
            if await live.count() >= MAX_KEYS:
                raise Invalid(f"at most {MAX_KEYS} live keys; revoke one first", field="name")
            row = await ApiKey.create(
                user_id=actor.user.id,
                name=name,
                prefix=secret[:12],
                key_hash=token_hash(secret),
                scopes=sorted({s.value for s in scopes}),
                allowed_ips=allowed,
                expires_at=expires_at,
                using_db=conn,
            )
            await audit.by(
                actor,
                Action.API_KEY_CREATE,
                Outcome.SUCCESS,
                target_type="ApiKey",
                target_id=row.id,
                detail={"name": name, "scopes": row.scopes},
                conn=conn,
            )
        return CreatedKey(row, secret)


async def revoke(bus: Bus, actor: Actor, key_id: str) -> ApiKey:
    """Revoke a key: refused at once by this process and, through the bus, within a second by every other one
    (the same path as an ended session); its sockets are closed with 4403."""
    async with (
        audit.refusals(actor, Action.API_KEY_REVOKE, target_type="ApiKey", target_id=key_id),
        in_transaction() as conn,
    ):
        row = await ApiKey.filter(id=key_id, user_id=actor.user.id).using_db(conn).select_for_update().first()
        if row is None:
            raise Missing("no such API key", field="id")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            await row.save(using_db=conn)
        await audit.by(actor, Action.API_KEY_REVOKE, Outcome.SUCCESS, target_type="ApiKey", target_id=row.id, conn=conn)
    API_KEYS.forget_session(row.key_hash)
    await announce_session_ended(bus, row.key_hash, "API key revoked")
    return row
