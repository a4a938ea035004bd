"""Authenticating requests and sockets, and ending sockets whose session ends.

HTTP: ``Authorization: Bearer`` wins; otherwise the HttpOnly access cookie, which is honoured for a POST
only when the request could not have been sent by a cross-site form (a JSON content type, which forces
a CORS preflight, or an explicit X-CSRF-Token / Apollo-Require-Preflight header).

API keys: ``Authorization: ApiKey <secret>`` on HTTP, ``{"authorization": "ApiKey <secret>"}`` on a socket;
a key's revocation is announced like an ended session (under the key's hash), so it is refused within a
second everywhere and its sockets close with 4403.

WebSocket: ``connection_init`` payload ``{"authorization": "Bearer …"}`` or the cookie (cross-site
sockets are already refused by the origin check). A bad credential closes the socket with 4403.
An authenticated socket (or HTTP event stream) is watched: it is closed with 4403 as soon as its session is
revoked or its user changed (suspended, role), and when its access token expires. Nothing is polled: the
process's one credentials listener (``forget_changed_credentials``) wakes the watchers of the session or user a
change names, and every watcher after a bus reconnect (changes may have been lost); a woken watcher reads its
session once. An idle socket costs a timer and a registry entry, no statement and no bus subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from .auth import (
    ACCESS_COOKIE,
    API_KEYS,
    SESSIONS,
    AuthenticationFailed,
    Principal,
    live_api_key,
    live_session,
    principal_from_api_key,
    principal_from_token,
    utcnow,
)
from .context import Context
from .events import channel_for, decode, publish
from .events.identity import EVERY_PROCESS, CredentialsChanged, SessionEnded, UserChanged
from .pubsub import Bus
from .settings import Settings

log = logging.getLogger(__name__)


class SessionWatchers:
    """The open sockets and streams of this process waiting for their session to end, by session and by user."""

    def __init__(self) -> None:
        self._by_session: dict[str, set[asyncio.Event]] = {}
        self._by_user: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watching(self, principal: Principal) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        keys = ((self._by_session, principal.session_id), (self._by_user, principal.user_id))
        for index, key in keys:
            index.setdefault(key, set()).add(woken)
        try:
            yield woken
        finally:
            for index, key in keys:
                members = index.get(key)
                if members is not None:
                    members.discard(woken)
                    if not members:
                        del index[key]

    def wake_session(self, session_id: str) -> None:
        for woken in self._by_session.get(session_id, ()):
            woken.set()

    def wake_user(self, user_id: str) -> None:
        for woken in self._by_user.get(user_id, ()):
            woken.set()

    def wake_all(self) -> None:
        for members in self._by_session.values():
            for woken in members:
                woken.set()


# Per process, as the session cache it follows (auth.SESSIONS): fed by the process's credentials listener.
WATCHERS = SessionWatchers()

_WATCHERS = "graphql_api.watchers"
_CSRF_HEADERS = ("x-csrf-token", "apollo-require-preflight")
_PREFLIGHTED_TYPES = ("application/json", "application/graphql-response+json")


def _credential(value: str) -> tuple[str, str]:
    """("bearer" | "apikey", the token) of an Authorization value."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in ("bearer", "apikey") or not token.strip():
        raise AuthenticationFailed("authorization must be 'Bearer <access token>' or 'ApiKey <secret>'")
    return scheme.lower(), token.strip()


async def _principal(context: Context, scheme: str, token: str) -> Principal:
    if scheme == "apikey":
        return await principal_from_api_key(token, context.client.ip)
    return await principal_from_token(context.settings, token)


def csrf_safe(request: Request) -> bool:
    if request.method in ("GET", "HEAD"):
        return True  # GET runs queries only
    if any(request.headers.get(h) for h in _CSRF_HEADERS):
        return True
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _PREFLIGHTED_TYPES


async def authenticate_http(context: Context) -> None:
    request = context.request
    assert isinstance(request, Request)
    try:
        header = request.headers.get("authorization")
        scheme = "bearer"
        if header:
            scheme, token = _credential(header)
        else:
            cookie = request.cookies.get(ACCESS_COOKIE)
            if not cookie:
                return
            if not csrf_safe(request):
                context.auth_error = (
                    "cookie authentication needs Content-Type: application/json or an X-CSRF-Token header"
                )
                return
            token = cookie
        context.principal = await _principal(context, scheme, token)
    except AuthenticationFailed as exc:
        context.auth_error = str(exc)


async def authenticate_websocket(context: Context) -> None:
    params = context.connection_params or {}
    raw = params.get("authorization") or params.get("Authorization")
    scheme = "bearer"
    if raw is not None:
        if not isinstance(raw, str):
            raise AuthenticationFailed("authorization must be 'Bearer <access token>' or 'ApiKey <secret>'")
        scheme, token = _credential(raw)
    else:
        cookie = context.request.cookies.get(ACCESS_COOKIE)
        if not cookie:
            return  # anonymous: public streams only
        token = cookie
    context.principal = await _principal(context, scheme, token)


async def announce_session_ended(bus: Bus, session_id: object, reason: str) -> None:
    """After the commit that ended a session: every process forgets it, and its sockets close."""
    SESSIONS.forget_session(session_id)
    API_KEYS.forget_session(session_id)
    await publish(bus, CredentialsChanged(scope=EVERY_PROCESS, session_id=str(session_id)))
    await publish(bus, SessionEnded(session_id=str(session_id), reason=reason))


async def announce_user_changed(bus: Bus, user_id: object, reason: str) -> None:
    """After the commit that changed a user (status, role, profile, credentials): every process forgets the
    user's cached sessions, and their sockets re-check."""
    SESSIONS.forget_user(user_id)
    API_KEYS.forget_user(user_id)
    await publish(bus, CredentialsChanged(scope=EVERY_PROCESS, user_id=str(user_id)))
    await publish(bus, UserChanged(user_id=str(user_id), reason=reason))


async def forget_changed_credentials(bus: Bus, listening: asyncio.Event | None = None) -> None:
    """Run for the life of the process: apply every process's credential changes to this one's cache. A
    resync (the bus reconnected, and events may have been lost meanwhile) drops the whole cache.

    `listening` is set once the subscription is in place: the process must not serve (and cache) a session
    before it can hear that another process ended it."""
    while True:
        try:
            async with bus.subscribe([channel_for(CredentialsChanged, EVERY_PROCESS)]) as deliveries:
                if listening is not None:
                    listening.set()
                async for delivery in deliveries:
                    change = decode(delivery)
                    if not isinstance(change, CredentialsChanged):
                        SESSIONS.clear()
                        API_KEYS.clear()
                        WATCHERS.wake_all()
                    elif change.session_id is not None:
                        SESSIONS.forget_session(change.session_id)
                        API_KEYS.forget_session(change.session_id)
                        WATCHERS.wake_session(change.session_id)
                    elif change.user_id is not None:
                        SESSIONS.forget_user(change.user_id)
                        API_KEYS.forget_user(change.user_id)
                        WATCHERS.wake_user(change.user_id)
        except Exception:
            # Entries still expire within the cache's ttl; listening again is all that is left to do.
            log.exception("credentials listener failed; listening again")
            SESSIONS.clear()
            API_KEYS.clear()
            WATCHERS.wake_all()
            await asyncio.sleep(1)


async def _end_reason(settings: Settings, principal: Principal) -> str | None:
    if principal.token_expires_at <= utcnow():
        return "access token expired"
    if principal.api_key is not None:
        grant, reason = await live_api_key(principal.api_key.id, utcnow(), fresh=True)
        return "API key removed" if grant is None else reason
    session, reason = await live_session(settings, principal.session_id, utcnow(), fresh=True)
    return "session ended" if session is None else reason


def watch_socket(context: Context) -> None:
    ws = context.request
    assert isinstance(ws, WebSocket) and context.principal is not None
    task = asyncio.create_task(_watch(context.settings, ws, context.principal), name="ws-session-watch")
    ws.scope.setdefault(_WATCHERS, []).append(task)


async def session_end(settings: Settings, principal: Principal) -> str:
    """Wait until the principal's session may no longer be used, and say why: revoked or its user changed (woken
    by the credentials listener, so at once), or its access token expired."""
    with WATCHERS.watching(principal) as woken:
        while True:
            remaining = (principal.token_expires_at - utcnow()).total_seconds()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await woken.wait()
            # Cleared before the read: a change that lands during it wakes the next wait at once.
            woken.clear()
            reason = await _end_reason(settings, principal)
            if reason is not None:
                return reason


async def _watch(settings: Settings, ws: WebSocket, principal: Principal) -> None:
    reason = await session_end(settings, principal)
    log.info("closing socket of session %s: %s", principal.session_id, reason)
    if ws.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError):
            await ws.close(code=4403, reason=reason[:120])


class closing_watchers:
    """Wraps the GraphQL ASGI app so a socket's watchers stop when the socket does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            tasks: list[asyncio.Task[Any]] = scope.get(_WATCHERS, [])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
