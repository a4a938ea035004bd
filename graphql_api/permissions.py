"""Who may call what. Declared on fields as permission classes; never re-checked ad hoc in bodies.

Roles rank ADMIN > TRADER > VIEWER. Ownership of one row ("this order is yours") goes through
``graphql_api.ownership``; ``target_user`` scopes list reads and streams to the caller (or, for admins,
to the user they name).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from graphql.language import OperationType
from strawberry.permission import BasePermission

from models.apikeys import ApiScope
from models.identity import Role

from .context import Context, Info
from .errors import Forbidden, Unauthenticated
from .pagination import parse_id

_RANK = {Role.VIEWER: 1, Role.TRADER: 2, Role.ADMIN: 3}


def require_principal(context: Context) -> Any:
    if context.principal is None:
        raise Unauthenticated(context.auth_error or "sign in required")
    return context.principal


def has_role(context: Context, role: Role) -> bool:
    principal = context.principal
    return principal is not None and _RANK[Role(principal.user.role)] >= _RANK[role]


# The mutations an API key with the TRADE scope may call (the analogue of Hyperliquid's agent wallets:
# trade, never withdraw or manage the account).
TRADE_MUTATIONS = frozenset(
    {
        "placeOrder",
        "cancelOrder",
        "cancelAllOrders",
        "closePosition",
        "closeAllPositions",
        "updateLeverage",
        "armDeadMansSwitch",
        "heartbeat",
        "disarmDeadMansSwitch",
        "createQuickTradingSession",
        "createAdvancedTradingSession",
        "closeSessionPosition",
        "closeTrade",
        "closePositionByAsset",
        "closePositionWithSignature",
        "startBot",
        "stopBot",
        "pauseBot",
        "resumeBot",
        "stopBotEntries",
    }
)


def check_api_key_scope(scopes: list[str], info: Info) -> None:
    """A root field called with an API key: READ runs queries and subscriptions, TRADE the trading mutations;
    no other mutation is open to a key."""
    if info.operation.operation == OperationType.MUTATION:
        if info.field_name not in TRADE_MUTATIONS:
            raise Forbidden(f"{info.field_name} cannot be called with an API key")
        if ApiScope.TRADE.value not in scopes:
            raise Forbidden("this API key lacks the TRADE scope")
    elif ApiScope.READ.value not in scopes:
        raise Forbidden("this API key lacks the READ scope")


def admin_address_allowed(context: Context) -> bool:
    """Whether the caller's address may do admin operations (ADMIN_IP_ALLOWLIST; empty allows every address)."""
    networks = context.settings.admin_ip_allowlist
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(context.client.ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


class _RolePermission(BasePermission):
    minimum: Role = Role.VIEWER

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = require_principal(info.context)
        if principal.api_key is not None and info.path.prev is None:
            check_api_key_scope(principal.api_key.key.scopes, info)
        if not has_role(info.context, self.minimum):
            raise Forbidden(f"requires the {self.minimum.value} role")
        if self.minimum == Role.ADMIN and not admin_address_allowed(info.context):
            raise Forbidden("admin operations are not allowed from this address")
        return True


class IsAuthenticated(_RolePermission):
    """Any signed-in, active user (VIEWER and up)."""

    minimum = Role.VIEWER


class IsTrader(_RolePermission):
    minimum = Role.TRADER


class IsAdmin(_RolePermission):
    minimum = Role.ADMIN


def target_user(info: Info, user_global_id: str | None, field: str = "userId") -> str:
    """Whose data a read is about: the caller's own, or (admins only) the user named by ``userId``."""
    principal = require_principal(info.context)
    if user_global_id is None:
        return str(principal.user_id)
    pk = parse_id(user_global_id, "User", field)
    if pk != principal.user_id and not has_role(info.context, Role.ADMIN):
        raise Forbidden("only admins may read another user's data")
    return pk
