"""User management for admins: list, inspect, approve, suspend, change role, delete, statistics."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import strawberry
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.auth import utcnow
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.permissions import require_principal
from graphql_api.sessions import announce_user_changed
from models.audit import Outcome
from models.identity import Role as RoleValue
from models.identity import Session as SessionRow
from models.identity import User, UserStatus
from schema.common import After, Connection, First, GlobalID, InvalidInput, NotFound, invalid
from schema.identity import (
    AdminStats,
    AdminUserResult,
    DeleteUserResult,
    Role,
    RoleCount,
    SetUserRoleInput,
    StatusCount,
    SuspendUserInput,
    UserDeleted,
    UserFilter,
    UserUpdated,
)
from schema.identity import User as UserType
from schema.identity import UserStatus as UserStatusEnum

from .auth import lock_users

_INPUT = strawberry.argument(description="Which user, and what to change.")


def _not_found() -> NotFound:
    return NotFound(message="no such user", code="NOT_FOUND", field="id")


def _last_admin() -> InvalidInput:
    return invalid("the last active admin cannot be removed or demoted", "id", code="LAST_ADMIN")


async def _record(info: Info, admin: User, action: Action, pk: str, detail: dict[str, Any], conn: Any) -> None:
    """An admin action's row: the admin acted on the user ``pk``."""
    await audit.record(
        action,
        Outcome.SUCCESS,
        actor=admin,
        target_type="User",
        target_id=pk,
        ip=info.context.client.ip,
        detail=detail,
        conn=conn,
    )


async def users(
    info: Info,
    filter: Annotated[UserFilter | None, strawberry.argument(description="Which users to list.")] = None,
    first: First = None,
    after: After = None,
) -> Connection[UserType]:
    query = User.all()
    if filter is not None:
        if filter.role is not None:
            query = query.filter(role=filter.role.value)
        if filter.status is not None:
            query = query.filter(status=filter.status.value)
        if filter.search:
            term = filter.search.strip()
            query = query.filter(Q(email__icontains=term) | Q(name__icontains=term) | Q(wallet_address__icontains=term))
    return Connection.of(
        await paginate(
            query, first=first, after=after, cap=info.context.settings.max_page_size, convert=UserType.from_model
        )
    )


async def user(info: Info, id: GlobalID) -> UserType | None:
    row = await User.get_or_none(id=parse_id(id, "User"))
    return UserType.from_model(row) if row else None


async def approve_user(info: Info, id: GlobalID) -> AdminUserResult:
    ctx = info.context
    admin = require_principal(ctx).user
    pk = parse_id(id, "User")
    async with in_transaction() as conn:
        row = await _locked_user(conn, pk)
        if row is None:
            return _not_found()
        if row.status == UserStatus.ACTIVE:
            return invalid("the user is already active", "id", code="ALREADY_ACTIVE")
        before = row.status
        await User.filter(id=pk).using_db(conn).update(status=UserStatus.ACTIVE, suspended_reason=None)
        await _record(info, admin, Action.ADMIN_APPROVE_USER, pk, {"from": before}, conn)
    return UserUpdated(user=UserType.from_model(await User.get(id=pk)))


async def suspend_user(info: Info, input: Annotated[SuspendUserInput, _INPUT]) -> AdminUserResult:
    ctx = info.context
    admin = require_principal(ctx).user
    pk = parse_id(input.id, "User")
    reason = input.reason.strip()
    if not 1 <= len(reason) <= 500:
        return invalid("reason must be 1 to 500 characters", "reason")
    async with in_transaction() as conn:
        row = await _locked_user(conn, pk)
        if row is None:
            return _not_found()
        if row.status == UserStatus.SUSPENDED:
            return invalid("the user is already suspended", "id", code="ALREADY_SUSPENDED")
        if row.role == RoleValue.ADMIN and await _active_admins(conn) <= 1:
            return _last_admin()
        now = utcnow()
        await User.filter(id=pk).using_db(conn).update(status=UserStatus.SUSPENDED, suspended_reason=reason)
        ended = (
            await SessionRow.filter(user_id=pk, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=now, revoked_reason="user suspended")
        )
        await _record(info, admin, Action.ADMIN_SUSPEND_USER, pk, {"reason": reason, "endedSessions": ended}, conn)
    await announce_user_changed(ctx.bus, pk, "suspended")
    return UserUpdated(user=UserType.from_model(await User.get(id=pk)))


async def set_user_role(info: Info, input: Annotated[SetUserRoleInput, _INPUT]) -> AdminUserResult:
    ctx = info.context
    admin = require_principal(ctx).user
    pk = parse_id(input.id, "User")
    async with in_transaction() as conn:
        row = await _locked_user(conn, pk)
        if row is None:
            return _not_found()
        before = RoleValue(row.role)
        after = RoleValue(input.role.name)
        if before == RoleValue.ADMIN and after != RoleValue.ADMIN and await _active_admins(conn) <= 1:
            return _last_admin()
        await User.filter(id=pk).using_db(conn).update(role=after)
        await _record(info, admin, Action.ADMIN_SET_USER_ROLE, pk, {"from": before.value, "to": after.value}, conn)
    await announce_user_changed(ctx.bus, pk, "role changed")
    return UserUpdated(user=UserType.from_model(await User.get(id=pk)))


async def delete_user(info: Info, id: GlobalID) -> DeleteUserResult:
    ctx = info.context
    admin = require_principal(ctx).user
    pk = parse_id(id, "User")
    async with in_transaction() as conn:
        row = await _locked_user(conn, pk)
        if row is None:
            return _not_found()
        if row.role == RoleValue.ADMIN and row.status == UserStatus.ACTIVE and await _active_admins(conn) <= 1:
            return _last_admin()
        label = row.email or row.wallet_address or ""
        await row.delete(using_db=conn)
        await _record(info, admin, Action.ADMIN_DELETE_USER, pk, {"label": label}, conn)
    await announce_user_changed(ctx.bus, pk, "deleted")
    return UserDeleted(id=strawberry.ID(to_global_id("User", pk)))


async def admin_stats(info: Info) -> AdminStats:
    roles = dict(await User.annotate(n=Count("id")).group_by("role").values_list("role", "n"))
    statuses = dict(await User.annotate(n=Count("id")).group_by("status").values_list("status", "n"))
    now = utcnow()
    idle_cutoff = now - timedelta(seconds=info.context.settings.session_idle_timeout)
    active = await SessionRow.filter(revoked_at=None, expires_at__gt=now, last_seen_at__gt=idle_cutoff).count()
    return AdminStats(
        total_users=sum(roles.values()),
        by_role=[RoleCount(role=Role(r.value), count=int(roles.get(r.value, 0))) for r in RoleValue],
        by_status=[
            StatusCount(status=UserStatusEnum(s.value), count=int(statuses.get(s.value, 0))) for s in UserStatus
        ],
        active_sessions=active,
    )


async def _locked_user(conn: BaseDBAsyncClient, pk: str) -> User | None:
    """The user to change, read after taking the user-table lock that guards the last-admin rule."""
    await lock_users(conn)
    return await User.get_or_none(id=pk, using_db=conn)


async def _active_admins(conn: BaseDBAsyncClient) -> int:
    count: int = await User.filter(role=RoleValue.ADMIN, status=UserStatus.ACTIVE).using_db(conn).count()
    return count
