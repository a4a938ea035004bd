"""Ownership, in one place: whose row this is, and whether the caller may see it or act on it.

Every read, mutation, ``node(id:)`` and subscription of trading data loads its row through here. The rule:
a user sees and acts on their own rows; an admin sees every row but acts (trades, connects, cancels) only
on their own. A row the caller may not see answers exactly like a row that does not exist, so an ID
reveals nothing about other users' data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.models import Model

from models.identity import Role, User

from .rejections import Missing

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Actor:
    """Who does something, and from where: a signed-in person, or (later) a bot acting for its owner."""

    user: User
    ip: str = ""

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    @property
    def is_admin(self) -> bool:
        return Role(self.user.role) == Role.ADMIN


def may_see(actor: Actor, owner_id: object) -> bool:
    return str(owner_id) == actor.user_id or actor.is_admin


def may_act(actor: Actor, owner_id: object) -> bool:
    return str(owner_id) == actor.user_id


def owner_of(row: Any) -> object:
    """The owning user's id: a user owns itself, every other owned row has a ``user_id``."""
    return row.id if isinstance(row, User) else row.user_id


async def load_owned(model: type[M], pk: str, actor: Actor, *, act: bool = False) -> M | None:
    """The row if it exists and the caller may see it (``act``: may act on it); otherwise None."""
    row = await model.get_or_none(pk=pk)
    if row is None:
        return None
    allowed = may_act if act else may_see
    return row if allowed(actor, owner_of(row)) else None


async def require_owned(model: type[M], pk: str, actor: Actor, *, field: str, what: str, act: bool = True) -> M:
    """``load_owned`` for a domain action: a missing or foreign row is one and the same ``Missing``."""
    row = await load_owned(model, pk, actor, act=act)
    if row is None:
        raise Missing(f"no such {what}", field=field)
    return row
