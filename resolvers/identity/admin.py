"""User management for admins over GraphQL: list, inspect and statistics here; the changes (approve,
suspend, change role, delete) map to graphql_api/services/identity/admin.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import strawberry
from tortoise.expressions import Q
from tortoise.functions import Count

from graphql_api.auth import utcnow
from graphql_api.context import Info
from graphql_api.pagination import paginate, parse_id, to_global_id
from graphql_api.services.identity import admin
from models.identity import Role as RoleValue
from models.identity import Session as SessionRow
from models.identity import User, UserStatus
from schema.common import After, Connection, First, GlobalID
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

from ..results import actor, result

_INPUT = strawberry.argument(description="Which user, and what to change.")


def _updated(row: User) -> UserUpdated:
    return UserUpdated(user=UserType.from_model(row))


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
    answered: AdminUserResult = await result(
        admin.approve_user(info.context, actor(info), parse_id(id, "User")), _updated
    )
    return answered


async def suspend_user(info: Info, input: Annotated[SuspendUserInput, _INPUT]) -> AdminUserResult:
    action = admin.suspend_user(info.context, actor(info), parse_id(input.id, "User"), input.reason)
    answered: AdminUserResult = await result(action, _updated)
    return answered


async def set_user_role(info: Info, input: Annotated[SetUserRoleInput, _INPUT]) -> AdminUserResult:
    action = admin.set_user_role(info.context, actor(info), parse_id(input.id, "User"), RoleValue(input.role.name))
    answered: AdminUserResult = await result(action, _updated)
    return answered


async def delete_user(info: Info, id: GlobalID) -> DeleteUserResult:
    pk = parse_id(id, "User")
    answered: DeleteUserResult = await result(
        admin.delete_user(info.context, actor(info), pk),
        lambda _: UserDeleted(id=strawberry.ID(to_global_id("User", pk))),
    )
    return answered


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
