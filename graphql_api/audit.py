"""Writing the audit log. Every state-changing action records one row, in the action's own transaction.

The rows form a hash chain. Each row has its place in the chain (``seq``: 1, 2, 3, … without gaps), the
hash of the row before it (``prev_hash``; the first row's is empty) and its own ``hash``: SHA-256 over the
canonical serialisation of its content and ``prev_hash`` (``entry_hash``). The one ``audit_chain_head`` row
holds the last row's id, place and hash; a writer locks it, links its rows after it and moves it, in the
transaction of the audited action. On PostgreSQL that happens just before COMMIT (``pgengine.defer_to_commit``),
so the head is always the last lock a transaction takes and holds it only for its commit: no lock order
can deadlock with it, and rows are appended one transaction at a time, their ids in chain order. On SQLite
every transaction of a process already runs alone (one connection, one lock), and the head is written first.
``verify_chain`` walks the rows in id order and names the first one altered, removed or inserted.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.transactions import in_transaction

from models.audit import AuditChainHead, AuditEntry, Outcome
from models.identity import User

from .observability import current_request_id
from .ownership import Actor
from .pgengine import defer_to_commit
from .rejections import Rejection, VenueDown

HEAD_ID = 1


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
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
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
    AUDIT_EXPORT = "audit.export"
    ADMIN_BROADCAST = "admin.broadcast"


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
    """Append one audit row; pass ``conn`` to write it in the caller's transaction (inside a transaction
    without ``conn``, the row joins that transaction too). On PostgreSQL the row is inserted when that
    transaction commits (see the module doc), so the returned row has no id yet."""
    _rows.set(_rows.get() + 1)
    label = actor_label if actor_label is not None else (actor.email or actor.wallet_address or "") if actor else ""
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor_id=actor.id if actor else None,
        actor_label=label[:254],
        action=str(action),
        target_type=target_type,
        target_id=str(target_id)[:64],
        ip=ip,
        request_id=current_request_id() or "",
        outcome=outcome,
        # Stored as its JSON reads back, so the hash covers what the database holds.
        detail=orjson.loads(orjson.dumps(detail or {})),
    )
    client = conn if conn is not None else connections.get("default")
    if defer_to_commit(client, partial(_append, entry)):
        return entry
    if isinstance(client, TransactionalDBClient):
        await _append(entry, client)
    else:
        async with in_transaction() as transaction:
            await _append(entry, transaction)
    return entry


# -- the hash chain ------------------------------------------------------------------------------------------


def _plain_json(value: Any) -> Any:
    # A whole float reads back from PostgreSQL's jsonb as an integer (1e20 -> 100000000000000000000).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def content(entry: AuditEntry) -> dict[str, Any]:
    """What a row's hash covers: every column but ``id`` and ``hash`` (its place is ``seq``; ``prev_hash``
    ties it to the row before)."""
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "ip": entry.ip,
        "request_id": entry.request_id,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }


def canonical(values: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers: its ``content`` as one JSON object, keys sorted, no spaces, UTF-8; the
    time as UTC ISO-8601 with microseconds, the actor's id as a lower-case UUID, whole floats as integers."""
    plain = {
        **values,
        "at": _at(values["at"]),
        "actor_id": str(values["actor_id"]) if values["actor_id"] is not None else None,
        "outcome": str(values["outcome"]),
        "detail": _plain_json(values["detail"]),
    }
    return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)


def hash_content(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    return hash_content(content(entry))


async def _append(entry: AuditEntry, conn: BaseDBAsyncClient) -> None:
    """Link ``entry`` after the chain's last row and insert it, under the head's lock, in ``conn``'s transaction."""
    head = await AuditChainHead.filter(id=HEAD_ID).using_db(conn).select_for_update().get()
    entry.seq = head.last_seq + 1
    entry.prev_hash = head.last_hash
    entry.hash = entry_hash(entry)
    await entry.save(using_db=conn)
    await (
        AuditChainHead.filter(id=HEAD_ID)
        .using_db(conn)
        .update(last_id=entry.id, last_seq=entry.seq, last_hash=entry.hash)
    )


class BreakKind(StrEnum):
    ALTERED = "ALTERED"
    REMOVED = "REMOVED"
    INSERTED = "INSERTED"


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold. ``entry_id`` is the altered or inserted row, or for a removal
    the first row after the gap (None when the chain's end was removed); ``seq`` is the altered or inserted
    row's claimed place, or the first missing place of a removal."""

    kind: BreakKind
    entry_id: int | None
    seq: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    checked: int  # rows found in order
    last_seq: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


@dataclass
class _Walk:
    checked: int = 0
    last_id: int = 0  # the last row found in order
    prev_hash: str = ""  # its hash

    @property
    def expected(self) -> int:
        return self.checked + 1


async def _rows_after(last_id: int, batch: int) -> AsyncGenerator[AuditEntry, None]:
    while True:
        rows = await AuditEntry.filter(id__gt=last_id).order_by("id").limit(batch)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last_id = rows[-1].id


async def verify_chain(batch: int = 1000) -> ChainReport:
    """Walk the whole log in id order, ``batch`` rows at a time (never all of it in memory), against the chain.

    Writers may append meanwhile: the head is read after the rows, and a committed row always comes with the
    head that names it, so rows beyond the head read last were never appended through the chain."""
    walk = _Walk()
    while True:
        found = await _walk(walk, batch)
        if found is not None:
            return ChainReport(checked=walk.checked, last_seq=walk.checked, first_break=found)
        head = await AuditChainHead.get(id=HEAD_ID)
        if head.last_id <= walk.last_id:
            break
        if not await AuditEntry.filter(id__gt=walk.last_id).exists():
            return ChainReport(
                checked=walk.checked,
                last_seq=walk.checked,
                first_break=ChainBreak(
                    BreakKind.REMOVED,
                    None,
                    walk.expected,
                    f"the chain's last rows, from place {walk.expected} to {head.last_seq}, are missing",
                ),
            )
    found = None
    if head.last_id < walk.last_id:
        beyond = await AuditEntry.filter(id__gt=head.last_id).order_by("id").first()
        if beyond is not None:
            found = _inserted_beyond(beyond, head)
    elif head.last_hash != walk.prev_hash or head.last_seq != walk.checked:
        found = ChainBreak(
            BreakKind.ALTERED, None, head.last_seq, f"the chain head does not match its last row {walk.last_id}"
        )
    return ChainReport(checked=walk.checked, last_seq=walk.checked, first_break=found)


async def _walk(walk: _Walk, batch: int) -> ChainBreak | None:
    """Check the rows after ``walk.last_id`` in order; the first that does not fit, classified."""
    async with aclosing(_rows_after(walk.last_id, batch)) as rows:
        async for row in rows:
            if row.seq == walk.expected and row.prev_hash == walk.prev_hash and entry_hash(row) == row.hash:
                walk.checked, walk.last_id, walk.prev_hash = walk.checked + 1, row.id, row.hash
                continue
            following = await anext(rows, None)
            return await _classify(walk, row, following)
    return None


def _inserted_beyond(row: AuditEntry, head: AuditChainHead) -> ChainBreak:
    return ChainBreak(
        BreakKind.INSERTED,
        row.id,
        row.seq,
        f"row {row.id} is not in the chain: it comes after the chain's last row {head.last_id}",
    )


async def _classify(walk: _Walk, row: AuditEntry, following: AuditEntry | None) -> ChainBreak:
    expected = walk.expected
    content_ok = entry_hash(row) == row.hash
    linked = row.prev_hash == walk.prev_hash
    head = await AuditChainHead.get(id=HEAD_ID)  # read after the row: a row appended through the chain is in it
    if row.id > head.last_id:
        return _inserted_beyond(row, head)
    if row.seq == expected and linked and not content_ok:
        return ChainBreak(
            BreakKind.ALTERED, row.id, row.seq, f"row {row.id} (place {row.seq}): its content does not match its hash"
        )
    if following is not None and following.seq == expected and following.prev_hash == walk.prev_hash:
        return ChainBreak(
            BreakKind.INSERTED,
            row.id,
            row.seq,
            f"row {row.id} is not in the chain: the chain goes on from row {walk.last_id} to row {following.id}",
        )
    if row.seq is not None and row.seq > expected and content_ok and not linked:
        return ChainBreak(
            BreakKind.REMOVED,
            row.id,
            expected,
            f"the rows at places {expected} to {row.seq - 1} are missing, between row {walk.last_id} and row {row.id}",
        )
    if row.seq is None or row.seq < expected:
        return ChainBreak(
            BreakKind.INSERTED, row.id, row.seq, f"row {row.id} claims place {row.seq} where place {expected} is due"
        )
    return ChainBreak(
        BreakKind.ALTERED,
        row.id,
        row.seq,
        f"row {row.id} (place {row.seq}) does not fit the chain: its link to the row before or its place was changed",
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
