"""Credentials: password hashing, access tokens (JWT), refresh tokens, sessions, and who is calling.

Access tokens are short-lived HS256 JWTs. Decoding pins the algorithm and requires every claim
(iss, aud, exp, iat, typ, sub, sid), so ``alg: none``, a foreign key, another issuer or audience, an
expired token or a refresh token presented as access all fail the same way: UNAUTHENTICATED.
A valid signature is not enough: the session it names must still be live (not revoked, not idle past
SESSION_IDLE_TIMEOUT, not past its absolute expiry) and its user ACTIVE, checked on every request, so
logout, revocation and suspension take effect at once.

Refresh tokens are opaque random strings stored only as SHA-256. Each use rotates the token; presenting
a rotated token again means it leaked, and the whole session is revoked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import HTTPConnection
from tortoise.transactions import in_transaction

from models.apikeys import ApiKey
from models.audit import Outcome
from models.identity import AuthMethod, RefreshToken, Session, User, UserStatus

from . import audit
from .audit import Action
from .settings import Settings

log = logging.getLogger(__name__)

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "sid", "typ"]
# Touch last_seen_at at most this often: activity extends the idle window without a write per request.
_ACTIVITY_GRANULARITY = timedelta(seconds=30)

_hasher = PasswordHasher()
# Verified against when the account does not exist, so the response time does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthenticationFailed(Exception):
    """A credential was presented and is not acceptable; the message is safe to show."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class KeyGrant:
    """An API key with its user, as the key cache holds it: keyed by the key's hash, which also names the
    key's credential events (``sessions.announce_session_ended``)."""

    id: str  # the key's hash
    user_id: str
    key: ApiKey
    user: User


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a live session of an active user, or a live API key of one (``api_key``)."""

    user: User
    session: Session | None
    token_expires_at: datetime
    api_key: KeyGrant | None = None

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    @property
    def session_id(self) -> str:
        """The session's id, or for an API key its hash (what its revocation is announced under)."""
        if self.api_key is not None:
            return self.api_key.id
        assert self.session is not None
        return str(self.session.id)


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str


def client_info(conn: HTTPConnection) -> ClientInfo:
    return ClientInfo(ip=conn.client.host if conn.client else "", user_agent=conn.headers.get("user-agent", "")[:500])


def issue_access_token(settings: Settings, user_id: str, session_id: str) -> tuple[str, datetime]:
    now = utcnow()
    expires = now + timedelta(seconds=settings.access_token_ttl)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "sid": session_id,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, str(settings.secret_key), algorithm=_ALGORITHM), expires


# Access tokens this process has verified, with their claims: a token is immutable, so its signature and
# claims are checked once and only its expiry on each later use. Bounded; the oldest go first.
_VERIFIED: OrderedDict[tuple[str, str, str, str], dict[str, Any]] = OrderedDict()
_VERIFIED_SIZE = 10_000


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    key = (token, str(settings.secret_key), settings.jwt_audience, settings.jwt_issuer)
    known = _VERIFIED.get(key)
    if known is not None:
        if known["exp"] <= time.time():
            del _VERIFIED[key]
            raise AuthenticationFailed("access token expired")
        return known
    claims = _verify_access_token(settings, token)
    _VERIFIED[key] = claims
    while len(_VERIFIED) > _VERIFIED_SIZE:
        _VERIFIED.popitem(last=False)
    return claims


def _verify_access_token(settings: Settings, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            str(settings.secret_key),
            algorithms=[_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("access token expired") from None
    except jwt.PyJWTError:
        raise AuthenticationFailed("invalid access token") from None
    if claims.get("typ") != "access":
        raise AuthenticationFailed("invalid access token")
    try:
        uuid.UUID(str(claims["sub"]))
        uuid.UUID(str(claims["sid"]))
    except ValueError:
        raise AuthenticationFailed("invalid access token") from None
    return claims


def session_dead_reason(settings: Settings, session: Session, now: datetime) -> str | None:
    """Why a session can no longer be used, or None while it is live."""
    if session.revoked_at is not None:
        return "session revoked"
    if session.expires_at <= now:
        return "session expired"
    if now - session.last_seen_at > timedelta(seconds=settings.session_idle_timeout):
        return "session expired after inactivity"
    return None


def user_block_reason(user: User) -> str | None:
    if user.status == UserStatus.SUSPENDED:
        return "account suspended"
    if user.status == UserStatus.PENDING:
        return "account awaiting approval"
    return None


class _Cached(Protocol):
    @property
    def id(self) -> Any: ...

    @property
    def user_id(self) -> Any: ...


E = TypeVar("E", bound=_Cached)


class SessionCache(Generic[E]):
    """The sessions (with their users) this process read in the last ``ttl`` seconds.

    Every request that presents an access token needs its session and user checked, and reading them is a
    joined query — most of the cost of a small authenticated query. An entry lives at most ``ttl`` (a second):
    a session ended or a user changed is forgotten at once by the process that did it and, through the bus's
    credentials channel (``sessions.forget_changed_credentials``), by every other process; were that event
    lost (a bus outage, after which the whole cache is dropped on resync), the entry still expires within the
    ttl. So a revoked token is refused at once where it was revoked and within a second everywhere. Whether a
    session is still usable (expiry, idle time, the user's status) is judged afresh on every request.
    """

    def __init__(self, ttl: int = 1, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, E]] = OrderedDict()

    def get(self, session_id: object) -> E | None:
        key = str(session_id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, session: E) -> None:
        key = str(session.id)
        self._entries[key] = (time.monotonic(), session)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget_session(self, session_id: object) -> None:
        self._entries.pop(str(session_id), None)

    def forget_user(self, user_id: object) -> None:
        stale = [key for key, (_, session) in self._entries.items() if str(session.user_id) == str(user_id)]
        for key in stale:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


# One per process: every app in it shares the same database rows' identities (UUIDs).
SESSIONS: SessionCache[Session] = SessionCache()
# API keys by hash, with the same lifetime and the same forgetting (a revoked key is a session ended).
API_KEYS: SessionCache[KeyGrant] = SessionCache()
# An API key without expiry: its sockets are still rechecked every SESSION_RECHECK_INTERVAL.
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


async def live_session(
    settings: Settings, session_id: object, now: datetime, *, fresh: bool = False
) -> tuple[Session | None, str | None]:
    """The session (with its user) and, if it may no longer be used, why; (None, None) when it is gone.
    ``fresh`` reads past the cache (a socket's periodic recheck, which is the fallback for lost events)."""
    session = None if fresh else SESSIONS.get(session_id)
    if session is None:
        session = await Session.get_or_none(id=session_id).select_related("user")
        if session is None:
            SESSIONS.forget_session(session_id)
            return None, None
        SESSIONS.put(session)
    return session, user_block_reason(session.user) or session_dead_reason(settings, session, now)


async def principal_from_token(settings: Settings, token: str) -> Principal:
    """The caller a bearer/cookie access token names, after checking its session and user are live."""
    claims = decode_access_token(settings, token)
    now = utcnow()
    session, reason = await live_session(settings, claims["sid"], now)
    if session is None or str(session.user_id) != str(claims["sub"]):
        raise AuthenticationFailed("invalid access token")
    if reason is not None:
        raise AuthenticationFailed(reason)
    if now - session.last_seen_at > _ACTIVITY_GRANULARITY:
        session.last_seen_at = now
        await Session.filter(id=session.id).update(last_seen_at=now)
    return Principal(
        user=session.user,
        session=session,
        token_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


def key_dead_reason(key: ApiKey, now: datetime) -> str | None:
    if key.revoked_at is not None:
        return "API key revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "API key expired"
    return None


async def live_api_key(key_hash: str, now: datetime, *, fresh: bool = False) -> tuple[KeyGrant | None, str | None]:
    """The key (with its user) of this hash and, if it may no longer be used, why; (None, None) if unknown."""
    grant = None if fresh else API_KEYS.get(key_hash)
    if grant is None:
        key = await ApiKey.get_or_none(key_hash=key_hash)
        user = await User.get_or_none(id=key.user_id) if key is not None else None
        if key is None or user is None:
            API_KEYS.forget_session(key_hash)
            return None, None
        grant = KeyGrant(key_hash, str(key.user_id), key, user)
        API_KEYS.put(grant)
    return grant, user_block_reason(grant.user) or key_dead_reason(grant.key, now)


def address_allowed(ip: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in allowed)


async def principal_from_api_key(secret: str, ip: str) -> Principal:
    """The caller an ``Authorization: ApiKey`` secret names: a live key, of an active user, used from an
    address its allow-list admits."""
    now = utcnow()
    grant, reason = await live_api_key(token_hash(secret), now)
    if grant is None:
        raise AuthenticationFailed("invalid API key")
    if reason is not None:
        raise AuthenticationFailed(reason)
    if not address_allowed(ip, grant.key.allowed_ips):
        raise AuthenticationFailed("this API key may not be used from this address")
    if grant.key.last_used_at is None or now - grant.key.last_used_at > _ACTIVITY_GRANULARITY:
        grant.key.last_used_at = now
        await ApiKey.filter(id=grant.key.id).update(last_used_at=now)
    return Principal(user=grant.user, session=None, token_expires_at=grant.key.expires_at or NEVER, api_key=grant)


async def open_session(
    settings: Settings, user: User, method: AuthMethod, client: ClientInfo, device: str | None, conn: Any
) -> tuple[Session, IssuedTokens]:
    """A new session with its first refresh token, audited as a sign-in, inside the caller's transaction."""
    now = utcnow()
    session = await Session.create(
        user=user,
        method=method,
        device=(device or _device_from_agent(client.user_agent))[:200],
        ip=client.ip,
        user_agent=client.user_agent,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        using_db=conn,
    )
    refresh = secrets.token_urlsafe(32)
    await RefreshToken.create(session=session, token_hash=token_hash(refresh), using_db=conn)
    await User.filter(id=user.id).using_db(conn).update(last_login_at=now)
    await audit.record(
        Action.AUTH_WALLET_LOGIN if method == AuthMethod.WALLET else Action.AUTH_LOGIN,
        Outcome.SUCCESS,
        actor=user,
        target_type="Session",
        target_id=session.id,
        ip=client.ip,
        conn=conn,
    )
    access, access_expires = issue_access_token(settings, str(user.id), str(session.id))
    return session, IssuedTokens(access, access_expires, refresh, session.expires_at)


class RefreshTokenReused(AuthenticationFailed):
    def __init__(self, session_id: str, user_id: str) -> None:
        super().__init__("refresh token already used: the session has been revoked")
        self.session_id = session_id
        self.user_id = user_id


async def end_session(
    conn: Any,
    session_id: object,
    reason: str,
    action: Action,
    actor: User,
    ip: str,
    *,
    outcome: Outcome = Outcome.DENIED,
) -> None:
    """Revoke a live session for ``reason`` and audit it (``action`` by ``actor``), in the caller's transaction.
    Its open sockets close once the caller announces it (``sessions.announce_session_ended``)."""
    await (
        Session.filter(id=session_id, revoked_at=None).using_db(conn).update(revoked_at=utcnow(), revoked_reason=reason)
    )
    await audit.record(action, outcome, actor=actor, target_type="Session", target_id=session_id, ip=ip, conn=conn)


async def rotate_refresh_token(settings: Settings, presented: str, client: ClientInfo) -> tuple[Session, IssuedTokens]:
    """Exchange a refresh token for new tokens. A rotated token presented again revokes its session.

    Two concurrent refreshes with the same token: exactly one wins the conditional update; the other
    is treated as reuse, as an attacker racing the owner would be. The revocation and its audit row
    commit together before the caller is told.
    """
    now = utcnow()
    record = await RefreshToken.get_or_none(token_hash=token_hash(presented)).select_related("session__user")
    if record is None:
        raise AuthenticationFailed("invalid refresh token")
    session = record.session
    reused = False
    async with in_transaction() as conn:
        claimed = await RefreshToken.filter(id=record.id, used_at=None).using_db(conn).update(used_at=now)
        if not claimed:
            reused = True
            await end_session(
                conn, session.id, "refresh token reuse", Action.AUTH_REFRESH_TOKEN_REUSED, session.user, client.ip
            )
        else:
            reason = user_block_reason(session.user) or session_dead_reason(settings, session, now)
            if reason is not None:
                raise AuthenticationFailed(reason)
            refresh = secrets.token_urlsafe(32)
            await RefreshToken.create(session=session, token_hash=token_hash(refresh), using_db=conn)
            await Session.filter(id=session.id).using_db(conn).update(last_seen_at=now)
    if reused:
        raise RefreshTokenReused(str(session.id), str(session.user_id))
    access, access_expires = issue_access_token(settings, str(session.user_id), str(session.id))
    return session, IssuedTokens(access, access_expires, refresh, session.expires_at)


def _device_from_agent(user_agent: str) -> str:
    agent = user_agent.lower()
    for needle, name in (
        ("iphone", "iPhone"),
        ("ipad", "iPad"),
        ("android", "Android"),
        ("macintosh", "Mac"),
        ("windows", "Windows"),
        ("linux", "Linux"),
    ):
        if needle in agent:
            return name
    return "Unknown device" if not agent else user_agent[:60]
