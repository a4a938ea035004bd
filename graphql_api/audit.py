"""Writing the audit log. Every state-changing action records one row, in the action's own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from models.audit import AuditEntry, Outcome
from models.identity import User

from .observability import current_request_id
from .ownership import Actor
from .rejections import Rejection, VenueDown


class Action(StrEnum):
    """Every audited action, one name each: the audit log's ``action`` column holds these values."""

    AUTH_REGISTER = "auth.register"
    AUTH_LOGIN = "auth.login"
    AUTH_WALLET_CHALLENGE = "auth.wallet_challenge"
    AUTH_WALLET_LOGIN = "auth.wallet_login"
    AUTH_REFRESH_TOKEN = "auth.refresh_token"
    AUTH_REFRESH_TOKEN_REUSED = "auth.refresh_token_reused"
    AUTH_LOGOUT = "auth.logout"
    ACCOUNT_UPDATE_PROFILE = "account.update_profile"
    ACCOUNT_UPDATE_NOTIFICATIONS = "account.update_notifications"
    ACCOUNT_CHANGE_PASSWORD = "account.change_password"
    ACCOUNT_TWO_FACTOR_SETUP = "account.two_factor_setup"
    ACCOUNT_TWO_FACTOR_ENABLE = "account.two_factor_enable"
    ACCOUNT_TWO_FACTOR_DISABLE = "account.two_factor_disable"
    ACCOUNT_REVOKE_SESSION = "account.revoke_session"
    ADMIN_APPROVE_USER = "admin.approve_user"
    ADMIN_SUSPEND_USER = "admin.suspend_user"
    ADMIN_SET_USER_ROLE = "admin.set_user_role"
    ADMIN_DELETE_USER = "admin.delete_user"
    VENUE_CONNECT = "venue.connect"
    VENUE_DISCONNECT = "venue.disconnect"
    VENUE_SYNC = "venue.sync"
    VENUE_TEST_ORDER = "venue.test_order"
    ORDER_PLACE = "order.place"
    ORDER_CANCEL = "order.cancel"
    ORDER_CANCEL_ALL = "order.cancel_all"
    POSITION_CLOSE = "position.close"
    POSITION_CLOSE_ALL = "position.close_all"
    KILLSWITCH_ACTIVATE = "killswitch.activate"
    KILLSWITCH_SWEEP = "killswitch.sweep"
    KILLSWITCH_DEACTIVATE = "killswitch.deactivate"
    KILLSWITCH_FLATTEN = "killswitch.flatten"
    COMPLIANCE_RULE_CREATE = "compliance.rule_create"
    COMPLIANCE_RULE_UPDATE = "compliance.rule_update"
    COMPLIANCE_RULE_DELETE = "compliance.rule_delete"
    COMPLIANCE_VIOLATION_ACKNOWLEDGE = "compliance.violation_acknowledge"
    COMPLIANCE_VIOLATION_RESOLVE = "compliance.violation_resolve"
    DEADMAN_ARM = "deadman.arm"
    DEADMAN_HEARTBEAT = "deadman.heartbeat"
    DEADMAN_DISARM = "deadman.disarm"
    DEADMAN_TRIGGER = "deadman.trigger"
    PERP_UPDATE_LEVERAGE = "perp.update_leverage"
    PERP_LIQUIDATE = "perp.liquidate"
    FUNDS_DEPOSIT = "funds.deposit"
    FUNDS_WITHDRAW = "funds.withdraw"
    FUNDS_SEND_USDC = "funds.send_usdc"
    ALERT_MARK_READ = "alert.mark_read"
    ALERT_MARK_ALL_READ = "alert.mark_all_read"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    ALERT_SEND_TEST = "alert.send_test"
    PRICE_ALERT_CREATE = "price_alert.create"
    PRICE_ALERT_UPDATE = "price_alert.update"
    PRICE_ALERT_DELETE = "price_alert.delete"
    PRICE_ALERT_TRIGGER = "price_alert.trigger"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_DELETE = "webhook.delete"
    BOT_CREATE = "bot.create"
    BOT_UPDATE = "bot.update"
    BOT_DELETE = "bot.delete"
    BOT_START = "bot.start"
    BOT_STOP = "bot.stop"
    BOT_PAUSE = "bot.pause"
    BOT_RESUME = "bot.resume"
    BOT_STOP_ENTRIES = "bot.stop_entries"
    AGENT_PUBLISH = "agent.publish"
    AGENT_UNPUBLISH = "agent.unpublish"
    AGENT_SUBSCRIBE = "agent.subscribe"
    AGENT_UNSUBSCRIBE = "agent.unsubscribe"
    AGENT_COPY_ORDER = "agent.copy_order"
    LEADERBOARD_UPDATE_PROFILE = "leaderboard.update_profile"
    REFERRAL_CREATE_CODE = "referral.create_code"
    FUNDS_CLAIM_REWARD = "funds.claim_reward"
    STRATEGY_CREATE = "strategy.create"
    STRATEGY_UPDATE = "strategy.update"
    STRATEGY_DELETE = "strategy.delete"
    BACKTEST_RUN = "backtest.run"
    BACKTEST_CANCEL = "backtest.cancel"
    ORDER_PLACE_ROUTED = "order.place_routed"
    RECONCILIATION_RUN = "reconciliation.run"
    RECONCILIATION_UPLOAD_DROP_COPY = "reconciliation.upload_drop_copy"
    RECONCILIATION_RESOLVE_BREAK = "reconciliation.resolve_break"
    SETTINGS_UPDATE_TRADING = "settings.update_trading"
    SETTINGS_UPDATE_DISPLAY = "settings.update_display"
    SETTINGS_IMPORT = "settings.import"
    TRADING_SESSION_CREATE_QUICK = "trading_session.create_quick"
    TRADING_SESSION_CREATE_ADVANCED = "trading_session.create_advanced"
    VAULT_CREATE = "vault.create"
    VAULT_DEPOSIT = "vault.deposit"
    VAULT_WITHDRAW = "vault.withdraw"
    VAULT_CRYSTALLIZE = "vault.crystallize"
    TRADING_SESSION_CLOSE_POSITION = "trading_session.close_position"
    TRADING_SESSION_CLOSE_TRADE = "trading_session.close_trade"
    TRADING_SESSION_CLOSE_ASSET = "trading_session.close_position_by_asset"
    TRADING_SESSION_CLOSE_SIGNED = "trading_session.close_position_with_signature"
    TRADING_SESSION_ENGINE_RUN = "trading_session.run_engine"


# Rows written by the current task since ``counting()`` started (see resolvers.results.audited).
_rows: ContextVar[int] = ContextVar("audit_rows", default=0)


def counting() -> object:
    """Start counting the rows this task writes; hand the token to ``rows_written``."""
    return _rows.set(0)


def rows_written(token: object) -> int:
    written = _rows.get()
    _rows.reset(token)  # type: ignore[arg-type]
    return written


async def record(
    action: Action,
    outcome: Outcome,
    *,
    actor: User | None = None,
    actor_label: str | None = None,
    target_type: str = "",
    target_id: object = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
    conn: Any = None,
) -> AuditEntry:
    """Append one audit row; pass ``conn`` to write it in the caller's transaction."""
    _rows.set(_rows.get() + 1)
    label = actor_label if actor_label is not None else (actor.email or actor.wallet_address or "") if actor else ""
    return await AuditEntry.create(
        actor_id=actor.id if actor else None,
        actor_label=label[:254],
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        ip=ip,
        request_id=current_request_id() or "",
        outcome=outcome,
        detail=detail or {},
        using_db=conn,
    )


async def by(
    actor: Actor,
    action: Action,
    outcome: Outcome,
    *,
    target_type: str = "",
    target_id: object = "",
    detail: dict[str, Any] | None = None,
    conn: Any = None,
) -> AuditEntry:
    """``record`` for a domain action done by ``actor``."""
    return await record(
        action,
        outcome,
        actor=actor.user,
        target_type=target_type,
        target_id=target_id,
        ip=actor.ip,
        detail=detail,
        conn=conn,
    )


@asynccontextmanager
async def refusals(
    actor: Actor, action: Action, *, target_type: str = "", target_id: object = "", detail: dict[str, Any] | None = None
) -> AsyncIterator[None]:
    """Audit a refusal raised inside the block (as DENIED, with its code) and let it propagate: a domain
    action's success row is written in its transaction, its refusals here, so every outcome leaves a row."""
    try:
        yield
    except Rejection as rejection:
        # A venue that could not be reached failed; every other refusal is the caller being denied.
        failed = isinstance(rejection, VenueDown)
        await by(
            actor,
            action,
            Outcome.FAILURE if failed else Outcome.DENIED,
            target_type=target_type,
            target_id=target_id,
            detail={**(detail or {}), "code": rejection.code, **({"reason": rejection.message} if failed else {})},
        )
        raise
