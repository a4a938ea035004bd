"""Where resolvers meet domain actions: who the caller is, and the one table from a typed rejection to
the GraphQL error type a result union returns."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.context import Info
from graphql_api.errors import Forbidden, Unauthenticated
from graphql_api.ownership import Actor
from graphql_api.permissions import require_principal
from graphql_api.rejections import (
    BadCredentials,
    BadSignature,
    BadTwoFactorCode,
    ComplianceRefused,
    Conflict,
    FundsShort,
    Invalid,
    KillSwitchBlocked,
    Missing,
    NotActive,
    NotAllowed,
    Rejection,
    SignInRequired,
    TwoFactorNeeded,
    VenueDown,
)
from models.audit import Outcome
from schema.common import Conflict as ConflictError
from schema.common import InvalidInput, NotFound, UserError
from schema.identity import (
    AccountNotActive,
    InvalidCredentials,
    InvalidSignature,
    InvalidTwoFactorCode,
    TwoFactorRequired,
    UserStatus,
)
from schema.killswitch import KillSwitchActive, KillSwitchScope
from schema.orders import ComplianceRejected, InsufficientFunds
from schema.venues import VenueUnavailable

T = TypeVar("T")
R = TypeVar("R")


def actor(info: Info) -> Actor:
    """The signed-in caller as the domain actions know it."""
    return Actor(require_principal(info.context).user, info.context.client.ip)


def _not_allowed(r: Any) -> Any:
    raise Forbidden(r.message)


def _sign_in_required(r: Any) -> Any:
    raise Unauthenticated(r.message)


# Every rejection kind, once. A new kind (a compliance rule's, say) is one line here and one error type.
ERROR_TYPES: dict[type[Rejection], Callable[[Any], Any]] = {
    Invalid: lambda r: InvalidInput(message=r.message, code=r.code, field=r.field),
    Missing: lambda r: NotFound(message=r.message, code=r.code, field=r.field),
    Conflict: lambda r: ConflictError(message=r.message, code=r.code, field=r.field),
    KillSwitchBlocked: lambda r: KillSwitchActive(
        message=r.message, code=r.code, field=r.field, scope=KillSwitchScope[r.scope]
    ),
    FundsShort: lambda r: InsufficientFunds(
        message=r.message, code=r.code, field=r.field, asset=r.asset, required=r.required, available=r.available
    ),
    ComplianceRefused: lambda r: ComplianceRejected(message=r.message, code=r.code, field=r.field, rule=r.rule),
    VenueDown: lambda r: VenueUnavailable(
        message=r.message, code=r.code, field=r.field, venue_id=strawberry.ID(r.venue_id)
    ),
    NotAllowed: _not_allowed,
    SignInRequired: _sign_in_required,
    BadCredentials: lambda r: InvalidCredentials(message=r.message, code=r.code, field=r.field),
    TwoFactorNeeded: lambda r: TwoFactorRequired(message=r.message, code=r.code, field=r.field),
    BadTwoFactorCode: lambda r: InvalidTwoFactorCode(message=r.message, code=r.code, field=r.field),
    NotActive: lambda r: AccountNotActive(message=r.message, code=r.code, field=r.field, status=UserStatus(r.status)),
    BadSignature: lambda r: InvalidSignature(message=r.message, code=r.code, field=r.field),
}


def error_result(rejection: Rejection) -> Any:
    """The GraphQL answer for a rejection: its kind's entry, or its nearest base kind's (a refinement such
    as a session ended by refresh-token reuse answers as the kind it refines)."""
    for kind in type(rejection).__mro__:
        if kind in ERROR_TYPES:
            return ERROR_TYPES[kind](rejection)
    raise TypeError(f"no GraphQL error type for {type(rejection).__name__}")


async def result(action: Awaitable[T], success: Callable[[T], R]) -> Any:
    """Run a domain action; its value becomes the success type, its refusal the matching error type."""
    try:
        value = await action
    except Rejection as rejection:
        return error_result(rejection)
    return success(value)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def audited(action: Action) -> Callable[[F], F]:
    """Make sure a mutation leaves an audit row whatever its outcome: when the resolver wrote none itself, one
    is written here (SUCCESS, DENIED for a returned user error, FAILURE for a raised error)."""

    def wrap(resolver: F) -> F:
        @functools.wraps(resolver)
        async def run(*args: Any, **kwargs: Any) -> Any:
            info: Info = kwargs["info"] if "info" in kwargs else args[0]
            token = audit.counting()
            outcome: Outcome = Outcome.SUCCESS
            detail: dict[str, Any] = {}
            try:
                answer = await resolver(*args, **kwargs)
            except Exception as exc:
                outcome, detail = Outcome.FAILURE, {"error": type(exc).__name__}
                raise
            else:
                if isinstance(answer, UserError):
                    outcome, detail = Outcome.DENIED, {"code": answer.code, "field": answer.field}
                return answer
            finally:
                if not audit.rows_written(token):
                    principal = info.context.principal
                    await audit.record(
                        action,
                        outcome,
                        actor=principal.user if principal is not None else None,
                        ip=info.context.client.ip,
                        detail=detail,
                    )

        return run  # type: ignore[return-value]

    return wrap
