"""Admins' user management: approve, suspend, change role, delete — never leaving no active admin.

Each action reads the user after taking the user-table lock that guards the last-admin rule, changes it,
audits the change in the same transaction (the admin acted on the user) and then tells the user's open
sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import Role, User, UserStatus
from models.identity import Session as SessionRow

from ... import audit
from ...audit import Action
from ...auth import utcnow
from ...ownership import Actor
from ...rejections import Invalid, Missing
from ...sessions import announce_user_changed
from ..deps import Deps
from .credentials import lock_users


def _last_admin() -> Invalid:
    return Invalid("the last active admin cannot be removed or demoted", code="LAST_ADMIN", field="id")


async def _active_admins(conn: BaseDBAsyncClient) -> int:
    count: int = await User.filter(role=Role.ADMIN, status=UserStatus.ACTIVE).using_db(conn).count()
    return count


@dataclass
class _Change:
    """One admin change in progress: the locked row, and what the audit row will say."""

    conn: BaseDBAsyncClient
    row: User
    detail: dict[str, Any]

    async def is_last_admin(self) -> bool:
        return Role(self.row.role) == Role.ADMIN and await _active_admins(self.conn) <= 1


@asynccontextmanager
async def _changing(actor: Actor, action: Action, pk: str) -> AsyncIterator[_Change]:
    """Lock the user table, load user ``pk`` (Missing if absent), let the caller change it, and audit."""
    async with in_transaction() as conn:
        await lock_users(conn)
        row = await User.get_or_none(id=pk, using_db=conn)
        if row is None:
            raise Missing("no such user", field="id")
        change = _Change(conn, row, {})
        yield change
        await audit.record(
            action,
            Outcome.SUCCESS,
            actor=actor.user,
            target_type="User",
            target_id=pk,
            ip=actor.ip,
            detail=change.detail,
            conn=conn,
        )


async def approve_user(deps: Deps, actor: Actor, pk: str) -> User:
    async with _changing(actor, Action.ADMIN_APPROVE_USER, pk) as change:
        if change.row.status == UserStatus.ACTIVE:
            raise Invalid("the user is already active", code="ALREADY_ACTIVE", field="id")
        change.detail = {"from": change.row.status}
        await User.filter(id=pk).using_db(change.conn).update(status=UserStatus.ACTIVE, suspended_reason=None)
    await announce_user_changed(deps.bus, pk, "approved")
    return await User.get(id=pk)


async def suspend_user(deps: Deps, actor: Actor, pk: str, reason: str) -> User:
    """Block the account and end its sessions (its open sockets close within seconds)."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise Invalid("reason must be 1 to 500 characters", field="reason")
    async with _changing(actor, Action.ADMIN_SUSPEND_USER, pk) as change:
        if change.row.status == UserStatus.SUSPENDED:
            raise Invalid("the user is already suspended", code="ALREADY_SUSPENDED", field="id")
        if await change.is_last_admin():
            raise _last_admin()
        await User.filter(id=pk).using_db(change.conn).update(status=UserStatus.SUSPENDED, suspended_reason=reason)
        ended = (
            await SessionRow.filter(user_id=pk, revoked_at=None)
            .using_db(change.conn)
            .update(revoked_at=utcnow(), revoked_reason="user suspended")
        )
        change.detail = {"reason": reason, "endedSessions": ended}
    await announce_user_changed(deps.bus, pk, "suspended")
    return await User.get(id=pk)


async def set_user_role(deps: Deps, actor: Actor, pk: str, role: Role) -> User:
    async with _changing(actor, Action.ADMIN_SET_USER_ROLE, pk) as change:
        before = Role(change.row.role)
        if role != Role.ADMIN and await change.is_last_admin():
            raise _last_admin()
        await User.filter(id=pk).using_db(change.conn).update(role=role)
        change.detail = {"from": before.value, "to": role.value}
    await announce_user_changed(deps.bus, pk, "role changed")
    return await User.get(id=pk)


async def delete_user(deps: Deps, actor: Actor, pk: str) -> None:
    """Delete the account (never the last active admin); its audit rows stay, labelled."""
    async with _changing(actor, Action.ADMIN_DELETE_USER, pk) as change:
        if change.row.status == UserStatus.ACTIVE and await change.is_last_admin():
            raise _last_admin()
        change.detail = {"label": change.row.email or change.row.wallet_address or ""}
        await change.row.delete(using_db=change.conn)
    await announce_user_changed(deps.bus, pk, "deleted")
